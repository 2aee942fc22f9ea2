package edu.upb.aisystem.worker;

import edu.upb.aisystem.worker.bus.MqttBus;
import edu.upb.aisystem.worker.callback.ResultSender;
import edu.upb.aisystem.worker.config.Settings;
import edu.upb.aisystem.worker.logging.LibraryLogs;
import edu.upb.aisystem.worker.logging.Log;
import edu.upb.aisystem.worker.logging.LogSink;
import edu.upb.aisystem.worker.metrics.WorkerMetrics;
import edu.upb.aisystem.worker.providers.Providers;
import edu.upb.aisystem.worker.work.Received;
import edu.upb.aisystem.worker.work.Runner;
import edu.upb.aisystem.worker.work.StopSignal;
import edu.upb.aisystem.worker.work.WorkerState;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;

/** The running worker: its parts wired together, and its clean stop on SIGTERM or SIGINT. */
final class WorkerProcess {
    /** A result already on its way may finish within this; then nothing leaves before the goodbye. */
    static final Duration RUNNER_GRACE = Duration.ofSeconds(2);

    private WorkerProcess() {
    }

    /** Runs until SIGTERM or SIGINT (then the process exits 0); returns the status of a failed start. */
    static int serve(Settings settings) {
        LogSink logs = new LogSink("worker:" + settings.workerId(), settings.logLevel());
        LibraryLogs.route(logs);
        Log log = logs.named("ai_system.worker");
        StopSignal stopping = new StopSignal();

        Providers providers = new Providers(settings);
        WorkerMetrics metrics = new WorkerMetrics();
        metrics.watchKeys(providers.forUserKeys().name(), providers.forUserKeys().pool());
        if (settings.metricsPort() != 0) {
            try {
                metrics.serve(settings.metricsHost(), settings.metricsPort());
            } catch (IOException e) {
                log.error("cannot serve metrics on port %d (METRICS_PORT): %s", settings.metricsPort(),
                        e.getMessage());
                return 1;
            }
        }
        ResultSender sender;
        try {
            sender = new ResultSender(settings, logs.named("ai_system.worker.callback"));
        } catch (IOException | RuntimeException e) {
            log.error("cannot set up the gRPC connections: %s", e.getMessage());
            return 1;
        }
        WorkerState state = new WorkerState(settings.workerId());
        BlockingQueue<Received> tasks = new ArrayBlockingQueue<>(MqttBus.TASK_BUFFER);
        MqttBus bus = new MqttBus(settings, logs.named("ai_system.worker.bus"), state, tasks);
        Runner runner = new Runner(settings, logs.named("ai_system.worker.runner"), providers, sender, metrics,
                state, bus::publishStatus, tasks, stopping);
        logs.attach(bus::publishLog, settings.mqttLogLevel());

        log.info("%s", settings.summary(bus.instanceId()));
        Thread processing = new Thread(runner, "runner");
        processing.setDaemon(true);
        processing.start();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            log.info("stopping");
            stopping.raise();
            runner.awaitDone(RUNNER_GRACE);
            sender.close();
            bus.stop();
            metrics.stop();
            log.info("stopped");
            System.err.flush();
            // A JVM stopped by a signal exits with 128 + its number; a clean stop is 0.
            Runtime.getRuntime().halt(0);
        }, "shutdown"));
        bus.start();
        try {
            new CountDownLatch(1).await(); // until the shutdown hook ends the process
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }
}
