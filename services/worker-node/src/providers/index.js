'use strict';
// Chooses the provider for each task: the worker's own, or, for a key the user typed in the
// chat, the worker's provider (USER_KEY_PROVIDER with its default model when the worker
// itself runs offline).

const { DEFAULT_BASE_URLS, DEFAULT_MODELS, keyProvider } = require('../config');
const { GeminiProvider } = require('./gemini');
const { KeyPool } = require('./keys');
const { OfflineProvider } = require('./offline');
const { OpenAICompatProvider } = require('./openai');

class Providers {
  constructor(settings, clock = undefined) {
    const offline = settings.provider === 'offline';
    const name = keyProvider(settings);
    this.pool = new KeyPool(settings.apiKeys, settings.keyCooldownSeconds, clock);
    const endpoint = {
      name,
      model: offline ? DEFAULT_MODELS[name] : settings.model,
      baseUrl: settings.baseUrl || DEFAULT_BASE_URLS[name],
      timeoutSeconds: settings.llmTimeoutSeconds,
    };
    this.forUserKeys = name === 'gemini' ? new GeminiProvider(endpoint, this.pool)
      : new OpenAICompatProvider(endpoint, this.pool);
    this.default = offline
      ? new OfflineProvider(settings.model, settings.userKeyProvider, settings.offlineWordSeconds)
      : this.forUserKeys;
  }

  choose(userKey) {
    return userKey ? this.forUserKeys : this.default;
  }
}

module.exports = { Providers };
