package edu.upb.aisystem.worker.work;

import edu.upb.aisystem.worker.protocol.Task;

/** A task as it came off the bus, with its time of receipt (System.nanoTime). */
public record Received(Task task, long receivedAt) {
}
