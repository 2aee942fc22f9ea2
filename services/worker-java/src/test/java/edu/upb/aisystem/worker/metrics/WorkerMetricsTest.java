package edu.upb.aisystem.worker.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import edu.upb.aisystem.worker.providers.ErrorKind;
import edu.upb.aisystem.worker.providers.KeyPool;
import java.io.IOException;
import java.net.BindException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class WorkerMetricsTest {
    /** What Prometheus reads: each series ("name{labels}") with its value; comment lines under "#". */
    static Map<String, String> scrape(String url) throws IOException, InterruptedException {
        HttpResponse<String> response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), url);
        return parse(response.body());
    }

    static Map<String, String> parse(String body) {
        Map<String, String> series = new HashMap<>();
        for (String line : body.split("\n")) {
            if (line.startsWith("#")) {
                series.merge("#", line + "\n", String::concat);
            } else if (line.lastIndexOf(' ') > 0) {
                series.put(line.substring(0, line.lastIndexOf(' ')), line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return series;
    }

    static void expectSeries(Map<String, String> series, Map<String, String> want) {
        want.forEach((name, value) -> assertEquals(value, series.get(name), name));
    }

    @Test
    void theMetricsHaveTheNamesOfTheOtherWorkers() throws Exception {
        WorkerMetrics m = new WorkerMetrics();
        KeyPool pool = new KeyPool(List.of("k1", "k2"), Duration.ofMinutes(1));
        m.watchKeys("gemini", pool);
        pool.coolDown("k1");
        m.observeProvider("gemini", Duration.ofSeconds(3), ErrorKind.RATE_LIMITED);
        m.observeProvider("gemini", Duration.ofSeconds(1), null);
        int port = m.serve("127.0.0.1", 0);
        try {
            Map<String, String> series = scrape("http://127.0.0.1:" + port + "/metrics");
            expectSeries(series, Map.ofEntries(
                    Map.entry("ai_worker_tasks_total{outcome=\"answered\"}", "0"),
                    Map.entry("ai_worker_tasks_total{outcome=\"provider_error\"}", "0"),
                    Map.entry("ai_worker_tasks_total{outcome=\"refused\"}", "0"),
                    Map.entry("ai_worker_tasks_total{outcome=\"undelivered\"}", "0"),
                    Map.entry("ai_worker_tasks_total{outcome=\"abandoned\"}", "0"),
                    Map.entry("ai_worker_task_seconds_count", "0"),
                    Map.entry("ai_worker_provider_seconds_bucket{provider=\"gemini\",le=\"2\"}", "1"),
                    Map.entry("ai_worker_provider_seconds_bucket{provider=\"gemini\",le=\"+Inf\"}", "2"),
                    Map.entry("ai_worker_provider_seconds_sum{provider=\"gemini\"}", "4"),
                    Map.entry("ai_worker_provider_errors_total{kind=\"rate_limited\",provider=\"gemini\"}", "1"),
                    Map.entry("ai_worker_busy", "0"),
                    Map.entry("ai_worker_key_cooldowns_total{provider=\"gemini\"}", "1"),
                    Map.entry("ai_worker_keys_cooling{provider=\"gemini\"}", "1"),
                    Map.entry("ai_worker_keys{provider=\"gemini\"}", "2")));
            for (String name : List.of("process_cpu_seconds_total", "process_resident_memory_bytes")) {
                assertTrue(series.containsKey(name), name);
            }
            // The same help texts as the Python, Go and Node.js workers.
            for (String help : List.of("# HELP ai_worker_tasks_total Tasks handled, by outcome.",
                    "# TYPE ai_worker_task_seconds histogram",
                    "# HELP ai_worker_provider_seconds Time in the LLM call, by provider.",
                    "# HELP ai_worker_key_cooldowns_total API keys put to rest after HTTP 429.")) {
                assertTrue(series.get("#").contains(help + "\n"), help);
            }
            HttpResponse<String> root = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + port + "/")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(404, root.statusCode());
        } finally {
            m.stop();
        }
    }

    @Test
    void aPortInUseIsAnError() throws IOException {
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            WorkerMetrics m = new WorkerMetrics();
            BindException e = assertThrows(BindException.class, () -> m.serve("127.0.0.1", taken.getLocalPort()));
            assertTrue(e.getMessage().contains("in use"), e.getMessage());
        }
    }

    @Test
    void numbersAreWrittenAsPrometheusReadsThem() {
        assertEquals("0.005", PrometheusText.number(0.005));
        assertEquals("120", PrometheusText.number(120));
        assertEquals("+Inf", PrometheusText.number(Double.POSITIVE_INFINITY));
        assertEquals("1.5", PrometheusText.number(1.5));
    }
}
