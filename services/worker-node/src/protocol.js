'use strict';
// The MQTT side of protos/README.md: topics, and the payloads a worker sends and receives,
// parsed and validated as the Python implementation (services/ai_system/protocol.py) does,
// so that both workers drop the same malformed messages with the same reasons.

class ProtocolError extends Error {}

const WORKER_STATES = ['idle', 'busy', 'offline'];
// The roles of the messages of a conversation (a task's `history`).
const ROLES = ['user', 'assistant'];

const nowMs = () => Date.now();

function topics(prefix = 'upb') {
  return {
    register: `${prefix}/workers/register`,
    status: `${prefix}/workers/status`,
    logs: `${prefix}/logs`,
    masterStatus: `${prefix}/master/status`,
    tasks: (workerId) => `${prefix}/workers/${workerId}/tasks`,
  };
}

function loadObject(payload) {
  let data;
  try {
    // fatal: bytes that are not UTF-8 are as malformed as text that is not JSON.
    const text = typeof payload === 'string' ? payload : new TextDecoder('utf-8', { fatal: true }).decode(payload);
    data = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(`payload is not JSON: ${error.message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    const kind = Array.isArray(data) ? 'list' : data === null ? 'NoneType' : typeof data;
    throw new ProtocolError(`payload must be a JSON object, got ${kind}`);
  }
  return data;
}

function str(data, name, { required = true, fallback = '' } = {}) {
  const value = data[name];
  if (value === undefined || value === null) {
    if (required) throw new ProtocolError(`missing field '${name}'`);
    return fallback;
  }
  if (typeof value !== 'string') throw new ProtocolError(`field '${name}' must be a string`);
  if (required && !value) throw new ProtocolError(`field '${name}' must not be empty`);
  return value;
}

function int(data, name, fallback) {
  const value = data[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ProtocolError(`field '${name}' must be a number`);
  }
  return Math.trunc(value);
}

/**
 * @typedef {{role: 'user' | 'assistant', content: string}} ChatMessage
 * One message of a conversation: an earlier question (user) or its answer (assistant).
 */

/** The conversation before the query, oldest first: `[]` when absent. */
function history(data) {
  const value = data.history;
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ProtocolError("field 'history' must be a list");
  return value.map((message) => {
    if (message === null || typeof message !== 'object' || Array.isArray(message)
        || !ROLES.includes(message.role) || typeof message.content !== 'string') {
      // The reason never quotes the message: it is logged, and the history is users' words.
      throw new ProtocolError("each message of 'history' must be {role: user|assistant, content: text}");
    }
    return { role: message.role, content: message.content }; // what the providers pass on
  });
}

/**
 * A task from `<prefix>/workers/<id>/tasks`. `api_key` and `result_token` are secrets, and
 * `history` (ChatMessage[], the conversation before `query`) is users' words: never log the
 * object as a whole.
 */
function parseTask(payload) {
  const data = loadObject(payload);
  const sessionId = str(data, 'session_id');
  const timestamp = int(data, 'timestamp', nowMs());
  return {
    worker_id: str(data, 'worker_id'),
    session_id: sessionId,
    query: str(data, 'query'),
    api_key: str(data, 'api_key', { required: false }),
    grpc_endpoint: str(data, 'grpc_endpoint'),
    timestamp,
    // A master of the original protocol sends no task ids: a session's questions stay
    // apart by their time, and a redelivery of one keeps its id.
    task_id: str(data, 'task_id', { required: false, fallback: `${sessionId}@${timestamp}` }),
    attempt: Math.max(1, int(data, 'attempt', 1)),
    result_token: str(data, 'result_token', { required: false }),
    history: history(data),
  };
}

/** `<prefix>/master/status`: {status: online|offline}. */
function parseMasterStatus(payload) {
  const data = loadObject(payload);
  const status = str(data, 'status');
  if (status !== 'online' && status !== 'offline') {
    throw new ProtocolError("field 'status' must be 'online' or 'offline'");
  }
  return { status, timestamp: int(data, 'timestamp', nowMs()) };
}

function workerStatus(workerId, status, taskId = null) {
  if (!WORKER_STATES.includes(status)) throw new Error(`unknown worker state ${status}`);
  return { worker_id: workerId, status, task_id: taskId, timestamp: nowMs() };
}

function registration({ workerId, hostname, node, provider, status, instanceId, userKeyProvider }) {
  return {
    worker_id: workerId,
    language: 'node',
    hostname,
    node,
    provider,
    status,
    timestamp: nowMs(),
    instance_id: instanceId,
    user_key_provider: userKeyProvider, // the chat page names it beside its key field
  };
}

function logRecord(source, message, level) {
  return { timestamp: nowMs(), source, message, level };
}

const toJson = (message) => Buffer.from(JSON.stringify(message));

module.exports = {
  ProtocolError,
  logRecord,
  nowMs,
  parseMasterStatus,
  parseTask,
  registration,
  toJson,
  topics,
  workerStatus,
};
