package edu.upb.aisystem.worker.work;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Remembers the latest deliveries, so a QoS 1 redelivery of the same (task, attempt) is
 * processed once; a requeued task comes with a new attempt number.
 */
public final class RecentTasks {
    private final Map<Delivery, Boolean> seen;

    public RecentTasks(int capacity) {
        // In access order: a redelivery counts as recent again.
        this.seen = new LinkedHashMap<>(capacity * 2, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<Delivery, Boolean> eldest) {
                return size() > capacity;
            }
        };
    }

    /** True the first time a delivery is seen (and remembers it), false after. */
    public synchronized boolean firstTime(String taskId, int attempt) {
        return seen.put(new Delivery(taskId, attempt), Boolean.TRUE) == null;
    }

    private record Delivery(String taskId, int attempt) {
    }
}
