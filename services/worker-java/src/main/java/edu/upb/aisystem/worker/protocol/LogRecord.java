package edu.upb.aisystem.worker.protocol;

/** One log line on {@code <prefix>/logs}. */
public record LogRecord(long timestamp, String source, String message, String level) {
}
