package edu.upb.aisystem.worker.callback;

import edu.upb.aisystem.worker.protocol.Task;
import edu.upb.aisystem.worker.rpc.TaskChunk;
import edu.upb.aisystem.worker.work.StopSignal;
import java.time.Duration;

/**
 * Streams an answer to the master while the LLM writes it, at most about ten chunks a second
 * (a chunk per delta of a fast LLM would be a gRPC call per word). The first refused or failed
 * chunk ends the stream of that task; the final SendResult carries the whole answer whatever
 * happened to the chunks.
 */
public final class ChunkStream {
    static final Duration INTERVAL = Duration.ofMillis(100);

    private final ResultSender sender;
    private final StopSignal stopping;
    private final Task task;
    private final String workerId;
    private final StringBuilder pending = new StringBuilder();
    private int seq;
    private long sentAt = System.nanoTime();
    private boolean open = true;

    public ChunkStream(ResultSender sender, StopSignal stopping, Task task, String workerId) {
        this.sender = sender;
        this.stopping = stopping;
        this.task = task;
        this.workerId = workerId;
    }

    /** The provider's onText: the answer grew by text. */
    public void add(String text) {
        if (!open) {
            return;
        }
        pending.append(text);
        if (System.nanoTime() - sentAt >= INTERVAL.toNanos()) {
            flush();
        }
    }

    /** Sends what has not been sent yet. */
    public void flush() {
        if (!open || pending.length() == 0) {
            return;
        }
        TaskChunk chunk = TaskChunk.newBuilder().setTaskId(task.taskId()).setWorkerId(workerId)
                .setResultToken(task.resultToken()).setAttempt(task.attempt()).setSeq(seq)
                .setText(pending.toString()).build();
        pending.setLength(0);
        sentAt = System.nanoTime();
        if (sender.sendChunk(stopping, task.grpcEndpoint(), chunk)) {
            seq++;
        } else {
            open = false;
        }
    }
}
