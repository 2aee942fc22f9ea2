package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"aiworker/rpc"

	"google.golang.org/grpc"
)

// scrape is what Prometheus reads at url: each series ("name{labels}") with its value, and
// the comment lines under the key "#".
func scrape(t *testing.T, url string) map[string]string {
	t.Helper()
	response, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(response.Body)
	if response.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, response.Status)
	}
	series := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "#") {
			series["#"] += line + "\n"
		} else if i := strings.LastIndex(line, " "); i > 0 {
			series[line[:i]] = line[i+1:]
		}
	}
	return series
}

func expectSeries(t *testing.T, series map[string]string, want map[string]string) {
	t.Helper()
	for name, value := range want {
		if got, ok := series[name]; !ok || got != value {
			t.Errorf("%s: got %q (present: %v), want %s", name, got, ok, value)
		}
	}
}

func TestTheMetricsHaveTheNamesOfTheOtherWorkers(t *testing.T) {
	m := newWorkerMetrics()
	pool := newKeyPool([]string{"k1", "k2"}, time.Minute)
	m.watchKeys("gemini", pool)
	pool.coolDown("k1")
	m.observeProvider("gemini", 3*time.Second, kindRateLimited)
	m.observeProvider("gemini", time.Second, "")
	server := httptest.NewServer(m.handler())
	defer server.Close()

	series := scrape(t, server.URL+"/metrics")
	expectSeries(t, series, map[string]string{
		`ai_worker_tasks_total{outcome="answered"}`:                              "0",
		`ai_worker_tasks_total{outcome="provider_error"}`:                        "0",
		`ai_worker_tasks_total{outcome="refused"}`:                               "0",
		`ai_worker_tasks_total{outcome="undelivered"}`:                           "0",
		`ai_worker_tasks_total{outcome="abandoned"}`:                             "0",
		`ai_worker_task_seconds_count`:                                           "0",
		`ai_worker_provider_seconds_bucket{provider="gemini",le="2"}`:            "1",
		`ai_worker_provider_seconds_bucket{provider="gemini",le="+Inf"}`:         "2",
		`ai_worker_provider_seconds_sum{provider="gemini"}`:                      "4",
		`ai_worker_provider_errors_total{kind="rate_limited",provider="gemini"}`: "1",
		`ai_worker_busy`: "0",
		`ai_worker_key_cooldowns_total{provider="gemini"}`: "1",
		`ai_worker_keys_cooling{provider="gemini"}`:        "1",
		`ai_worker_keys{provider="gemini"}`:                "2",
	})
	for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes"} {
		if _, ok := series[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
	// The same help texts as the Python and Node.js workers.
	for _, help := range []string{
		"# HELP ai_worker_tasks_total Tasks handled, by outcome.",
		"# TYPE ai_worker_task_seconds histogram",
		"# HELP ai_worker_provider_seconds Time in the LLM call, by provider.",
		"# HELP ai_worker_key_cooldowns_total API keys put to rest after HTTP 429.",
	} {
		if !strings.Contains(series["#"], help+"\n") {
			t.Errorf("missing %q", help)
		}
	}
	if response, err := http.Get(server.URL + "/"); err != nil || response.StatusCode != http.StatusNotFound {
		t.Errorf("/ should be 404, got %v %v", response, err)
	}
}

func TestMetricsAreServedOnTheirPortAndAPortInUseIsAnError(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	m := newWorkerMetrics()
	if err := m.serve("127.0.0.1", port); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a port in use: got %v", err)
	}
	taken.Close()
	if err := m.serve("127.0.0.1", port); err != nil {
		t.Fatal(err)
	}
	series := scrape(t, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(port))+"/metrics")
	expectSeries(t, series, map[string]string{`ai_worker_busy`: "0"})
}

// masterStandIn accepts every result.
type masterStandIn struct {
	rpc.UnimplementedWorkerCallbackServer
	results chan *rpc.TaskResult
}

func (m *masterStandIn) SendResult(_ context.Context, result *rpc.TaskResult) (*rpc.ResultAck, error) {
	m.results <- result
	return &rpc.ResultAck{Success: true}, nil
}

func TestTheRunnerCountsEachTaskByOutcome(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	master := &masterStandIn{results: make(chan *rpc.TaskResult, 3)}
	server := grpc.NewServer()
	rpc.RegisterWorkerCallbackServer(server, master)
	go server.Serve(listener)
	defer server.Stop()
	// Where a key typed in the chat goes: a Gemini that answers 429.
	gemini := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"message":"quota","status":"RESOURCE_EXHAUSTED"}}`)
	}))
	defer gemini.Close()
	endpoint := listener.Addr().String()
	s, err := loadSettings(lookup(map[string]string{"LLM_PROVIDER": "offline",
		"GRPC_ENDPOINTS": endpoint, "SIMULATED_WORK_SECONDS": "0", "STREAM_ANSWERS": "false",
		"LLM_BASE_URL": gemini.URL}))
	if err != nil {
		t.Fatal(err)
	}
	log := newLogger("worker:test", levelCritical).named("test")
	sender, err := newResultSender(s, log)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.close()
	m := newWorkerMetrics()
	r := &runner{s: s, log: log, providers: newProviders(s), sender: sender, metrics: m,
		state: newWorkerState(s.workerID), publish: func(workerStatus) {}, stopping: context.Background()}

	for i, job := range []task{
		{TaskID: "t1", Query: "hello", GRPCEndpoint: endpoint},
		{TaskID: "t2", Query: "hello", GRPCEndpoint: endpoint, APIKey: "user-key"},
		{TaskID: "t3", Query: "hello", GRPCEndpoint: "elsewhere:50051"},
	} {
		job.SessionID, job.WorkerID, job.Timestamp = "s", s.workerID, int64(i)
		r.processSafely(received{task: job, at: time.Now()})
	}
	metrics := httptest.NewServer(m.handler())
	defer metrics.Close()
	expectSeries(t, scrape(t, metrics.URL+"/metrics"), map[string]string{
		`ai_worker_tasks_total{outcome="answered"}`:                              "1",
		`ai_worker_tasks_total{outcome="provider_error"}`:                        "1",
		`ai_worker_tasks_total{outcome="refused"}`:                               "1",
		`ai_worker_tasks_total{outcome="undelivered"}`:                           "0",
		`ai_worker_task_seconds_count`:                                           "2",
		`ai_worker_provider_seconds_count{provider="offline"}`:                   "1",
		`ai_worker_provider_seconds_count{provider="gemini"}`:                    "1",
		`ai_worker_provider_errors_total{kind="rate_limited",provider="gemini"}`: "1",
		`ai_worker_busy`: "0",
	})
	if len(master.results) != 2 {
		t.Errorf("the master got %d results, want 2", len(master.results))
	}
}
