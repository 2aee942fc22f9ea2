package main

import (
	"strings"
	"testing"
)

// The session and the time name the task, so a session's second question is not taken for
// a repeat of its first.
func TestATaskOfTheOriginalProtocolIsNamedBySessionAndTime(t *testing.T) {
	got, err := parseTask([]byte(`{"worker_id":"w","session_id":"s","query":"q",` +
		`"grpc_endpoint":"m:1","timestamp":1763779200000}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.TaskID != "s@1763779200000" || got.Attempt != 1 || got.Timestamp != 1763779200000 || got.APIKey != "" ||
		got.History != nil {
		t.Fatalf("got %+v", got)
	}
}

func TestATaskCarriesItsConversationOldestFirst(t *testing.T) {
	got, err := parseTask([]byte(`{"worker_id":"w","session_id":"s","query":"What is my name?",` +
		`"grpc_endpoint":"m:1","history":[{"role":"user","content":"My name is Ana."},` +
		`{"role":"assistant","content":"Nice to meet you, Ana."}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []chatMessage{{"user", "My name is Ana."}, {"assistant", "Nice to meet you, Ana."}}
	if len(got.History) != len(want) || got.History[0] != want[0] || got.History[1] != want[1] {
		t.Fatalf("got %+v", got.History)
	}
	for _, empty := range []string{`[]`, `null`} {
		got, err := parseTask([]byte(`{"worker_id":"w","session_id":"s","query":"q",` +
			`"grpc_endpoint":"m:1","history":` + empty + `}`))
		if err != nil || len(got.History) != 0 {
			t.Errorf("history %s: got %+v, %v", empty, got.History, err)
		}
	}
}

func TestMalformedTasksAreRefusedWithTheReason(t *testing.T) {
	for payload, reason := range map[string]string{
		`not json`: "not JSON",
		`[1]`:      "JSON object",
		`{"worker_id":"w","session_id":"s","grpc_endpoint":"m:1"}`:                           `'query'`,
		`{"worker_id":"w","session_id":"s","query":"","grpc_endpoint":"m:1"}`:                `'query' must not be empty`,
		`{"worker_id":"w","session_id":"s","query":"q","grpc_endpoint":"m:1","attempt":"2"}`: `'attempt' must be a number`,
		`{"worker_id":"w","session_id":"s","query":"q","grpc_endpoint":"m:1","api_key":7}`:   `'api_key' must be a string`,
	} {
		if _, err := parseTask([]byte(payload)); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: got %v, want %s", payload, err, reason)
		}
	}
	for _, history := range []string{
		`{"role":"user","content":"hi"}`,
		`"hi"`,
		`[{"role":"system","content":"hi"}]`,
		`[{"content":"hi"}]`,
		`[{"role":"user"}]`,
		`[{"role":"user","content":7}]`,
		`[{"role":"user","content":"hi"},"hi"]`,
	} {
		payload := `{"worker_id":"w","session_id":"s","query":"q","grpc_endpoint":"m:1","history":` + history + `}`
		if _, err := parseTask([]byte(payload)); err == nil || !strings.Contains(err.Error(), `'history'`) {
			t.Errorf("history %s: got %v, want it refused", history, err)
		}
	}
}

func TestStatusNamesNoTaskBeforeTheFirst(t *testing.T) {
	state := newWorkerState("w")
	if got := string(mustJSON(state.report())); !strings.Contains(got, `"status":"idle","task_id":null`) {
		t.Fatalf("got %s", got)
	}
	state.start("t1")
	if got := string(mustJSON(state.report())); !strings.Contains(got, `"status":"busy","task_id":"t1"`) {
		t.Fatalf("got %s", got)
	}
	state.finish()
	if got := string(mustJSON(state.report())); !strings.Contains(got, `"status":"idle","task_id":"t1"`) {
		t.Fatalf("got %s", got)
	}
}

func TestARedeliveryIsSeenOnceAndARequeueAgain(t *testing.T) {
	recent := newRecentTasks(2)
	if !recent.firstTime("t", 1) || recent.firstTime("t", 1) || !recent.firstTime("t", 2) {
		t.Fatal("a redelivery must be refused, a new attempt accepted")
	}
	recent.firstTime("u", 1)
	recent.firstTime("v", 1)
	if !recent.firstTime("t", 1) {
		t.Fatal("the oldest delivery should have been forgotten")
	}
}

func TestARegistrationNamesTheProviderOfAKeyTypedInTheChat(t *testing.T) {
	for _, c := range []struct {
		env                     map[string]string
		provider, userKeyGoesTo string
	}{
		{map[string]string{"OPENAI_API_KEYS": "sk-x"}, "openai", "openai"},
		// A keyed worker sends a user's key to its own provider, whatever USER_KEY_PROVIDER says.
		{map[string]string{"LLM_PROVIDER": "deepseek", "DEEPSEEK_API_KEYS": "sk-x", "USER_KEY_PROVIDER": "openai"},
			"deepseek", "deepseek"},
		{nil, "offline", "gemini"},
		{map[string]string{"LLM_PROVIDER": "offline", "USER_KEY_PROVIDER": "OpenAI"}, "offline", "openai"},
	} {
		s, err := loadSettings(lookup(c.env))
		if err != nil {
			t.Fatal(err)
		}
		got := string(mustJSON(newBus(s, named{}, newWorkerState("w"), nil).registration("idle")))
		want := `"provider":"` + c.provider + `",`
		if !strings.Contains(got, want) || !strings.HasSuffix(got, `"user_key_provider":"`+c.userKeyGoesTo+`"}`) {
			t.Errorf("%v: got %s, want provider %s, user_key_provider %s", c.env, got, c.provider, c.userKeyGoesTo)
		}
	}
}
