package edu.upb.aisystem.worker.work;

import edu.upb.aisystem.worker.callback.ChunkStream;
import edu.upb.aisystem.worker.callback.ResultSender;
import edu.upb.aisystem.worker.config.Settings;
import edu.upb.aisystem.worker.logging.Log;
import edu.upb.aisystem.worker.metrics.WorkerMetrics;
import edu.upb.aisystem.worker.protocol.Json;
import edu.upb.aisystem.worker.protocol.Quoting;
import edu.upb.aisystem.worker.protocol.Task;
import edu.upb.aisystem.worker.protocol.WorkerStatus;
import edu.upb.aisystem.worker.providers.ErrorKind;
import edu.upb.aisystem.worker.providers.Provider;
import edu.upb.aisystem.worker.providers.ProviderException;
import edu.upb.aisystem.worker.providers.Providers;
import edu.upb.aisystem.worker.rpc.TaskResult;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * The worker's one processing thread: one task at a time. Per task: check that its result may
 * go where the task says, report busy, ask the provider (streaming the answer on with
 * STREAM_ANSWERS), simulate the work, send the result, report idle. The two reports go out only
 * with PUBLISH_TASK_STATUS, except the idle after a task that was refused or whose result could
 * not be delivered: it makes the master requeue the task at once. Once the worker is stopping,
 * a task is abandoned: no result, no idle (the goodbye names the task). Per-task logs are DEBUG.
 */
public final class Runner implements Runnable {
    private final Settings settings;
    private final Log log;
    private final Providers providers;
    private final ResultSender sender;
    private final WorkerMetrics metrics;
    private final WorkerState state;
    private final Consumer<WorkerStatus> publish;
    private final BlockingQueue<Received> tasks;
    private final StopSignal stopping;
    private final CountDownLatch done = new CountDownLatch(1);

    public Runner(Settings settings, Log log, Providers providers, ResultSender sender, WorkerMetrics metrics,
            WorkerState state, Consumer<WorkerStatus> publish, BlockingQueue<Received> tasks, StopSignal stopping) {
        this.settings = settings;
        this.log = log;
        this.providers = providers;
        this.sender = sender;
        this.metrics = metrics;
        this.state = state;
        this.publish = publish;
        this.tasks = tasks;
        this.stopping = stopping;
    }

    @Override
    public void run() {
        try {
            while (!stopping.raised()) {
                Received delivery = tasks.poll(100, TimeUnit.MILLISECONDS);
                if (delivery != null && !stopping.raised()) {
                    processSafely(delivery);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            done.countDown();
        }
    }

    /** Waits up to grace for the task at hand to end; true if it did. */
    public boolean awaitDone(Duration grace) {
        try {
            return done.await(grace.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    public void processSafely(Received delivery) {
        metrics.setBusy(true);
        try {
            metrics.countTask(process(delivery));
        } catch (RuntimeException | Error failure) {
            // A bug must not end the only processing thread; the master requeues the task.
            log.error("task %s failed in the worker: %s", delivery.task().taskId(), failure);
            publish.accept(state.finish());
        } finally {
            metrics.setBusy(false);
        }
    }

    /** Handles one task and returns its outcome (one of WorkerMetrics.OUTCOMES). */
    String process(Received delivery) {
        Task task = delivery.task();
        if (!sender.allows(task.grpcEndpoint())) {
            // A forged task, or a master advertising an endpoint we were not told about:
            // neither gets the provider's answer (nor the key's quota).
            log.warn("refused task %s: its result would go to %s, which is not one of GRPC_ENDPOINTS (%s)",
                    task.taskId(), Quoting.quoted(task.grpcEndpoint()), sender.endpoints());
            publish.accept(state.refuse(task.taskId()));
            return "refused";
        }
        WorkerStatus busy = state.start(task.taskId());
        if (settings.publishTaskStatus()) {
            publish.accept(busy);
        }
        Provider chosen = providers.choose(task.apiKey());
        ChunkStream chunks = settings.streamAnswers()
                ? new ChunkStream(sender, stopping, task, settings.workerId()) : null;
        long askedAt = System.nanoTime();
        String text = "";
        String errorText = "";
        ErrorKind errorKind = null;
        RuntimeException bug = null;
        try {
            text = chosen.ask(task.query(), task.history(), task.apiKey(), chunks == null ? null : chunks::add,
                    stopping);
        } catch (ProviderException e) {
            errorText = e.getMessage();
            errorKind = e.kind();
        } catch (RuntimeException e) {
            bug = e;
            errorText = chosen.name() + " failed unexpectedly; try again later.";
            errorKind = ErrorKind.UNEXPECTED;
        }
        Duration providerTime = Duration.ofNanos(System.nanoTime() - askedAt);
        if (stopping.raised()) {
            return "abandoned"; // the goodbye names the task, the master requeues it
        }
        if (bug != null) {
            // Only the type: a message could quote request details.
            log.error("task %s: %s failed unexpectedly (%s)", task.taskId(), chosen.name(), bug.getClass().getName());
        } else if (errorKind != null) {
            log.warn("task %s: %s", task.taskId(), errorText);
        } else if (chunks != null) {
            chunks.flush();
        }
        metrics.observeProvider(chosen.name(), providerTime, errorKind);
        if (errorKind != null) {
            text = "";
        }
        // Only an answer is worth the simulated work; an error reaches the user at once.
        if (errorKind == null && !settings.simulatedWork().isZero()) {
            stopping.await(settings.simulatedWork());
        }
        if (stopping.raised()) {
            return "abandoned";
        }
        Duration processing = Duration.ofNanos(System.nanoTime() - delivery.receivedAt());
        metrics.observeTask(processing);
        TaskResult result = TaskResult.newBuilder()
                .setWorkerId(settings.workerId())
                .setSessionId(task.sessionId())
                .setOriginalQuery(task.query())
                .setAiResponse(text)
                .setProcessingTimeMs(processing.toMillis())
                .setQueryTimestamp(task.timestamp())
                .setCompletionTimestamp(Json.nowMillis())
                .setTaskId(task.taskId())
                .setProvider(chosen.name())
                .setModel(chosen.model())
                .setError(errorText)
                .setAttempt(task.attempt())
                .setProviderTimeMs(providerTime.toMillis())
                .setResultToken(task.resultToken())
                .setErrorKind(errorKind == null ? "" : errorKind.wireName())
                .build();
        boolean delivered = sender.send(stopping, task.grpcEndpoint(), result);
        if (!delivered && stopping.raised()) {
            return "abandoned";
        }
        WorkerStatus idle = state.finish();
        // A delivered result already frees us at the master; an undelivered one must not wait
        // for the task's deadline there.
        if (settings.publishTaskStatus() || !delivered) {
            publish.accept(idle);
        }
        if (!delivered) {
            return "undelivered";
        }
        log.debug("task %s done in %d ms", task.taskId(), result.getProcessingTimeMs());
        return errorText.isEmpty() ? "answered" : "provider_error";
    }
}
