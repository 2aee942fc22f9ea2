package edu.upb.aisystem.worker.work;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import edu.upb.aisystem.worker.callback.ResultSender;
import edu.upb.aisystem.worker.config.Settings;
import edu.upb.aisystem.worker.logging.Log;
import edu.upb.aisystem.worker.metrics.WorkerMetrics;
import edu.upb.aisystem.worker.protocol.Task;
import edu.upb.aisystem.worker.protocol.WorkerStatus;
import edu.upb.aisystem.worker.providers.Providers;
import edu.upb.aisystem.worker.rpc.ResultAck;
import edu.upb.aisystem.worker.rpc.TaskResult;
import edu.upb.aisystem.worker.rpc.WorkerCallbackGrpc;
import io.grpc.Server;
import io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import org.junit.jupiter.api.Test;

class RunnerTest {
    /** Accepts every result. */
    static final class MasterStandIn extends WorkerCallbackGrpc.WorkerCallbackImplBase {
        final List<TaskResult> results = Collections.synchronizedList(new ArrayList<>());

        @Override
        public void sendResult(TaskResult result, StreamObserver<ResultAck> reply) {
            results.add(result);
            reply.onNext(ResultAck.newBuilder().setSuccess(true).setMessage("result delivered").build());
            reply.onCompleted();
        }
    }

    @Test
    void theRunnerCountsEachTaskByOutcome() throws Exception {
        MasterStandIn master = new MasterStandIn();
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress("127.0.0.1", 0)).addService(master)
                .build().start();
        // Where a key typed in the chat goes: a Gemini that answers 429.
        HttpServer gemini = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        gemini.createContext("/", exchange -> {
            byte[] body = "{\"error\":{\"message\":\"quota\",\"status\":\"RESOURCE_EXHAUSTED\"}}"
                    .getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(429, body.length);
            exchange.getResponseBody().write(body);
            exchange.close();
        });
        gemini.start();
        String endpoint = "127.0.0.1:" + server.getPort();
        Map<String, String> env = new HashMap<>(Map.of("LLM_PROVIDER", "offline", "GRPC_ENDPOINTS", endpoint,
                "SIMULATED_WORK_SECONDS", "0", "STREAM_ANSWERS", "false",
                "LLM_BASE_URL", "http://127.0.0.1:" + gemini.getAddress().getPort()));
        Settings s = Settings.load(env::get);
        List<WorkerStatus> published = Collections.synchronizedList(new ArrayList<>());
        WorkerMetrics m = new WorkerMetrics();
        try (ResultSender sender = new ResultSender(s, Log.discard())) {
            Runner r = new Runner(s, Log.discard(), new Providers(s), sender, m, new WorkerState(s.workerId()),
                    published::add, new ArrayBlockingQueue<>(1), StopSignal.never());
            List<Task> jobs = List.of(
                    new Task(s.workerId(), "s", "hello", "", endpoint, 0, "t1", 1, "token-1", List.of()),
                    new Task(s.workerId(), "s", "hello", "user-key", endpoint, 1, "t2", 1, "token-2", List.of()),
                    new Task(s.workerId(), "s", "hello", "", "elsewhere:50051", 2, "t3", 1, "token-3", List.of()));
            for (Task job : jobs) {
                r.processSafely(new Received(job, System.nanoTime()));
            }
        } finally {
            server.shutdownNow();
            gemini.stop(0);
        }
        Map<String, String> series = new HashMap<>();
        for (String line : m.scrape().split("\n")) {
            if (!line.startsWith("#")) {
                series.put(line.substring(0, line.lastIndexOf(' ')), line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        Map.of("ai_worker_tasks_total{outcome=\"answered\"}", "1",
                "ai_worker_tasks_total{outcome=\"provider_error\"}", "1",
                "ai_worker_tasks_total{outcome=\"refused\"}", "1",
                "ai_worker_tasks_total{outcome=\"undelivered\"}", "0",
                "ai_worker_task_seconds_count", "2",
                "ai_worker_provider_seconds_count{provider=\"offline\"}", "1",
                "ai_worker_provider_seconds_count{provider=\"gemini\"}", "1",
                "ai_worker_provider_errors_total{kind=\"rate_limited\",provider=\"gemini\"}", "1",
                "ai_worker_busy", "0").forEach((name, value) -> assertEquals(value, series.get(name), name));
        assertEquals(2, master.results.size());
        TaskResult answered = master.results.get(0);
        assertEquals("token-1", answered.getResultToken());
        assertTrue(answered.getAiResponse().startsWith("[offline answer"));
        TaskResult failed = master.results.get(1);
        assertEquals("rate_limited", failed.getErrorKind());
        assertEquals("", failed.getAiResponse());
        assertEquals("gemini", failed.getProvider());
        assertEquals("gemini-2.5-flash", failed.getModel());
        // busy, idle for each delivered task; idle naming the refused one.
        WorkerStatus last = published.get(published.size() - 1);
        assertEquals("idle", last.status());
        assertEquals("t3", last.taskId());
    }
}
