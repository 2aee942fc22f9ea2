'use strict';
// What the keyed providers share: one HTTP exchange under a deadline (LLM_TIMEOUT_SECONDS
// for the whole call, answer streamed or not) that the worker's stop also ends, the key
// rotation on HTTP 429, and a reader of server-sent events.

const {
  BadKeyError, ProviderTimeoutError, QuotaExhaustedError, RateLimitedError, Stopped, UpstreamError,
} = require('./errors');

/**
 * `exchange(abortSignal)` under the deadline. Translates what fetch throws when the deadline
 * passes, the worker stops or the network fails; anything else (say, a malformed answer)
 * propagates and is an "unexpected" error to the runner.
 */
async function withDeadline(name, timeoutSeconds, stopping, exchange) {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutSeconds * 1000);
  const onStop = () => controller.abort();
  stopping?.addEventListener('abort', onStop, { once: true });
  try {
    return await exchange(controller.signal);
  } catch (error) {
    if (stopping?.aborted) throw new Stopped();
    if (timedOut) {
      throw new ProviderTimeoutError(`${name} did not answer within ${timeoutSeconds} s; try again later.`);
    }
    // undici: TypeError('fetch failed' or 'terminated') whose cause is the socket's error.
    if (error instanceof TypeError && error.cause !== undefined) {
      throw new UpstreamError(`${name} could not be reached; try again later.`);
    }
    throw error;
  } finally {
    clearTimeout(timer);
    stopping?.removeEventListener('abort', onStop);
  }
}

/** The JSON data of each server-sent event of `body` (a web ReadableStream). */
async function* serverSentEvents(body) {
  const decoder = new TextDecoder();
  let buffer = '';
  const take = function* (final) {
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = final ? '' : blocks.pop();
    for (const block of blocks) {
      const data = block.split(/\r?\n/).filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).replace(/^ /, '')).join('\n');
      if (data && data !== '[DONE]') yield JSON.parse(data);
    }
  };
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    yield* take(false);
  }
  buffer += decoder.decode();
  yield* take(true);
}

/** The body of a failed answer: parsed JSON if it is some, else its text. */
async function errorBody(response) {
  const text = await response.text();
  try {
    return { json: JSON.parse(text), text };
  } catch {
    return { json: null, text };
  }
}

/**
 * A provider behind API keys; subclasses implement `complete(key, query, history, onText,
 * signal)`, `history` being the conversation before `query` (protocol.js's ChatMessage[]).
 */
class KeyedProvider {
  constructor(endpoint, pool) {
    this.name = endpoint.name;
    this.model = endpoint.model;
    this.endpoint = endpoint;
    this.pool = pool;
  }

  toJSON() { return `${this.constructor.name}(${this.name}, ${this.model}, ${this.pool.size} keys)`; }

  async ask(query, userKey = '', onText = null, stopping = undefined, history = []) {
    if (userKey) {
      try {
        return await this._answer(query, history, userKey, onText, stopping);
      } catch (error) {
        if (error instanceof RateLimitedError) {
          throw new QuotaExhaustedError(
            `Your ${this.name} API key is rate-limited or out of quota (HTTP 429); try again later or use another key.`);
        }
        throw error;
      }
    }
    if (!this.pool.size) {
      throw new BadKeyError(`No ${this.name} API key is configured on this worker and none was typed in the chat.`);
    }
    // Each key is tried at most once per question, so a zero cool-down cannot loop.
    for (let i = 0; i < this.pool.size; i += 1) {
      const key = this.pool.acquire(this.name);
      try {
        return await this._answer(query, history, key, onText, stopping);
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        this.pool.coolDown(key);
      }
    }
    throw this.pool.exhaustedError(this.name);
  }

  async _answer(query, history, key, onText, stopping) {
    const text = await withDeadline(this.name, this.endpoint.timeoutSeconds, stopping,
      (signal) => this.complete(key, query, history, onText, signal));
    return { text, provider: this.name, model: this.model };
  }
}

module.exports = { KeyedProvider, errorBody, serverSentEvents, withDeadline };
