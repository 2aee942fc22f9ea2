package main

import (
	"strings"
	"testing"
)

func TestATaskOfTheOriginalProtocolUsesItsSessionAsTaskID(t *testing.T) {
	got, err := parseTask([]byte(`{"worker_id":"w","session_id":"s","query":"q",` +
		`"grpc_endpoint":"m:1","timestamp":1763779200000}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.TaskID != "s" || got.Attempt != 1 || got.Timestamp != 1763779200000 || got.APIKey != "" {
		t.Fatalf("got %+v", got)
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
