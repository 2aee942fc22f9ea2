package edu.upb.aisystem.worker.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import edu.upb.aisystem.worker.providers.ErrorKind;
import edu.upb.aisystem.worker.providers.KeyPool;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The worker's Prometheus metrics on METRICS_HOST:METRICS_PORT (/metrics), with the names,
 * labels, help texts and buckets of the Python, Go and Node.js workers (services/README.md),
 * so that one dashboard shows them all. The runner counts each task's outcome and times it and
 * its LLM call; the key pool is read when Prometheus scrapes.
 */
public final class WorkerMetrics {
    /** What the runner's tasks end as, each counted from zero. */
    public static final List<String> OUTCOMES = List.of("answered", "provider_error", "refused", "undelivered",
            "abandoned");

    /**
     * In seconds: an LLM call takes from milliseconds (offline) to LLM_TIMEOUT_SECONDS; a task
     * adds the simulated work (10 s by default).
     */
    static final List<Double> BUCKETS = List.of(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 20.0,
            30.0, 60.0, 120.0);

    private final Map<String, AtomicLong> tasks = new TreeMap<>();
    private final Histogram taskSeconds = new Histogram(BUCKETS);
    private final Map<String, Histogram> providerSeconds = new TreeMap<>();
    /** By provider, then kind. */
    private final Map<String, Map<String, AtomicLong>> providerErrors = new TreeMap<>();
    private volatile boolean busy;
    private String keysProvider;
    private KeyPool pool;
    private HttpServer server;

    public WorkerMetrics() {
        for (String outcome : OUTCOMES) {
            tasks.put(outcome, new AtomicLong());
        }
    }

    /** Shows the state of provider's key pool. */
    public synchronized void watchKeys(String provider, KeyPool keys) {
        this.keysProvider = provider;
        this.pool = keys;
    }

    public synchronized void countTask(String outcome) {
        tasks.computeIfAbsent(outcome, o -> new AtomicLong()).incrementAndGet();
    }

    public void observeTask(Duration took) {
        taskSeconds.observe(took.toNanos() / 1e9);
    }

    /** Records one LLM call and, when it failed, its error kind. */
    public synchronized void observeProvider(String provider, Duration took, ErrorKind errorKind) {
        providerSeconds.computeIfAbsent(provider, p -> new Histogram(BUCKETS)).observe(took.toNanos() / 1e9);
        if (errorKind != null) {
            providerErrors.computeIfAbsent(provider, p -> new TreeMap<>())
                    .computeIfAbsent(errorKind.wireName(), k -> new AtomicLong()).incrementAndGet();
        }
    }

    public void setBusy(boolean busy) {
        this.busy = busy;
    }

    /** Everything in Prometheus's text format, as a scrape reads it. */
    public synchronized String scrape() {
        StringBuilder out = new StringBuilder();
        ProcessStats.write(out);
        PrometheusText.header(out, "ai_worker_tasks_total", "Tasks handled, by outcome.", "counter");
        tasks.forEach((outcome, count) -> PrometheusText.sample(out, "ai_worker_tasks_total",
                "{" + PrometheusText.label("outcome", outcome) + "}", count.get()));
        PrometheusText.header(out, "ai_worker_task_seconds", "From receiving a task to having its result.", "histogram");
        taskSeconds.write(out, "ai_worker_task_seconds", "");
        PrometheusText.header(out, "ai_worker_provider_seconds", "Time in the LLM call, by provider.", "histogram");
        providerSeconds.forEach((provider, histogram) -> histogram.write(out, "ai_worker_provider_seconds",
                PrometheusText.label("provider", provider)));
        PrometheusText.header(out, "ai_worker_provider_errors_total", "Provider failures, by provider and kind.",
                "counter");
        // Label names in order, as Go's client writes them.
        providerErrors.forEach((provider, kinds) -> kinds.forEach((kind, count) -> PrometheusText.sample(out,
                "ai_worker_provider_errors_total", "{" + PrometheusText.label("kind", kind) + ","
                        + PrometheusText.label("provider", provider) + "}", count.get())));
        PrometheusText.header(out, "ai_worker_busy", "1 while the worker is on a task.", "gauge");
        PrometheusText.sample(out, "ai_worker_busy", "", busy ? 1 : 0);
        if (pool != null) {
            String label = "{" + PrometheusText.label("provider", keysProvider) + "}";
            PrometheusText.header(out, "ai_worker_key_cooldowns_total", "API keys put to rest after HTTP 429.", "counter");
            PrometheusText.sample(out, "ai_worker_key_cooldowns_total", label, pool.cooldowns());
            PrometheusText.header(out, "ai_worker_keys_cooling", "API keys resting right now.", "gauge");
            PrometheusText.sample(out, "ai_worker_keys_cooling", label, pool.cooling());
            PrometheusText.header(out, "ai_worker_keys", "API keys configured.", "gauge");
            PrometheusText.sample(out, "ai_worker_keys", label, pool.size());
        }
        return out.toString();
    }

    /**
     * Answers /metrics on host:port in the background (port 0: any free port); returns the port.
     * The exception says why the port cannot be used.
     */
    public int serve(String host, int port) throws IOException {
        HttpServer http = HttpServer.create(new InetSocketAddress(host, port), 16);
        http.createContext("/", this::handle);
        ExecutorService executor = Executors.newSingleThreadExecutor(r -> {
            Thread thread = new Thread(r, "metrics");
            thread.setDaemon(true);
            return thread;
        });
        http.setExecutor(executor);
        http.start();
        synchronized (this) {
            server = http;
        }
        return http.getAddress().getPort();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!exchange.getRequestURI().getPath().equals("/metrics")) {
                byte[] body = "404 page not found\n".getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(404, body.length);
                exchange.getResponseBody().write(body);
                return;
            }
            byte[] body = scrape().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", PrometheusText.CONTENT_TYPE);
            boolean head = exchange.getRequestMethod().equals("HEAD");
            exchange.sendResponseHeaders(200, head ? -1 : body.length);
            if (!head) {
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
        }
    }

    public synchronized void stop() {
        if (server != null) {
            server.stop(0);
        }
    }
}
