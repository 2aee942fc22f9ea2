package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func lookup(values map[string]string) func(string) string {
	return func(name string) string { return values[name] }
}

func TestDefaultsMatchThePythonWorker(t *testing.T) {
	s, err := loadSettings(lookup(nil))
	if err != nil {
		t.Fatal(err)
	}
	if s.provider != "offline" || s.model != "offline-echo" || s.mqtt.port != 1883 ||
		s.mqtt.topicPrefix != "upb" || s.simulatedWork != 10*time.Second ||
		strings.Join(s.grpcEndpoints, ",") != "master:50051" || !strings.HasPrefix(s.workerID, "go-worker-") ||
		s.metricsHost != "0.0.0.0" || s.metricsPort != 9464 {
		t.Fatalf("unexpected defaults: %+v", s)
	}
}

func TestAutoTakesTheFirstProviderWithKeysFromAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(file, []byte("k1\nk2, k3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(lookup(map[string]string{"DEEPSEEK_API_KEYS_FILE": file,
		"OPENAI_API_KEYS": "other"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.provider != "deepseek" || strings.Join(s.apiKeys, "|") != "k1|k2|k3" || s.model != "deepseek-chat" {
		t.Fatalf("got provider %s, %d keys, model %s", s.provider, len(s.apiKeys), s.model)
	}
}

func TestTheMQTTPasswordComesFromItsFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := loadSettings(lookup(map[string]string{"MQTT_PASSWORD_FILE": file}))
	if err != nil || s.mqtt.password != "s3cret" {
		t.Fatalf("password %q, error %v", s.mqtt.password, err)
	}
	_, err = loadSettings(lookup(map[string]string{"MQTT_PASSWORD_FILE": file + ".missing"}))
	if err == nil || !strings.Contains(err.Error(), "MQTT_PASSWORD_FILE") {
		t.Fatalf("a missing file should be named, got %v", err)
	}
}

func TestUnusableSettingsAreRefusedByName(t *testing.T) {
	for name, value := range map[string]string{
		"LLM_PROVIDER":           "claude",
		"GRPC_ENDPOINTS":         "master",
		"GRPC_CONNECT_TO":        "host:http",
		"MQTT_PORT":              "0",
		"SIMULATED_WORK_SECONDS": "ten",
		"PUBLISH_TASK_STATUS":    "maybe",
		"USER_KEY_PROVIDER":      "offline",
		"GRPC_TLS_CA_FILE":       "/nonexistent/ca.crt",
		"METRICS_PORT":           "65536",
	} {
		_, err := loadSettings(lookup(map[string]string{name: value}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: got %v", name, value, err)
		}
	}
}

func TestAWorstCaseBeyondTheMastersDeadlineIsRefused(t *testing.T) {
	_, err := loadSettings(lookup(map[string]string{"SIMULATED_WORK_SECONDS": "100"}))
	if err == nil || !strings.Contains(err.Error(), "187.5 s, exceeds TASK_TIMEOUT_SECONDS (120") {
		t.Fatalf("got %v", err)
	}
}
