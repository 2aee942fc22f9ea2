'use strict';
// The errors a user may see when a provider fails. Each message is written for the person
// in the chat and never contains an API key (upstream text passes through `redact`). Its
// `kind` goes to the master as TaskResult.error_kind: the master tries a task again after
// rate_limited, timeout or upstream.

const MAX_UPSTREAM_MESSAGE = 300;

class ProviderError extends Error {
  get kind() { return 'unexpected'; }
}

/** The provider rejected the key (HTTP 401/403, or Gemini's API_KEY_INVALID). */
class BadKeyError extends ProviderError {
  get kind() { return 'bad_key'; }
}

/** One key got HTTP 429: the pool cools it down and the request moves to the next key. */
class RateLimitedError extends ProviderError {
  get kind() { return 'rate_limited'; }
}

/** Every key is rate-limited or out of quota. */
class QuotaExhaustedError extends ProviderError {
  get kind() { return 'rate_limited'; }
}

/** The provider did not answer within LLM_TIMEOUT_SECONDS. */
class ProviderTimeoutError extends ProviderError {
  get kind() { return 'timeout'; }
}

/** Anything else the provider answered or failed with (5xx, connection refused, ...). */
class UpstreamError extends ProviderError {
  get kind() { return 'upstream'; }
}

/** The worker is stopping: the call was abandoned, nobody is told. */
class Stopped extends Error {}

/** `text` shortened and with every secret replaced, safe to show or log. */
function redact(text, secrets) {
  let result = String(text);
  for (const secret of secrets) {
    if (secret) result = result.split(secret).join('[redacted]');
  }
  return result.length > MAX_UPSTREAM_MESSAGE ? `${result.slice(0, MAX_UPSTREAM_MESSAGE)}...` : result;
}

module.exports = {
  BadKeyError,
  ProviderError,
  ProviderTimeoutError,
  QuotaExhaustedError,
  RateLimitedError,
  Stopped,
  UpstreamError,
  redact,
};
