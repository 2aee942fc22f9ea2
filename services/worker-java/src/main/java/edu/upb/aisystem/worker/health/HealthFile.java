package edu.upb.aisystem.worker.health;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;

/**
 * The health check, as the Python worker's: the worker touches HEALTH_FILE when it connects and
 * at every heartbeat, and removes it when it disconnects, stops, or has been busy on one task
 * longer than TASK_TIMEOUT_SECONDS (its settings allow no such task: it is stuck).
 * {@code ai-worker-java -health} succeeds while the file is younger than three heartbeats.
 */
public final class HealthFile {
    public static final int MISSED_HEARTBEATS = 3;

    private final Path path;

    public HealthFile(String path) {
        this.path = Path.of(path);
    }

    public void touch() {
        try {
            Files.setLastModifiedTime(path, FileTime.from(Instant.now()));
        } catch (NoSuchFileException e) {
            try {
                Files.createFile(path);
            } catch (IOException ignored) {
                // a health file that cannot be written reads as unhealthy: nothing else to do
            }
        } catch (IOException ignored) {
            // as above
        }
    }

    public void remove() {
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // gone or not ours: either way it is not fresh
        }
    }

    public boolean fresh(Duration maxAge) {
        try {
            Instant modified = Files.getLastModifiedTime(path).toInstant();
            return Duration.between(modified, Instant.now()).compareTo(maxAge) <= 0;
        } catch (IOException e) {
            return false;
        }
    }

    /** The exit status of the health check. */
    public static int check(String healthFile, Duration heartbeat) {
        if (new HealthFile(healthFile).fresh(heartbeat.multipliedBy(MISSED_HEARTBEATS))) {
            return 0;
        }
        System.err.println("unhealthy: " + healthFile + " is missing or older than " + MISSED_HEARTBEATS
                + " heartbeats");
        return 1;
    }
}
