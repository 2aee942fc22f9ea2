package edu.upb.aisystem.worker.protocol;

/**
 * A report on {@code <prefix>/workers/status}. {@code taskId} is the task worked on when busy,
 * the last one when idle (null before the first), the one held when offline.
 */
public record WorkerStatus(String workerId, String status, String taskId, long timestamp) {
}
