'use strict';
// The offline provider: no network, a deterministic answer that says what it is, so the
// system works without any LLM key. The same text as the Python worker's.

const { sleep } = require('../sleep');

const EXCERPT_CHARS = 200;

class OfflineProvider {
  constructor(model, userKeyProvider, wordSeconds = 0) {
    this.name = 'offline';
    this.model = model;
    this._wordSeconds = wordSeconds; // the pace of a streamed answer
    this._hint = 'This worker runs the offline provider because it has no LLM API key. For real '
      + 'answers, configure GEMINI_API_KEYS, DEEPSEEK_API_KEYS or OPENAI_API_KEYS on the '
      + `workers, or type your own ${userKeyProvider} API key in the chat.`;
  }

  async ask(query, _userKey = '', onText = null, signal = undefined, history = []) {
    const chars = [...query]; // code points, as Python counts them
    const excerpt = chars.length <= EXCERPT_CHARS ? query : `${chars.slice(0, EXCERPT_CHARS).join('')}...`;
    const words = query.split(/\s+/).filter(Boolean).length;
    // Shows that the conversation arrived; without one the answer is as it always was.
    const earlier = history.filter((message) => message.role === 'user').length;
    const conversation = earlier
      ? ` This conversation holds ${earlier} earlier question${earlier === 1 ? '' : 's'}.` : '';
    const text = `[offline answer, no LLM was asked] Your question has ${words} words and `
      + `${chars.length} characters: "${excerpt}".${conversation} ${this._hint}`;
    if (onText) {
      // Word by word, as an LLM would write it.
      for (const word of text.match(/\S+\s*/g) || []) {
        onText(word);
        if (this._wordSeconds) await sleep(this._wordSeconds, signal);
      }
    }
    return { text, provider: this.name, model: this.model };
  }
}

module.exports = { OfflineProvider };
