package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
)

// geminiWire is Google's generateContent (and streamGenerateContent as server-sent events),
// key in x-goog-api-key, with the conversation and then the query as contents.
type geminiWire struct {
	baseURL, model string
}

type geminiPart struct {
	Text string `json:"text"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

type geminiResponse struct {
	Candidates []struct {
		Content      geminiContent `json:"content"`
		FinishReason string        `json:"finishReason"`
	} `json:"candidates"`
}

// text joins the first candidate's text parts, as the SDK's response.text does.
func (r geminiResponse) text() (string, string) {
	if len(r.Candidates) == 0 {
		return "", ""
	}
	var text strings.Builder
	for _, part := range r.Candidates[0].Content.Parts {
		text.WriteString(part.Text)
	}
	return text.String(), r.Candidates[0].FinishReason
}

func (w geminiWire) complete(ctx context.Context, call *llmCall, key, query string, history []chatMessage, onText func(string)) (string, error) {
	method := ":generateContent"
	if onText != nil {
		method = ":streamGenerateContent?alt=sse"
	}
	endpoint := strings.TrimRight(w.baseURL, "/") + "/v1beta/models/" + url.PathEscape(w.model) + method
	contents := make([]geminiContent, 0, len(history)+1)
	for _, message := range history {
		role := message.Role
		if role == "assistant" {
			role = "model" // Gemini's name for its own turns
		}
		contents = append(contents, geminiContent{Role: role, Parts: []geminiPart{{Text: message.Content}}})
	}
	contents = append(contents, geminiContent{Role: "user", Parts: []geminiPart{{Text: query}}})
	body := map[string]interface{}{"contents": contents}
	response, err := call.post(ctx, endpoint, map[string]string{"x-goog-api-key": key}, body)
	if err != nil {
		return "", w.translate(call.provider, err, key)
	}
	if onText == nil {
		var answer geminiResponse
		if err := call.decode(ctx, response, &answer); err != nil {
			return "", err
		}
		text, reason := answer.text()
		if text == "" {
			return "", noText(call.provider, reason)
		}
		return text, nil
	}
	reason := ""
	text, err := call.streamText(ctx, response, "", onText, func(data []byte) (string, bool) {
		var chunk geminiResponse
		if json.Unmarshal(data, &chunk) != nil {
			return "", false
		}
		piece, finish := chunk.text()
		if finish != "" {
			reason = finish
		}
		return piece, true
	})
	if err != nil {
		return "", err
	}
	if text == "" {
		return "", noText(call.provider, reason)
	}
	return text, nil
}

func noText(provider, reason string) error {
	if reason == "" {
		reason = "None"
	}
	return newProviderError(kindUpstream, "%s returned no text (finish reason: %s).", provider, reason)
}

func (geminiWire) translate(provider string, err error, key string) error {
	var failure *httpFailure
	if !errors.As(err, &failure) {
		return err
	}
	status := failure.status
	// Google answers an invalid key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
	if status == 401 || status == 403 || (status == 400 && bytes.Contains(failure.body, []byte("API_KEY_INVALID"))) {
		return newProviderError(kindBadKey, "%s rejected the API key (HTTP %d); check the key.",
			provider, status)
	}
	if status == 429 {
		e := newProviderError(kindRateLimited, "%s rate limit or quota (HTTP 429).", provider)
		e.rotate = true
		return e
	}
	return newProviderError(kindUpstream, "%s failed with HTTP %d: %s", provider, status,
		redact(failure.upstreamMessage(), key))
}
