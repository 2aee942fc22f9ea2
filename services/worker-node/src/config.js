'use strict';
// Every setting of the worker, read once from the environment: the same variables, defaults
// and checks as the Python worker's (services/ai_system/config.py, services/README.md).
// Secrets (MQTT password, API keys) may come from a file named by <NAME>_FILE.

const fs = require('node:fs');
const os = require('node:os');

class ConfigError extends Error {}

const PROVIDERS = ['offline', 'gemini', 'deepseek', 'openai'];
const PROVIDER_KEY_VARS = {
  gemini: 'GEMINI_API_KEYS',
  deepseek: 'DEEPSEEK_API_KEYS',
  openai: 'OPENAI_API_KEYS',
};
const DEFAULT_MODELS = {
  offline: 'offline-echo',
  gemini: 'gemini-2.5-flash',
  deepseek: 'deepseek-chat',
  openai: 'gpt-4o-mini',
};
const DEFAULT_BASE_URLS = {
  gemini: 'https://generativelanguage.googleapis.com',
  deepseek: 'https://api.deepseek.com',
  openai: 'https://api.openai.com/v1',
};
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'];
// The result sender's pauses between SendResult calls: this, doubled each time, up to the max.
const RESULT_FIRST_BACKOFF_SECONDS = 0.5;
const RESULT_MAX_BACKOFF_SECONDS = 5.0;

function get(env, name, fallback) {
  const value = (env[name] || '').trim();
  return value || fallback;
}

function number(env, name, fallback, minimum, integer) {
  const raw = get(env, name, String(fallback));
  // Python's int()/float() accept surrounding spaces only; reject "1e" or "12abc".
  const pattern = integer ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  if (!pattern.test(raw)) {
    throw new ConfigError(`${name} must be ${integer ? 'a whole number' : 'a number'}, got '${raw}'`);
  }
  const value = Number(raw);
  if (value < minimum) {
    throw new ConfigError(`${name} must be at least ${minimum}, got ${value}`);
  }
  return value;
}

const int = (env, name, fallback, minimum = 0) => number(env, name, fallback, minimum, true);
const float = (env, name, fallback, minimum = 0) => number(env, name, fallback, minimum, false);

function bool(env, name, fallback) {
  const raw = get(env, name, fallback ? 'true' : 'false').toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(`${name} must be true or false, got '${raw}'`);
}

function level(env, name) {
  const value = get(env, name, 'INFO').toUpperCase();
  if (!LOG_LEVELS.includes(value)) {
    throw new ConfigError(`${name} must be one of ${LOG_LEVELS.join(', ')}, got '${value}'`);
  }
  return value;
}

/** The value of `name`, or the contents of the file named by `name_FILE`. */
function readSecret(env, name) {
  const path = (env[`${name}_FILE`] || '').trim();
  if (path) {
    try {
      return fs.readFileSync(path, 'utf8').trim();
    } catch (error) {
      throw new ConfigError(`${name}_FILE points to '${path}', which cannot be read: ${error.code}`);
    }
  }
  return (env[name] || '').trim();
}

function split(raw) {
  return raw.replace(/\n/g, ',').split(',').map((item) => item.trim()).filter(Boolean);
}

/** A pool of secrets: comma- or newline-separated, from `name` or `name_FILE`. */
const readSecretList = (env, name) => split(readSecret(env, name));

function isEndpoint(endpoint) {
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon);
  const port = endpoint.slice(colon + 1);
  return colon > 0 && Boolean(host) && /^\d+$/.test(port) && Number(port) > 0 && Number(port) < 65536;
}

function endpoints(env, name, fallback) {
  const found = split(get(env, name, fallback));
  if (found.length === 0) throw new ConfigError(`${name} must name at least one host:port`);
  for (const endpoint of found) {
    if (!isEndpoint(endpoint)) {
      throw new ConfigError(`${name} must be host:port items separated by commas, got '${endpoint}'`);
    }
  }
  return found;
}

function optionalEndpoint(env, name) {
  const endpoint = get(env, name, '');
  if (endpoint && !isEndpoint(endpoint)) throw new ConfigError(`${name} must be host:port, got '${endpoint}'`);
  return endpoint;
}

/** A file of PEM CA certificates (empty: none), checked at start as the Python worker does. */
function caFile(env, name) {
  const path = get(env, name, '');
  if (!path) return '';
  let text;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${name} points to '${path}', which is not a readable file of PEM CA certificates: ${error.code}`);
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`${name} points to '${path}', which is not a readable file of PEM CA certificates: no certificate in it`);
  }
  return path;
}

/** `auto` picks the first provider with configured keys, else `offline`. */
function chooseProvider(env, requested) {
  if (requested === 'offline') return ['offline', []];
  if (requested !== 'auto') return [requested, readSecretList(env, PROVIDER_KEY_VARS[requested])];
  for (const [provider, variable] of Object.entries(PROVIDER_KEY_VARS)) {
    const keys = readSecretList(env, variable);
    if (keys.length) return [provider, keys];
  }
  return ['offline', []];
}

/** The pauses between the GRPC_MAX_ATTEMPTS calls of one result (one fewer), in seconds. */
function resultBackoffs(maxAttempts) {
  const pauses = [];
  let pause = RESULT_FIRST_BACKOFF_SECONDS;
  for (let i = 0; i < maxAttempts - 1; i += 1) {
    pauses.push(pause);
    pause = Math.min(pause * 2, RESULT_MAX_BACKOFF_SECONDS);
  }
  return pauses;
}

function mqttSettings(env) {
  const tlsCaFile = caFile(env, 'MQTT_TLS_CA_FILE');
  return {
    host: get(env, 'MQTT_HOST', 'localhost'),
    port: int(env, 'MQTT_PORT', tlsCaFile ? 8883 : 1883, 1),
    username: get(env, 'MQTT_USERNAME', ''),
    password: readSecret(env, 'MQTT_PASSWORD'),
    topicPrefix: get(env, 'MQTT_TOPIC_PREFIX', 'upb').replace(/^\/+|\/+$/g, ''),
    keepalive: int(env, 'MQTT_KEEPALIVE_SECONDS', 30, 5),
    tlsCaFile,
  };
}

/**
 * The worker's settings. Secrets (the MQTT password, `apiKeys`) are non-enumerable, so
 * that printing or serialising the settings never shows them.
 */
function load(env = process.env) {
  const hostname = os.hostname();
  const requested = get(env, 'LLM_PROVIDER', 'auto').toLowerCase();
  if (![...PROVIDERS, 'auto'].includes(requested)) {
    throw new ConfigError(`LLM_PROVIDER must be one of auto, ${PROVIDERS.join(', ')}; got '${requested}'`);
  }
  const [provider, keys] = chooseProvider(env, requested);
  const userKeyProvider = get(env, 'USER_KEY_PROVIDER', 'gemini').toLowerCase();
  if (!(userKeyProvider in PROVIDER_KEY_VARS)) {
    throw new ConfigError(`USER_KEY_PROVIDER must be one of ${Object.keys(PROVIDER_KEY_VARS).join(', ')}; got '${userKeyProvider}'`);
  }
  const mqtt = mqttSettings(env);
  const settings = {
    mqtt,
    workerId: get(env, 'WORKER_ID', `node-worker-${hostname}`),
    node: get(env, 'NODE_NAME', hostname),
    hostname,
    provider,
    model: get(env, 'LLM_MODEL', DEFAULT_MODELS[provider]),
    baseUrl: get(env, 'LLM_BASE_URL', DEFAULT_BASE_URLS[provider] || ''),
    userKeyProvider,
    llmTimeoutSeconds: float(env, 'LLM_TIMEOUT_SECONDS', 30, 0.1),
    keyCooldownSeconds: float(env, 'KEY_COOLDOWN_SECONDS', 60),
    simulatedWorkSeconds: float(env, 'SIMULATED_WORK_SECONDS', 10),
    grpcEndpoints: endpoints(env, 'GRPC_ENDPOINTS', 'master:50051'),
    grpcConnectTo: optionalEndpoint(env, 'GRPC_CONNECT_TO'),
    grpcTlsCaFile: caFile(env, 'GRPC_TLS_CA_FILE'),
    grpcTimeoutSeconds: float(env, 'GRPC_TIMEOUT_SECONDS', 10, 0.1),
    grpcMaxAttempts: int(env, 'GRPC_MAX_ATTEMPTS', 5, 1),
    taskTimeoutSeconds: float(env, 'TASK_TIMEOUT_SECONDS', 120, 1),
    heartbeatSeconds: float(env, 'HEARTBEAT_SECONDS', 30, 1),
    publishTaskStatus: bool(env, 'PUBLISH_TASK_STATUS', true),
    healthFile: get(env, 'HEALTH_FILE', '/tmp/ai-worker.healthy'),
    metricsHost: get(env, 'METRICS_HOST', '0.0.0.0'),
    metricsPort: int(env, 'METRICS_PORT', 9464),
    streamAnswers: bool(env, 'STREAM_ANSWERS', true),
    offlineWordSeconds: float(env, 'OFFLINE_WORD_SECONDS', 0.01),
    logLevel: level(env, 'LOG_LEVEL'),
    mqttLogLevel: level(env, 'MQTT_LOG_LEVEL'),
  };
  if (settings.metricsPort > 65535) throw new ConfigError(`METRICS_PORT must be at most 65535, got ${settings.metricsPort}`);
  Object.defineProperty(settings, 'apiKeys', { value: Object.freeze([...keys]), enumerable: false });
  settings.resultBackoffs = resultBackoffs(settings.grpcMaxAttempts);
  checkWorstCase(settings);
  return settings;
}

/**
 * The provider a key typed in the chat is used with on this worker: its own, or
 * USER_KEY_PROVIDER when it runs offline (it has no LLM of its own to send the key to).
 */
function keyProvider(s) {
  return s.provider === 'offline' ? s.userKeyProvider : s.provider;
}

/** The longest one task can keep this worker busy, by its settings, in seconds. */
function worstCaseSeconds(s) {
  return s.llmTimeoutSeconds + s.simulatedWorkSeconds
    + s.grpcMaxAttempts * s.grpcTimeoutSeconds + s.resultBackoffs.reduce((a, b) => a + b, 0);
}

function checkWorstCase(s) {
  // Past TASK_TIMEOUT_SECONDS the master gives the task to another worker: a worker whose
  // own limits allow more would do work nobody waits for.
  const worst = worstCaseSeconds(s);
  if (worst > s.taskTimeoutSeconds) {
    const backoff = s.resultBackoffs.reduce((a, b) => a + b, 0);
    throw new ConfigError(
      `the worst case of one task, LLM_TIMEOUT_SECONDS (${s.llmTimeoutSeconds}) + SIMULATED_WORK_SECONDS `
      + `(${s.simulatedWorkSeconds}) + GRPC_MAX_ATTEMPTS (${s.grpcMaxAttempts}) x GRPC_TIMEOUT_SECONDS `
      + `(${s.grpcTimeoutSeconds}) + ${backoff} s of backoff between those calls = ${worst} s, exceeds `
      + `TASK_TIMEOUT_SECONDS (${s.taskTimeoutSeconds}, the master's deadline); lower those or raise `
      + 'TASK_TIMEOUT_SECONDS on the master and the workers');
  }
}

// The password is a secret too: keep it out of any printout of the MQTT settings.
function hidePassword(mqtt) {
  const { password } = mqtt;
  delete mqtt.password;
  Object.defineProperty(mqtt, 'password', { value: password, enumerable: false });
  return mqtt;
}

module.exports = {
  ConfigError,
  DEFAULT_BASE_URLS,
  DEFAULT_MODELS,
  LOG_LEVELS,
  PROVIDERS,
  keyProvider,
  load: (env) => {
    const settings = load(env);
    hidePassword(settings.mqtt);
    return settings;
  },
  readSecret,
  readSecretList,
  resultBackoffs,
  worstCaseSeconds,
};
