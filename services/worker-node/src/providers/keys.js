'use strict';
// KeyPool: round-robin over a provider's API keys, resting a key that got HTTP 429.

const { QuotaExhaustedError } = require('./errors');

class KeyPool {
  /** The keys never leave this object except to the provider's request header. */
  constructor(keys, cooldownSeconds, clock = () => performance.now() / 1000) {
    this._keys = [...keys];
    this._cooldown = cooldownSeconds;
    this._clock = clock;
    this._next = 0;
    this._coolingUntil = new Map();
    this.cooldowns = 0; // keys put to rest so far (the metrics read it)
  }

  get size() { return this._keys.length; }

  toJSON() { return `KeyPool(${this._keys.length} keys)`; }

  /** The next key that is not resting, round-robin; QuotaExhaustedError when all rest. */
  acquire(provider) {
    const now = this._clock();
    for (let offset = 0; offset < this._keys.length; offset += 1) {
      const index = (this._next + offset) % this._keys.length;
      const key = this._keys[index];
      if ((this._coolingUntil.get(key) || 0) <= now) {
        this._next = index + 1;
        return key;
      }
    }
    throw this.exhaustedError(provider);
  }

  coolDown(key) {
    this._coolingUntil.set(key, this._clock() + this._cooldown);
    this.cooldowns += 1;
  }

  /** How many keys rest right now. */
  cooling() {
    const now = this._clock();
    return [...this._coolingUntil.values()].filter((until) => until > now).length;
  }

  /** Seconds until the first key is usable again (0 if one already is). */
  retryAfter() {
    if (!this._keys.length) return 0;
    const now = this._clock();
    const soonest = Math.min(...this._keys.map((key) => this._coolingUntil.get(key) || 0));
    return Math.max(0, soonest - now);
  }

  exhaustedError(provider) {
    const wait = Math.ceil(this.retryAfter());
    const when = wait ? `in ${wait} s` : 'in a moment';
    return new QuotaExhaustedError(
      `All ${this._keys.length} ${provider} API keys of this worker are rate-limited or out of `
      + `quota (HTTP 429); try again ${when}, or type your own key in the chat.`);
  }
}

module.exports = { KeyPool };
