"""Every setting of the master and the workers, read once from environment variables.

README.md (services/) has the table. Secrets (MQTT password, API keys) may also come from
a file named by the same variable with a ``_FILE`` suffix, which is how Docker secrets
reach a container.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

Env = Mapping[str, str]
N = TypeVar("N", int, float)


class ConfigError(ValueError):
    """A setting is present but unusable; the message names the variable."""


S = TypeVar("S")


def load_or_report(load: Callable[[], S], program: str) -> S | None:
    """``load()``, or None after telling the user on stderr which setting is wrong."""
    try:
        return load()
    except ConfigError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return None


def _get(env: Env, name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _number(env: Env, name: str, default: N, minimum: N, parse: Callable[[str], N],
            kind: str) -> N:
    raw = _get(env, name, str(default))
    try:
        value = parse(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {kind}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _int(env: Env, name: str, default: int, minimum: int = 0) -> int:
    return _number(env, name, default, minimum, int, "a whole number")


def _float(env: Env, name: str, default: float, minimum: float = 0.0) -> float:
    return _number(env, name, default, minimum, float, "a number")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _bool(env: Env, name: str, default: bool) -> bool:
    raw = _get(env, name, "true" if default else "false").lower()
    if raw not in _TRUE + _FALSE:
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw in _TRUE


def read_secret(env: Env, name: str) -> str:
    """The value of ``name``, or the contents of the file named by ``name_FILE``."""
    path = env.get(f"{name}_FILE", "").strip()
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE points to {path!r}, which cannot be read: "
                              f"{exc.strerror}") from None
    return env.get(name, "").strip()


def read_secret_list(env: Env, name: str) -> tuple[str, ...]:
    """A pool of secrets: comma- or newline-separated, from ``name`` or ``name_FILE``."""
    return _split(read_secret(env, name))


def _split(raw: str) -> tuple[str, ...]:
    raw = raw.replace("\n", ",")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _ca_file(env: Env, name: str) -> str:
    """A file of PEM CA certificates named by ``name`` (empty: none), checked at start."""
    path = _get(env, name, "")
    if path:
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
        except OSError as exc:  # ssl.SSLError is one too: a file without a certificate
            raise ConfigError(f"{name} points to {path!r}, which is not a readable file of "
                              f"PEM CA certificates: {exc.strerror or exc}") from None
    return path


def _endpoints(env: Env, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """``host:port`` items, comma-separated; at least one."""
    endpoints = _split(_get(env, name, ",".join(default)))
    if not endpoints:
        raise ConfigError(f"{name} must name at least one host:port")
    for endpoint in endpoints:
        if not _is_endpoint(endpoint):
            raise ConfigError(f"{name} must be host:port items separated by commas, "
                              f"got {endpoint!r}")
    return endpoints


def _optional_endpoint(env: Env, name: str) -> str:
    """One ``host:port``, or empty."""
    endpoint = _get(env, name, "")
    if endpoint and not _is_endpoint(endpoint):
        raise ConfigError(f"{name} must be host:port, got {endpoint!r}")
    return endpoint


def _is_endpoint(endpoint: str) -> bool:
    host, _, port = endpoint.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


@dataclass(frozen=True)
class MqttSettings:
    host: str = "localhost"
    port: int = 1883
    username: str = ""
    password: str = field(default="", repr=False)
    topic_prefix: str = "upb"
    keepalive: int = 30
    # A CA certificate file: connect over TLS and check the broker's certificate against it.
    tls_ca_file: str = ""

    TLS_PORT: ClassVar[int] = 8883  # MQTT_PORT's default with MQTT_TLS_CA_FILE

    @classmethod
    def from_env(cls, env: Env) -> MqttSettings:
        tls_ca_file = _ca_file(env, "MQTT_TLS_CA_FILE")
        return cls(
            host=_get(env, "MQTT_HOST", cls.host),
            port=_int(env, "MQTT_PORT", cls.TLS_PORT if tls_ca_file else cls.port, minimum=1),
            username=_get(env, "MQTT_USERNAME", ""),
            password=read_secret(env, "MQTT_PASSWORD"),
            topic_prefix=_get(env, "MQTT_TOPIC_PREFIX", cls.topic_prefix).strip("/"),
            keepalive=_int(env, "MQTT_KEEPALIVE_SECONDS", cls.keepalive, minimum=5),
            tls_ca_file=tls_ca_file,
        )


@dataclass(frozen=True)
class MasterSettings:
    mqtt: MqttSettings
    web_host: str = "0.0.0.0"
    web_port: int = 8888
    grpc_port: int = 50051
    grpc_advertised_endpoint: str = ""
    max_query_chars: int = 4000
    task_timeout_seconds: float = 120.0
    max_attempts: int = 3
    pending_results_ttl_seconds: float = 3600.0
    # Where the journal lives (queue, hand-overs, kept answers); empty keeps them in memory.
    state_dir: str = ""
    # Signs session tokens; empty: generated, and kept in STATE_DIR when there is one.
    session_secret: str = field(default="", repr=False)
    # The operator's credential for /dashboard; empty: generated, kept in STATE_DIR.
    operator_token: str = field(default="", repr=False)
    # An extra gRPC listener with TLS, for workers outside the overlay network (0: none).
    grpc_tls_port: int = 0
    grpc_tls_cert_file: str = ""
    grpc_tls_key_file: str = ""
    # Abuse limits: token buckets per session and per client address (0 turns a rate off),
    # questions waiting per session, and questions waiting in all (0: no cap).
    session_rate_per_minute: float = 20.0
    session_burst: int = 5
    address_rate_per_minute: float = 120.0
    address_burst: int = 30
    max_pending_per_session: int = 5
    max_queued: int = 1000
    # A retryable provider error sends the task back after this, doubled per attempt.
    retry_backoff_seconds: float = 2.0
    # Each session's conversation as the model is given it again: at most this many earlier
    # questions with their answers and characters (the oldest go first; 0 turns: every
    # question alone), forgotten this long after its last answer.
    conversation_turns: int = 10
    conversation_chars: int = 20000
    conversation_ttl_seconds: float = 86400.0
    # /healthz fails once the broker has been unreachable this long.
    broker_grace_seconds: float = 30.0
    # A worker that reports busy on its tasks must do so this soon after a hand-over, or
    # it is taken to be gone and the task goes to another (0: wait for the deadline).
    assign_ack_seconds: float = 10.0
    # Accept a result without task id and token (the original assignment's workers) for the
    # task its worker holds: anyone who knows a worker id and a session id could then forge.
    accept_untokened_results: bool = False
    # Prometheus metrics (/metrics) on this address and port (0: none); not the web port,
    # so that the published chat does not show them.
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9464
    log_level: str = "INFO"
    mqtt_log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Env | None = None) -> MasterSettings:
        env = os.environ if env is None else env
        grpc_port = _int(env, "GRPC_PORT", cls.grpc_port, minimum=1)
        grpc_tls_port = _int(env, "GRPC_TLS_PORT", cls.grpc_tls_port)
        cert = _get(env, "GRPC_TLS_CERT_FILE", "")
        key = _get(env, "GRPC_TLS_KEY_FILE", "")
        if grpc_tls_port and not (cert and key):
            raise ConfigError("GRPC_TLS_PORT needs GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE")
        if grpc_tls_port == grpc_port:
            raise ConfigError(f"GRPC_TLS_PORT must differ from GRPC_PORT ({grpc_port})")
        return cls(
            mqtt=MqttSettings.from_env(env),
            web_host=_get(env, "WEB_HOST", cls.web_host),
            web_port=_int(env, "WEB_PORT", cls.web_port, minimum=1),
            grpc_port=grpc_port,
            grpc_advertised_endpoint=_get(
                env, "GRPC_ADVERTISED_ENDPOINT", f"{socket.gethostname()}:{grpc_port}"),
            max_query_chars=_int(env, "MAX_QUERY_CHARS", cls.max_query_chars, minimum=1),
            task_timeout_seconds=_float(
                env, "TASK_TIMEOUT_SECONDS", cls.task_timeout_seconds, minimum=1.0),
            max_attempts=_int(env, "MAX_ATTEMPTS", cls.max_attempts, minimum=1),
            pending_results_ttl_seconds=_float(
                env, "PENDING_RESULTS_TTL_SECONDS", cls.pending_results_ttl_seconds),
            state_dir=_get(env, "STATE_DIR", ""),
            session_secret=read_secret(env, "SESSION_SECRET"),
            operator_token=read_secret(env, "OPERATOR_TOKEN"),
            grpc_tls_port=grpc_tls_port,
            grpc_tls_cert_file=cert,
            grpc_tls_key_file=key,
            session_rate_per_minute=_float(
                env, "SESSION_RATE_PER_MINUTE", cls.session_rate_per_minute),
            session_burst=_int(env, "SESSION_BURST", cls.session_burst, minimum=1),
            address_rate_per_minute=_float(
                env, "ADDRESS_RATE_PER_MINUTE", cls.address_rate_per_minute),
            address_burst=_int(env, "ADDRESS_BURST", cls.address_burst, minimum=1),
            max_pending_per_session=_int(
                env, "MAX_PENDING_PER_SESSION", cls.max_pending_per_session),
            max_queued=_int(env, "MAX_QUEUED", cls.max_queued),
            retry_backoff_seconds=_float(
                env, "RETRY_BACKOFF_SECONDS", cls.retry_backoff_seconds),
            conversation_turns=_int(env, "CONVERSATION_TURNS", cls.conversation_turns),
            conversation_chars=_int(env, "CONVERSATION_CHARS", cls.conversation_chars),
            conversation_ttl_seconds=_float(
                env, "CONVERSATION_TTL_SECONDS", cls.conversation_ttl_seconds, minimum=60.0),
            broker_grace_seconds=_float(
                env, "BROKER_GRACE_SECONDS", cls.broker_grace_seconds),
            assign_ack_seconds=_float(env, "ASSIGN_ACK_SECONDS", cls.assign_ack_seconds),
            accept_untokened_results=_bool(env, "ACCEPT_UNTOKENED_RESULTS",
                                           cls.accept_untokened_results),
            metrics_host=_get(env, "METRICS_HOST", cls.metrics_host),
            metrics_port=_int(env, "METRICS_PORT", cls.metrics_port),
            log_level=_get(env, "LOG_LEVEL", cls.log_level).upper(),
            mqtt_log_level=_get(env, "MQTT_LOG_LEVEL", cls.mqtt_log_level).upper(),
        )


PROVIDERS = ("offline", "gemini", "deepseek", "openai")

# Per provider: the variable holding its key pool and its default model and base URL.
PROVIDER_KEY_VARS = {
    "gemini": "GEMINI_API_KEYS",
    "deepseek": "DEEPSEEK_API_KEYS",
    "openai": "OPENAI_API_KEYS",
}
DEFAULT_MODELS = {
    "offline": "offline-echo",
    "gemini": "gemini-2.5-flash",
    "deepseek": "deepseek-chat",
    "openai": "gpt-4o-mini",
}
DEFAULT_BASE_URLS = {
    "gemini": "",  # the google-genai SDK's own default
    "deepseek": "https://api.deepseek.com",
    "openai": "https://api.openai.com/v1",
}


@dataclass(frozen=True)
class WorkerSettings:
    mqtt: MqttSettings
    worker_id: str
    node: str
    hostname: str
    provider: str
    model: str
    base_url: str
    # A key typed by the user in the chat is used with this worker's provider, or with
    # this one when the worker itself runs offline (the original UI asked for Gemini keys).
    user_key_provider: str = "gemini"
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    llm_timeout_seconds: float = 30.0
    key_cooldown_seconds: float = 60.0
    simulated_work_seconds: float = 10.0
    # The master endpoints results may go to; a task naming another is refused.
    grpc_endpoints: tuple[str, ...] = ("master:50051",)
    # host:port dialled for those endpoints instead, when their names do not resolve here
    # (a worker outside the swarm: the master's published TLS port).
    grpc_connect_to: str = ""
    # A CA certificate file: call the master over TLS, checking its certificate against it.
    grpc_tls_ca_file: str = ""
    grpc_timeout_seconds: float = 10.0
    grpc_max_attempts: int = 5
    # The master's TASK_TIMEOUT_SECONDS: this worker's worst case must fit in it.
    task_timeout_seconds: float = 120.0
    heartbeat_seconds: float = 30.0
    # busy/idle on every task (the original protocol); off, only heartbeats and the idle
    # after an undelivered result, which the master needs to requeue at once.
    publish_task_status: bool = True
    health_file: str = "/tmp/ai-worker.healthy"
    # Prometheus metrics (/metrics) on this address and port (0: none).
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 9464
    # Send the answer in parts as the LLM writes it (SendChunk), before the final result.
    stream_answers: bool = True
    # The offline provider's pace when it streams its answer, seconds per word.
    offline_word_seconds: float = 0.01
    log_level: str = "INFO"
    mqtt_log_level: str = "INFO"

    # The result sender's pause after a failed SendResult call: this, doubled each time...
    RESULT_FIRST_BACKOFF_SECONDS: ClassVar[float] = 0.5
    # ...up to this.
    RESULT_MAX_BACKOFF_SECONDS: ClassVar[float] = 5.0

    def result_backoffs(self) -> tuple[float, ...]:
        """The pauses between the GRPC_MAX_ATTEMPTS calls of one result (one fewer)."""
        pauses, pause = [], self.RESULT_FIRST_BACKOFF_SECONDS
        for _ in range(self.grpc_max_attempts - 1):
            pauses.append(pause)
            pause = min(pause * 2, self.RESULT_MAX_BACKOFF_SECONDS)
        return tuple(pauses)

    def worst_case_seconds(self) -> float:
        """The longest one task can keep this worker busy, by its settings.

        One LLM call (a 429 moves to the next key at once, a timeout is not retried), the
        simulated work, then every SendResult call at its deadline with the pauses between.
        """
        return (self.llm_timeout_seconds + self.simulated_work_seconds
                + self.grpc_max_attempts * self.grpc_timeout_seconds
                + sum(self.result_backoffs()))

    def _check_worst_case(self) -> None:
        # Past TASK_TIMEOUT_SECONDS the master gives the task to another worker: a worker
        # whose own limits allow more would do work nobody waits for.
        worst = self.worst_case_seconds()
        if worst > self.task_timeout_seconds:
            raise ConfigError(
                f"the worst case of one task, LLM_TIMEOUT_SECONDS ({self.llm_timeout_seconds:g})"
                f" + SIMULATED_WORK_SECONDS ({self.simulated_work_seconds:g}) + "
                f"GRPC_MAX_ATTEMPTS ({self.grpc_max_attempts}) x GRPC_TIMEOUT_SECONDS "
                f"({self.grpc_timeout_seconds:g}) + {sum(self.result_backoffs()):g} s of "
                f"backoff between those calls = {worst:g} s, exceeds TASK_TIMEOUT_SECONDS "
                f"({self.task_timeout_seconds:g}, the master's deadline); lower those or raise "
                "TASK_TIMEOUT_SECONDS on the master and the workers")

    @property
    def key_provider(self) -> str:
        """The provider a key typed in the chat is used with on this worker."""
        return self.user_key_provider if self.provider == "offline" else self.provider

    @classmethod
    def from_env(cls, env: Env | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        hostname = socket.gethostname()
        requested = _get(env, "LLM_PROVIDER", "auto").lower()
        if requested not in (*PROVIDERS, "auto"):
            raise ConfigError(
                f"LLM_PROVIDER must be one of auto, {', '.join(PROVIDERS)}; got {requested!r}")
        provider, keys = _choose_provider(env, requested)
        settings = cls(
            mqtt=MqttSettings.from_env(env),
            worker_id=_get(env, "WORKER_ID", f"python-worker-{hostname}"),
            node=_get(env, "NODE_NAME", hostname),
            hostname=hostname,
            provider=provider,
            model=_get(env, "LLM_MODEL", DEFAULT_MODELS[provider]),
            base_url=_get(env, "LLM_BASE_URL", DEFAULT_BASE_URLS.get(provider, "")),
            user_key_provider=_user_key_provider(env),
            api_keys=keys,
            llm_timeout_seconds=_float(
                env, "LLM_TIMEOUT_SECONDS", cls.llm_timeout_seconds, minimum=0.1),
            key_cooldown_seconds=_float(env, "KEY_COOLDOWN_SECONDS", cls.key_cooldown_seconds),
            simulated_work_seconds=_float(
                env, "SIMULATED_WORK_SECONDS", cls.simulated_work_seconds),
            grpc_endpoints=_endpoints(env, "GRPC_ENDPOINTS", cls.grpc_endpoints),
            grpc_connect_to=_optional_endpoint(env, "GRPC_CONNECT_TO"),
            grpc_tls_ca_file=_ca_file(env, "GRPC_TLS_CA_FILE"),
            grpc_timeout_seconds=_float(
                env, "GRPC_TIMEOUT_SECONDS", cls.grpc_timeout_seconds, minimum=0.1),
            grpc_max_attempts=_int(env, "GRPC_MAX_ATTEMPTS", cls.grpc_max_attempts, minimum=1),
            task_timeout_seconds=_float(
                env, "TASK_TIMEOUT_SECONDS", cls.task_timeout_seconds, minimum=1.0),
            heartbeat_seconds=_float(env, "HEARTBEAT_SECONDS", cls.heartbeat_seconds, minimum=1),
            publish_task_status=_bool(env, "PUBLISH_TASK_STATUS", cls.publish_task_status),
            health_file=_get(env, "HEALTH_FILE", cls.health_file),
            metrics_host=_get(env, "METRICS_HOST", cls.metrics_host),
            metrics_port=_int(env, "METRICS_PORT", cls.metrics_port),
            stream_answers=_bool(env, "STREAM_ANSWERS", cls.stream_answers),
            offline_word_seconds=_float(env, "OFFLINE_WORD_SECONDS", cls.offline_word_seconds),
            log_level=_get(env, "LOG_LEVEL", cls.log_level).upper(),
            mqtt_log_level=_get(env, "MQTT_LOG_LEVEL", cls.mqtt_log_level).upper(),
        )
        settings._check_worst_case()
        return settings


def _user_key_provider(env: Env) -> str:
    value = _get(env, "USER_KEY_PROVIDER", "gemini").lower()
    if value not in PROVIDER_KEY_VARS:
        raise ConfigError(
            f"USER_KEY_PROVIDER must be one of {', '.join(PROVIDER_KEY_VARS)}; got {value!r}")
    return value


def _choose_provider(env: Env, requested: str) -> tuple[str, tuple[str, ...]]:
    """``auto`` picks the first provider with configured keys, else ``offline``."""
    if requested == "offline":
        return "offline", ()
    if requested != "auto":
        return requested, read_secret_list(env, PROVIDER_KEY_VARS[requested])
    for provider, var in PROVIDER_KEY_VARS.items():
        keys = read_secret_list(env, var)
        if keys:
            return provider, keys
    return "offline", ()
