package edu.upb.aisystem.worker.work;

import edu.upb.aisystem.worker.protocol.Json;
import edu.upb.aisystem.worker.protocol.WorkerStatus;
import java.time.Duration;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * What the worker is doing: busy with a task (since when), or idle after its last one. The
 * runner changes it; the bus reports it.
 */
public final class WorkerState {
    private final String workerId;
    private final LongSupplier nanoClock;
    private String current;
    private long startedAt;
    private String last;

    public WorkerState(String workerId) {
        this(workerId, System::nanoTime);
    }

    public WorkerState(String workerId, LongSupplier nanoClock) {
        this.workerId = workerId;
        this.nanoClock = nanoClock;
    }

    public synchronized WorkerStatus start(String taskId) {
        current = taskId;
        startedAt = nanoClock.getAsLong();
        return status();
    }

    public synchronized WorkerStatus finish() {
        last = current;
        current = null;
        return status();
    }

    /** A task not worked on is reported as the last one, so the master requeues it. */
    public synchronized WorkerStatus refuse(String taskId) {
        current = null;
        last = taskId;
        return status();
    }

    /** Busy with the current task, or idle with the last one. */
    public synchronized WorkerStatus report() {
        return status();
    }

    /** The current task and how long it has run; empty when idle. */
    public synchronized Optional<Busy> busy() {
        if (current == null) {
            return Optional.empty();
        }
        return Optional.of(new Busy(current, Duration.ofNanos(nanoClock.getAsLong() - startedAt)));
    }

    /** The task being worked on, or null: the goodbye names it. */
    public synchronized String held() {
        return current;
    }

    private WorkerStatus status() {
        if (current != null) {
            return new WorkerStatus(workerId, "busy", current, Json.nowMillis());
        }
        return new WorkerStatus(workerId, "idle", last, Json.nowMillis());
    }

    /** A task being worked on, and for how long. */
    public record Busy(String taskId, Duration time) {
    }
}
