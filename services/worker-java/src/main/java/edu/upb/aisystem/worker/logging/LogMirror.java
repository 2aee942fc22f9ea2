package edu.upb.aisystem.worker.logging;

import java.time.Instant;

/** Receives the records at or above its level: the bus publishes them on the log topic. */
@FunctionalInterface
public interface LogMirror {
    void publish(Level level, String message, Instant at);
}
