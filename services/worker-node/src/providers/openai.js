'use strict';
// DeepSeek and any OpenAI-compatible API (OpenAI, Ollama, vLLM): POST {base}/chat/completions
// with the conversation's messages and the query as the last user message, the first
// choice's content out; with streaming, its deltas as server-sent events.

const { KeyedProvider, errorBody, serverSentEvents } = require('./http');
const { BadKeyError, RateLimitedError, UpstreamError, redact } = require('./errors');

// DeepSeek answers 402 when a key's balance is used up: like a 429, another key may work.
const OUT_OF_QUOTA = [402, 429];

class OpenAICompatProvider extends KeyedProvider {
  async complete(key, query, history, onText, signal) {
    const messages = [
      ...history.map(({ role, content }) => ({ role, content })),
      { role: 'user', content: query },
    ];
    const body = { model: this.model, messages };
    if (onText) body.stream = true;
    const response = await fetch(`${this.endpoint.baseUrl.replace(/\/+$/, '')}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
    });
    if (!response.ok) throw this.translate(response.status, await errorBody(response), key);
    if (onText) return this.stream(response, onText);
    const completion = await response.json();
    const choice = completion.choices?.[0];
    if (!choice) throw new UpstreamError(`${this.name} returned no answer.`);
    if (!choice.message?.content) {
      throw new UpstreamError(`${this.name} returned an empty answer (finish reason: ${choice.finish_reason ?? 'None'}).`);
    }
    return choice.message.content;
  }

  async stream(response, onText) {
    const parts = [];
    let finish = null;
    for await (const chunk of serverSentEvents(response.body)) {
      const choice = chunk.choices?.[0];
      if (!choice) continue;
      finish = choice.finish_reason || finish;
      const text = choice.delta?.content;
      if (text) {
        parts.push(text);
        onText(text);
      }
    }
    if (!parts.length) throw new UpstreamError(`${this.name} returned an empty answer (finish reason: ${finish ?? 'None'}).`);
    return parts.join('');
  }

  translate(status, { json, text }, key) {
    const name = this.name;
    if (status === 401 || status === 403) return new BadKeyError(`${name} rejected the API key (HTTP ${status}); check the key.`);
    if (OUT_OF_QUOTA.includes(status)) return new RateLimitedError(`${name} rate limit or quota (HTTP ${status}).`);
    const message = json?.error?.message ?? text;
    return new UpstreamError(`${name} failed with HTTP ${status}: ${redact(message, [key])}`);
  }
}

module.exports = { OpenAICompatProvider };
