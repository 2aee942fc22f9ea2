'use strict';
// Google Gemini over its REST API: POST {base}/v1beta/models/{model}:generateContent with
// the conversation's turns, then the query (key in x-goog-api-key), the answer's text out;
// with streaming, :streamGenerateContent?alt=sse and each event's text.

const { KeyedProvider, errorBody, serverSentEvents } = require('./http');
const { BadKeyError, RateLimitedError, UpstreamError, redact } = require('./errors');

// Gemini calls the assistant's turns "model".
const GEMINI_ROLES = { user: 'user', assistant: 'model' };

const turn = (role, text) => ({ role, parts: [{ text }] });

const textOf = (response) => (response.candidates?.[0]?.content?.parts || [])
  .map((part) => part.text || '').join('');

class GeminiProvider extends KeyedProvider {
  async complete(key, query, history, onText, signal) {
    const contents = [
      ...history.map(({ role, content }) => turn(GEMINI_ROLES[role], content)),
      turn('user', query),
    ];
    const method = onText ? 'streamGenerateContent?alt=sse' : 'generateContent';
    const base = this.endpoint.baseUrl.replace(/\/+$/, '');
    const response = await fetch(`${base}/v1beta/models/${encodeURIComponent(this.model)}:${method}`, {
      method: 'POST',
      headers: { 'x-goog-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ contents }),
      signal,
    });
    if (!response.ok) throw this.translate(response.status, await errorBody(response), key);
    if (onText) return this.stream(response, onText);
    const answer = await response.json();
    const text = textOf(answer);
    if (!text) {
      const reason = answer.candidates?.[0]?.finishReason ?? 'None';
      throw new UpstreamError(`${this.name} returned no text (finish reason: ${reason}).`);
    }
    return text;
  }

  async stream(response, onText) {
    const parts = [];
    let reason = 'None';
    for await (const event of serverSentEvents(response.body)) {
      reason = event.candidates?.[0]?.finishReason || reason;
      const text = textOf(event);
      if (text) {
        parts.push(text);
        onText(text);
      }
    }
    if (!parts.length) throw new UpstreamError(`${this.name} returned no text (finish reason: ${reason}).`);
    return parts.join('');
  }

  translate(status, { json, text }, key) {
    const name = this.name;
    // Google answers an invalid key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
    if (status === 401 || status === 403 || (status === 400 && text.includes('API_KEY_INVALID'))) {
      return new BadKeyError(`${name} rejected the API key (HTTP ${status}); check the key.`);
    }
    if (status === 429) return new RateLimitedError(`${name} rate limit or quota (HTTP 429).`);
    const message = json?.error?.message || json?.error?.status || text;
    return new UpstreamError(`${name} failed with HTTP ${status}: ${redact(message, [key])}`);
  }
}

module.exports = { GeminiProvider };
