from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class TaskResult(_message.Message):
    __slots__ = ("worker_id", "session_id", "original_query", "ai_response", "processing_time_ms", "query_timestamp", "completion_timestamp", "task_id", "provider", "model", "error", "attempt", "provider_time_ms", "result_token", "error_kind")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_QUERY_FIELD_NUMBER: _ClassVar[int]
    AI_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    QUERY_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    RESULT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ERROR_KIND_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    session_id: str
    original_query: str
    ai_response: str
    processing_time_ms: int
    query_timestamp: int
    completion_timestamp: int
    task_id: str
    provider: str
    model: str
    error: str
    attempt: int
    provider_time_ms: int
    result_token: str
    error_kind: str
    def __init__(self, worker_id: _Optional[str] = ..., session_id: _Optional[str] = ..., original_query: _Optional[str] = ..., ai_response: _Optional[str] = ..., processing_time_ms: _Optional[int] = ..., query_timestamp: _Optional[int] = ..., completion_timestamp: _Optional[int] = ..., task_id: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., error: _Optional[str] = ..., attempt: _Optional[int] = ..., provider_time_ms: _Optional[int] = ..., result_token: _Optional[str] = ..., error_kind: _Optional[str] = ...) -> None: ...

class TaskChunk(_message.Message):
    __slots__ = ("task_id", "worker_id", "result_token", "attempt", "seq", "text")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    worker_id: str
    result_token: str
    attempt: int
    seq: int
    text: str
    def __init__(self, task_id: _Optional[str] = ..., worker_id: _Optional[str] = ..., result_token: _Optional[str] = ..., attempt: _Optional[int] = ..., seq: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...

class ResultAck(_message.Message):
    __slots__ = ("success", "message")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ...) -> None: ...
