package main

import (
	"context"
	"net/http"
	"time"
)

// A provider answers one question, with the user's own key or one of the worker's; a
// failure is a *providerError whose message is meant for the person in the chat.
type provider interface {
	name() string
	model() string
	// ask answers query in the conversation history (oldest first, maybe empty); it passes
	// the text to onText (if not nil) as it is written, and returns all of it.
	ask(ctx context.Context, query string, history []chatMessage, userKey string, onText func(string)) (string, error)
}

// providers holds the worker's own provider and the one a key typed in the chat goes to:
// the same, or USER_KEY_PROVIDER with its default model when the worker runs offline.
type providers struct {
	fallback    provider
	forUserKeys provider
	pool        *keyPool // forUserKeys's keys (the metrics show them)
}

func newProviders(s *settings) *providers {
	offline := s.provider == "offline"
	name, model := s.keyProvider(), s.model
	if offline {
		model = defaultModels[name]
	}
	baseURL := s.baseURL
	if baseURL == "" {
		baseURL = defaultBaseURLs[name]
	}
	pool := newKeyPool(s.apiKeys, s.keyCooldown)
	keyed := newKeyedProvider(name, model, baseURL, s.llmTimeout, pool)
	p := &providers{fallback: keyed, forUserKeys: keyed, pool: pool}
	if offline {
		p.fallback = offlineProvider{modelName: s.model, userKeyProvider: s.userKeyProvider,
			wordPause: s.offlineWordTime}
	}
	return p
}

func (p *providers) choose(userKey string) provider {
	if userKey != "" {
		return p.forUserKeys
	}
	return p.fallback
}

// wire is one LLM API's request and response format.
type wire interface {
	complete(ctx context.Context, call *llmCall, key, query string, history []chatMessage, onText func(string)) (string, error)
}

func newKeyedProvider(name, model, baseURL string, timeout time.Duration, pool *keyPool) *keyedProvider {
	// One client per provider: connections are reused across questions and keys. Its
	// timeout bounds the whole call, so an API that trickles its answer cannot hold us.
	call := &llmCall{provider: name, timeout: timeout, client: &http.Client{Timeout: timeout}}
	var api wire = openAIWire{baseURL: baseURL, model: model}
	if name == "gemini" {
		api = geminiWire{baseURL: baseURL, model: model}
	}
	return &keyedProvider{providerName: name, modelName: model, pool: pool, api: api, call: call}
}

// keyedProvider rotates through the pool: a key answered with 429 rests and the question
// moves to the next key; a user's key is used alone.
type keyedProvider struct {
	providerName, modelName string
	pool                    *keyPool
	api                     wire
	call                    *llmCall
}

func (p *keyedProvider) name() string  { return p.providerName }
func (p *keyedProvider) model() string { return p.modelName }

func (p *keyedProvider) ask(ctx context.Context, query string, history []chatMessage, userKey string, onText func(string)) (string, error) {
	if userKey != "" {
		text, err := p.api.complete(ctx, p.call, userKey, query, history, onText)
		if isRotatable(err) {
			return "", newProviderError(kindRateLimited, "Your %s API key is rate-limited or out "+
				"of quota (HTTP 429); try again later or use another key.", p.providerName)
		}
		return text, err
	}
	if p.pool.size() == 0 {
		return "", newProviderError(kindBadKey, "No %s API key is configured on this worker "+
			"and none was typed in the chat.", p.providerName)
	}
	// Each key is tried at most once per question, so a zero cool-down cannot loop.
	for i := 0; i < p.pool.size(); i++ {
		key, err := p.pool.acquire(p.providerName)
		if err != nil {
			return "", err
		}
		text, err := p.api.complete(ctx, p.call, key, query, history, onText)
		if !isRotatable(err) {
			return text, err
		}
		p.pool.coolDown(key)
	}
	return "", p.pool.exhausted(p.providerName)
}
