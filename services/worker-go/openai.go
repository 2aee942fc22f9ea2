package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// openAIWire is the chat completions API of OpenAI, DeepSeek, Ollama, vLLM: the conversation
// and then the question as messages in, the first choice's content out; streamed as
// server-sent chunks ending in [DONE].
type openAIWire struct {
	baseURL, model string
}

type openAIMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type openAIRequest struct {
	Model    string          `json:"model"`
	Messages []openAIMessage `json:"messages"`
	Stream   bool            `json:"stream,omitempty"`
}

type openAIChoice struct {
	Message      openAIMessage `json:"message"`
	Delta        openAIMessage `json:"delta"`
	FinishReason *string       `json:"finish_reason"`
}

type openAIResponse struct {
	Choices []openAIChoice `json:"choices"`
}

func (w openAIWire) complete(ctx context.Context, call *llmCall, key, query string, history []chatMessage, onText func(string)) (string, error) {
	messages := make([]openAIMessage, 0, len(history)+1)
	for _, message := range history {
		messages = append(messages, openAIMessage{message.Role, message.Content})
	}
	messages = append(messages, openAIMessage{"user", query})
	body := openAIRequest{Model: w.model, Messages: messages, Stream: onText != nil}
	response, err := call.post(ctx, strings.TrimRight(w.baseURL, "/")+"/chat/completions",
		map[string]string{"Authorization": "Bearer " + key}, body)
	if err != nil {
		return "", w.translate(call.provider, err, key)
	}
	if onText == nil {
		var answer openAIResponse
		if err := call.decode(ctx, response, &answer); err != nil {
			return "", err
		}
		if len(answer.Choices) == 0 {
			return "", newProviderError(kindUpstream, "%s returned no answer.", call.provider)
		}
		choice := answer.Choices[0]
		if choice.Message.Content == "" {
			return "", emptyAnswer(call.provider, choice.FinishReason)
		}
		return choice.Message.Content, nil
	}
	var finish *string
	text, err := call.streamText(ctx, response, "[DONE]", onText, func(data []byte) (string, bool) {
		var chunk openAIResponse
		if json.Unmarshal(data, &chunk) != nil {
			return "", false
		}
		if len(chunk.Choices) == 0 {
			return "", true
		}
		choice := chunk.Choices[0]
		if choice.FinishReason != nil {
			finish = choice.FinishReason
		}
		return choice.Delta.Content, true
	})
	if err != nil {
		return "", err
	}
	if text == "" {
		return "", emptyAnswer(call.provider, finish)
	}
	return text, nil
}

func emptyAnswer(provider string, finish *string) error {
	reason := "None"
	if finish != nil {
		reason = *finish
	}
	return newProviderError(kindUpstream, "%s returned an empty answer (finish reason: %s).",
		provider, reason)
}

func (openAIWire) translate(provider string, err error, key string) error {
	var failure *httpFailure
	if !errors.As(err, &failure) {
		return err
	}
	switch status := failure.status; status {
	case 401, 403:
		return newProviderError(kindBadKey, "%s rejected the API key (HTTP %d); check the key.",
			provider, status)
	case 402, 429: // DeepSeek answers 402 when a key's balance is used up: another may work
		e := newProviderError(kindRateLimited, "%s rate limit or quota (HTTP %d).", provider, status)
		e.rotate = true
		return e
	default:
		return newProviderError(kindUpstream, "%s failed with HTTP %d: %s", provider, status,
			redact(failure.upstreamMessage(), key))
	}
}
