package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// An OpenAI chat completions stand-in: each key answers with its status (200 by default).
func openAIStandIn(t *testing.T, statuses map[string]int, seen *[]string) *httptest.Server {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		*seen = append(*seen, key)
		var body openAIRequest
		json.NewDecoder(r.Body).Decode(&body)
		if status := statuses[key]; status != 0 {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"error":{"message":"failed for key %s","type":"x"}}`, key)
			return
		}
		question := body.Messages[len(body.Messages)-1].Content
		if body.Stream {
			for _, word := range strings.SplitAfter("stand-in answer: "+question, " ") {
				fmt.Fprintf(w, "data: %s\n\n", mustJSON(map[string]interface{}{
					"choices": []interface{}{map[string]interface{}{"delta": map[string]string{"content": word}}}}))
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
			return
		}
		fmt.Fprintf(w, `{"choices":[{"message":{"role":"assistant","content":"stand-in answer: %s"},"finish_reason":"stop"}]}`, question)
	}))
	t.Cleanup(server.Close)
	return server
}

func keyed(name, url string, keys ...string) *keyedProvider {
	return newKeyedProvider(name, "m", url, 2*time.Second, newKeyPool(keys, time.Minute))
}

func TestARateLimitedKeyRestsAndTheNextOneAnswers(t *testing.T) {
	var seen []string
	server := openAIStandIn(t, map[string]int{"k1": 429}, &seen)
	p := keyed("openai", server.URL, "k1", "k2")
	for round := 0; round < 2; round++ {
		text, err := p.ask(context.Background(), "hi", nil, "", nil)
		if err != nil || text != "stand-in answer: hi" {
			t.Fatalf("got %q, %v", text, err)
		}
	}
	if strings.Join(seen, ",") != "k1,k2,k2" {
		t.Fatalf("keys used: %v", seen)
	}
}

func TestEveryKeyRestingTellsTheUserWhenToTryAgain(t *testing.T) {
	var seen []string
	server := openAIStandIn(t, map[string]int{"k1": 429}, &seen)
	_, err := keyed("deepseek", server.URL, "k1").ask(context.Background(), "hi", nil, "", nil)
	pe, ok := err.(*providerError)
	if !ok || pe.kind != kindRateLimited || !strings.Contains(pe.message, "try again in 60 s") {
		t.Fatalf("got %v", err)
	}
}

func TestProviderErrorsHaveTheirKindAndNeverTheKey(t *testing.T) {
	var seen []string
	server := openAIStandIn(t, map[string]int{"bad": 401, "broken": 500}, &seen)
	for key, kind := range map[string]string{"bad": kindBadKey, "broken": kindUpstream} {
		_, err := keyed("openai", server.URL).ask(context.Background(), "hi", nil, key, nil)
		pe, ok := err.(*providerError)
		if !ok || pe.kind != kind || strings.Contains(pe.message, key) {
			t.Errorf("key %s: got %v", key, err)
		}
	}
	_, err := keyed("openai", "http://127.0.0.1:1").ask(context.Background(), "hi", nil, "k", nil)
	if pe, ok := err.(*providerError); !ok || pe.kind != kindUpstream {
		t.Errorf("unreachable: got %v", err)
	}
}

func TestAStreamedAnswerArrivesInPiecesAndWhole(t *testing.T) {
	var seen []string
	server := openAIStandIn(t, nil, &seen)
	var pieces []string
	text, err := keyed("openai", server.URL, "k").ask(context.Background(), "stream it", nil, "",
		func(piece string) { pieces = append(pieces, piece) })
	if err != nil || text != "stand-in answer: stream it" || len(pieces) < 3 || strings.Join(pieces, "") != text {
		t.Fatalf("got %q in %d pieces, %v", text, len(pieces), err)
	}
}

func TestASlowProviderTimesOut(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
	}))
	defer server.Close()
	p := newKeyedProvider("openai", "m", server.URL, 100*time.Millisecond, newKeyPool([]string{"k"}, 0))
	_, err := p.ask(context.Background(), "hi", nil, "", nil)
	if pe, ok := err.(*providerError); !ok || pe.kind != kindTimeout {
		t.Fatalf("got %v", err)
	}
}

func TestGeminiAnswersAndRejectsAnInvalidKey(t *testing.T) {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-goog-api-key") != "good" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT",`+
				`"details":[{"reason":"API_KEY_INVALID"}]}}`)
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/v1beta/models/m:generateContent") {
			t.Errorf("path %s", r.URL.Path)
		}
		fmt.Fprint(w, `{"candidates":[{"content":{"parts":[{"text":"gem"},{"text":"ini"}]},"finishReason":"STOP"}]}`)
	}))
	defer server.Close()
	p := keyed("gemini", server.URL, "good")
	if text, err := p.ask(context.Background(), "hi", nil, "", nil); err != nil || text != "gemini" {
		t.Fatalf("got %q, %v", text, err)
	}
	_, err := p.ask(context.Background(), "hi", nil, "revoked", nil)
	if pe, ok := err.(*providerError); !ok || pe.kind != kindBadKey {
		t.Fatalf("got %v", err)
	}
}

func TestTheOfflineAnswerSaysWhatItIs(t *testing.T) {
	var pieces []string
	o := offlineProvider{modelName: "offline-echo", userKeyProvider: "gemini"}
	text, _ := o.ask(context.Background(), "two words", nil, "", func(p string) { pieces = append(pieces, p) })
	if !strings.HasPrefix(text, `[offline answer, no LLM was asked] Your question has 2 words and 9 characters: "two words".`) ||
		strings.Join(pieces, "") != text {
		t.Fatalf("got %q", text)
	}
}

var conversation = []chatMessage{
	{"user", "My name is Ana."}, {"assistant", "Nice to meet you, Ana."},
	{"user", "I live in Lisbon."}, {"assistant", "A lovely city."},
}

// sameJSON tells whether got, as sent on the wire, is the JSON text want.
func sameJSON(t *testing.T, got interface{}, want string) bool {
	var wanted interface{}
	if err := json.Unmarshal([]byte(want), &wanted); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(got, wanted)
}

// Each provider gets the conversation, then the question, in its own form, whole or streamed.
func TestTheConversationGoesBeforeTheQuestion(t *testing.T) {
	for _, c := range []struct {
		provider, field, whole, streamed, want string
	}{
		{"openai", "messages",
			`{"choices":[{"message":{"role":"assistant","content":"Ana"},"finish_reason":"stop"}]}`,
			"data: {\"choices\":[{\"delta\":{\"content\":\"Ana\"}}]}\n\ndata: [DONE]\n\n",
			`[{"role":"user","content":"My name is Ana."},{"role":"assistant","content":"Nice to meet you, Ana."},
			{"role":"user","content":"I live in Lisbon."},{"role":"assistant","content":"A lovely city."},
			{"role":"user","content":"What is my name?"}]`},
		{"gemini", "contents",
			`{"candidates":[{"content":{"parts":[{"text":"Ana"}]},"finishReason":"STOP"}]}`,
			"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Ana\"}]},\"finishReason\":\"STOP\"}]}\n\n",
			`[{"role":"user","parts":[{"text":"My name is Ana."}]},
			{"role":"model","parts":[{"text":"Nice to meet you, Ana."}]},
			{"role":"user","parts":[{"text":"I live in Lisbon."}]},
			{"role":"model","parts":[{"text":"A lovely city."}]},
			{"role":"user","parts":[{"text":"What is my name?"}]}]`},
	} {
		var bodies []map[string]interface{}
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]interface{}
			json.NewDecoder(r.Body).Decode(&body)
			bodies = append(bodies, body)
			if body["stream"] == true || strings.HasSuffix(r.URL.Path, ":streamGenerateContent") {
				fmt.Fprint(w, c.streamed)
				return
			}
			fmt.Fprint(w, c.whole)
		}))
		p := keyed(c.provider, server.URL, "k")
		for _, onText := range []func(string){nil, func(string) {}} {
			text, err := p.ask(context.Background(), "What is my name?", conversation, "", onText)
			if err != nil || text != "Ana" {
				t.Fatalf("%s: got %q, %v", c.provider, text, err)
			}
		}
		server.Close()
		if len(bodies) != 2 {
			t.Fatalf("%s: %d requests", c.provider, len(bodies))
		}
		for i, body := range bodies {
			if !sameJSON(t, body[c.field], c.want) {
				t.Errorf("%s request %d: %s %v", c.provider, i, c.field, body[c.field])
			}
		}
	}
}

func TestTheOfflineAnswerCountsTheEarlierQuestions(t *testing.T) {
	o := offlineProvider{modelName: "offline-echo", userKeyProvider: "gemini"}
	const excerpt = `[offline answer, no LLM was asked] Your question has 4 words and 16 characters: ` +
		`"What is my name?".`
	const hint = ` This worker runs the offline provider because it has no LLM API key. For real ` +
		`answers, configure GEMINI_API_KEYS, DEEPSEEK_API_KEYS or OPENAI_API_KEYS on the workers, ` +
		`or type your own gemini API key in the chat.`
	for _, history := range [][]chatMessage{nil, {}, conversation[:2], conversation,
		{{"assistant", "Hi."}}} { // answers alone are no earlier question
		want := excerpt + hint
		switch len(history) {
		case 2:
			want = excerpt + " This conversation holds 1 earlier question." + hint
		case 4:
			want = excerpt + " This conversation holds 2 earlier questions." + hint
		}
		if text, _ := o.ask(context.Background(), "What is my name?", history, "", nil); text != want {
			t.Errorf("history of %d messages: got %q", len(history), text)
		}
	}
}
