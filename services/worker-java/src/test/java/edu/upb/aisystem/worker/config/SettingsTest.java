package edu.upb.aisystem.worker.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SettingsTest {
    static Settings load(Map<String, String> values) throws ConfigException {
        return Settings.load(values::get);
    }

    @Test
    void defaultsMatchThePythonWorker() throws ConfigException {
        Settings s = load(Map.of());
        assertEquals("offline", s.provider());
        assertEquals("offline-echo", s.model());
        assertEquals(1883, s.mqtt().port());
        assertEquals("upb", s.mqtt().topicPrefix());
        assertEquals(Duration.ofSeconds(10), s.simulatedWork());
        assertEquals(List.of("master:50051"), s.grpcEndpoints());
        assertTrue(s.workerId().startsWith("java-worker-"), s.workerId());
        assertEquals("0.0.0.0", s.metricsHost());
        assertEquals(9464, s.metricsPort());
        assertEquals(Duration.ofSeconds(30), s.heartbeat());
        assertEquals("/tmp/ai-worker.healthy", s.healthFile());
        assertEquals(List.of(Duration.ofMillis(500), Duration.ofSeconds(1), Duration.ofSeconds(2),
                Duration.ofSeconds(4)), s.resultBackoffs());
    }

    @Test
    void autoTakesTheFirstProviderWithKeysFromAFile(@TempDir Path dir) throws IOException, ConfigException {
        Path file = dir.resolve("keys");
        Files.writeString(file, "k1\nk2, k3\n");
        Settings s = load(Map.of("DEEPSEEK_API_KEYS_FILE", file.toString(), "OPENAI_API_KEYS", "other"));
        assertEquals("deepseek", s.provider());
        assertEquals(List.of("k1", "k2", "k3"), s.apiKeys());
        assertEquals("deepseek-chat", s.model());
        assertTrue(!s.toString().contains("k1"), "no key in toString");
    }

    @Test
    void theMqttPasswordComesFromItsFile(@TempDir Path dir) throws IOException, ConfigException {
        Path file = dir.resolve("password");
        Files.writeString(file, "s3cret\n");
        assertEquals("s3cret", load(Map.of("MQTT_PASSWORD_FILE", file.toString())).mqtt().password());
        ConfigException missing = assertThrows(ConfigException.class,
                () -> load(Map.of("MQTT_PASSWORD_FILE", file + ".missing")));
        assertTrue(missing.getMessage().contains("MQTT_PASSWORD_FILE"), missing.getMessage());
    }

    @Test
    void unusableSettingsAreRefusedByName() {
        Map<String, String> bad = Map.of(
                "LLM_PROVIDER", "claude",
                "GRPC_ENDPOINTS", "master",
                "GRPC_CONNECT_TO", "host:http",
                "MQTT_PORT", "0",
                "SIMULATED_WORK_SECONDS", "ten",
                "PUBLISH_TASK_STATUS", "maybe",
                "USER_KEY_PROVIDER", "offline",
                "GRPC_TLS_CA_FILE", "/nonexistent/ca.crt",
                "METRICS_PORT", "65536",
                "LOG_LEVEL", "LOUD");
        bad.forEach((name, value) -> {
            ConfigException e = assertThrows(ConfigException.class, () -> load(Map.of(name, value)),
                    name + "=" + value);
            assertTrue(e.getMessage().contains(name), name + ": " + e.getMessage());
        });
    }

    @Test
    void aWorstCaseBeyondTheMastersDeadlineIsRefused() {
        ConfigException e = assertThrows(ConfigException.class,
                () -> load(Map.of("SIMULATED_WORK_SECONDS", "100")));
        assertTrue(e.getMessage().contains("187.5 s, exceeds TASK_TIMEOUT_SECONDS (120"), e.getMessage());
    }

    @Test
    void emptyValuesMeanTheDefaultAndValuesAreTrimmed() throws ConfigException {
        Settings s = load(Map.of("MQTT_PORT", "", "HEARTBEAT_SECONDS", " 2.5 ", "MQTT_TOPIC_PREFIX", "/lab/",
                "GRPC_ENDPOINTS", " a:1 , b:2 "));
        assertEquals(1883, s.mqtt().port());
        assertEquals(Duration.ofMillis(2500), s.heartbeat());
        assertEquals("lab", s.mqtt().topicPrefix());
        assertEquals(List.of("a:1", "b:2"), s.grpcEndpoints());
    }
}
