package main

import (
	"crypto/x509"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// The settings of services/README.md's worker table, read once from the environment with
// the Python worker's names, defaults and checks.

var providerNames = []string{"offline", "gemini", "deepseek", "openai"}

// keyVars names each keyed provider's key pool, in the order LLM_PROVIDER=auto tries them.
var keyVars = []struct{ provider, variable string }{
	{"gemini", "GEMINI_API_KEYS"},
	{"deepseek", "DEEPSEEK_API_KEYS"},
	{"openai", "OPENAI_API_KEYS"},
}

var defaultModels = map[string]string{
	"offline":  "offline-echo",
	"gemini":   "gemini-2.5-flash",
	"deepseek": "deepseek-chat",
	"openai":   "gpt-4o-mini",
}

var defaultBaseURLs = map[string]string{
	"gemini":   "https://generativelanguage.googleapis.com",
	"deepseek": "https://api.deepseek.com",
	"openai":   "https://api.openai.com/v1",
}

const (
	resultFirstBackoff = 500 * time.Millisecond
	resultMaxBackoff   = 5 * time.Second
)

type mqttSettings struct {
	host, username, password, topicPrefix string
	port                                  int
	keepalive                             time.Duration
	tlsCAFile                             string
	tlsCAs                                *x509.CertPool
}

type settings struct {
	mqtt           mqttSettings
	workerID       string
	node, hostname string
	provider       string
	model          string
	baseURL        string
	// A key typed in the chat goes to this provider when the worker itself runs offline.
	userKeyProvider string
	apiKeys         []string
	llmTimeout      time.Duration
	keyCooldown     time.Duration
	simulatedWork   time.Duration
	grpcEndpoints   []string
	grpcConnectTo   string
	grpcTLSCAFile   string
	grpcTLSCAs      *x509.CertPool
	grpcTimeout     time.Duration
	grpcMaxAttempts int
	taskTimeout     time.Duration
	heartbeat       time.Duration
	publishStatus   bool
	healthFile      string
	metricsHost     string
	metricsPort     int // 0: no metrics
	streamAnswers   bool
	offlineWordTime time.Duration
	logLevel        level
	mqttLogLevel    level
}

// keyProvider is the provider a key typed in the chat is used with on this worker: its
// own, or USER_KEY_PROVIDER when it runs offline (it has no LLM of its own to send the key to).
func (s *settings) keyProvider() string {
	if s.provider == "offline" {
		return s.userKeyProvider
	}
	return s.provider
}

func seconds(value float64) time.Duration {
	return time.Duration(value * float64(time.Second))
}

// loadSettings reads every setting from lookup (os.Getenv in the program).
func loadSettings(lookup func(string) string) (*settings, error) {
	e := env(lookup)
	hostname, _ := os.Hostname()
	s := &settings{hostname: hostname}
	var err error
	if s.mqtt, err = loadMQTT(e); err != nil {
		return nil, err
	}
	requested := strings.ToLower(e.str("LLM_PROVIDER", "auto"))
	if requested != "auto" && !contains(providerNames, requested) {
		return nil, configErrorf("LLM_PROVIDER must be one of auto, %s; got %q",
			strings.Join(providerNames, ", "), requested)
	}
	if s.provider, s.apiKeys, err = chooseProvider(e, requested); err != nil {
		return nil, err
	}
	s.workerID = e.str("WORKER_ID", "go-worker-"+hostname)
	s.node = e.str("NODE_NAME", hostname)
	s.model = e.str("LLM_MODEL", defaultModels[s.provider])
	s.baseURL = e.str("LLM_BASE_URL", "")
	s.userKeyProvider = strings.ToLower(e.str("USER_KEY_PROVIDER", "gemini"))
	if _, keyed := defaultBaseURLs[s.userKeyProvider]; !keyed {
		return nil, configErrorf("USER_KEY_PROVIDER must be one of gemini, deepseek, openai; "+
			"got %q", s.userKeyProvider)
	}
	durations := []struct {
		target        *time.Duration
		name          string
		fallback, min float64
	}{
		{&s.llmTimeout, "LLM_TIMEOUT_SECONDS", 30, 0.1},
		{&s.keyCooldown, "KEY_COOLDOWN_SECONDS", 60, 0},
		{&s.simulatedWork, "SIMULATED_WORK_SECONDS", 10, 0},
		{&s.grpcTimeout, "GRPC_TIMEOUT_SECONDS", 10, 0.1},
		{&s.taskTimeout, "TASK_TIMEOUT_SECONDS", 120, 1},
		{&s.heartbeat, "HEARTBEAT_SECONDS", 30, 1},
		{&s.offlineWordTime, "OFFLINE_WORD_SECONDS", 0.01, 0},
	}
	for _, d := range durations {
		value, err := e.number(d.name, d.fallback, d.min)
		if err != nil {
			return nil, err
		}
		*d.target = seconds(value)
	}
	if s.grpcEndpoints, err = e.endpoints("GRPC_ENDPOINTS", "master:50051"); err != nil {
		return nil, err
	}
	if s.grpcConnectTo, err = e.optionalEndpoint("GRPC_CONNECT_TO"); err != nil {
		return nil, err
	}
	if s.grpcTLSCAFile, s.grpcTLSCAs, err = e.caFile("GRPC_TLS_CA_FILE"); err != nil {
		return nil, err
	}
	if s.grpcMaxAttempts, err = e.integer("GRPC_MAX_ATTEMPTS", 5, 1); err != nil {
		return nil, err
	}
	if s.publishStatus, err = e.boolean("PUBLISH_TASK_STATUS", true); err != nil {
		return nil, err
	}
	if s.streamAnswers, err = e.boolean("STREAM_ANSWERS", true); err != nil {
		return nil, err
	}
	s.healthFile = e.str("HEALTH_FILE", "/tmp/ai-worker.healthy")
	s.metricsHost = e.str("METRICS_HOST", "0.0.0.0")
	if s.metricsPort, err = e.integer("METRICS_PORT", 9464, 0); err != nil {
		return nil, err
	}
	if s.metricsPort > 65535 {
		return nil, configErrorf("METRICS_PORT must be at most 65535, got %d", s.metricsPort)
	}
	if s.logLevel, err = parseLevel("LOG_LEVEL", e.str("LOG_LEVEL", "INFO")); err != nil {
		return nil, err
	}
	if s.mqttLogLevel, err = parseLevel("MQTT_LOG_LEVEL", e.str("MQTT_LOG_LEVEL", "INFO")); err != nil {
		return nil, err
	}
	return s, s.checkWorstCase()
}

func loadMQTT(e env) (mqttSettings, error) {
	m := mqttSettings{host: e.str("MQTT_HOST", "localhost"), username: e.str("MQTT_USERNAME", "")}
	var err error
	if m.tlsCAFile, m.tlsCAs, err = e.caFile("MQTT_TLS_CA_FILE"); err != nil {
		return m, err
	}
	defaultPort := 1883
	if m.tlsCAFile != "" {
		defaultPort = 8883
	}
	if m.port, err = e.integer("MQTT_PORT", defaultPort, 1); err != nil {
		return m, err
	}
	if m.password, err = e.secret("MQTT_PASSWORD"); err != nil {
		return m, err
	}
	m.topicPrefix = strings.Trim(e.str("MQTT_TOPIC_PREFIX", "upb"), "/")
	keepalive, err := e.integer("MQTT_KEEPALIVE_SECONDS", 30, 5)
	m.keepalive = time.Duration(keepalive) * time.Second
	return m, err
}

// chooseProvider: auto takes the first provider with configured keys, else offline.
func chooseProvider(e env, requested string) (string, []string, error) {
	if requested == "offline" {
		return "offline", nil, nil
	}
	for _, kv := range keyVars {
		if requested != "auto" && requested != kv.provider {
			continue
		}
		keys, err := e.secretList(kv.variable)
		if err != nil || requested != "auto" || len(keys) > 0 {
			return kv.provider, keys, err
		}
	}
	return "offline", nil, nil
}

// resultBackoffs are the pauses between the GRPC_MAX_ATTEMPTS calls of one result.
func (s *settings) resultBackoffs() []time.Duration {
	var pauses []time.Duration
	pause := resultFirstBackoff
	for i := 1; i < s.grpcMaxAttempts; i++ {
		pauses = append(pauses, pause)
		pause = time.Duration(math.Min(float64(2*pause), float64(resultMaxBackoff)))
	}
	return pauses
}

// checkWorstCase refuses limits that let one task outlast the master's deadline, after
// which it gives the task to another worker: this one's work would go to waste.
func (s *settings) checkWorstCase() error {
	var backoff time.Duration
	for _, pause := range s.resultBackoffs() {
		backoff += pause
	}
	worst := s.llmTimeout + s.simulatedWork + time.Duration(s.grpcMaxAttempts)*s.grpcTimeout + backoff
	if worst <= s.taskTimeout {
		return nil
	}
	return configErrorf("the worst case of one task, LLM_TIMEOUT_SECONDS (%g) + "+
		"SIMULATED_WORK_SECONDS (%g) + GRPC_MAX_ATTEMPTS (%d) x GRPC_TIMEOUT_SECONDS (%g) + "+
		"%g s of backoff between those calls = %g s, exceeds TASK_TIMEOUT_SECONDS (%g, the "+
		"master's deadline); lower those or raise TASK_TIMEOUT_SECONDS on the master and the "+
		"workers", s.llmTimeout.Seconds(), s.simulatedWork.Seconds(), s.grpcMaxAttempts,
		s.grpcTimeout.Seconds(), backoff.Seconds(), worst.Seconds(), s.taskTimeout.Seconds())
}

// summary is the start-up line: never a key, only how many.
func (s *settings) summary(instanceID string) string {
	tls := ""
	if s.grpcTLSCAFile != "" {
		tls = " over TLS"
	}
	return fmt.Sprintf("worker %s (instance %s) on node %s: provider %s, model %s, %d "+
		"configured key(s), simulated work %g s, results to %s%s", s.workerID, instanceID,
		s.node, s.provider, s.model, len(s.apiKeys), s.simulatedWork.Seconds(),
		strings.Join(s.grpcEndpoints, ", "), tls)
}

func contains(items []string, item string) bool {
	for _, candidate := range items {
		if candidate == item {
			return true
		}
	}
	return false
}
