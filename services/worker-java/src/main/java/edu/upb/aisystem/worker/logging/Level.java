package edu.upb.aisystem.worker.logging;

import java.util.Locale;
import java.util.Optional;

/** The levels of the Python services' logs, with Python's numbers. */
public enum Level {
    DEBUG(10), INFO(20), WARNING(30), ERROR(40), CRITICAL(50);

    private final int severity;

    Level(int severity) {
        this.severity = severity;
    }

    public boolean atLeast(Level other) {
        return severity >= other.severity;
    }

    /** DEBUG, INFO, WARNING (or WARN), ERROR, CRITICAL, in any case; empty for anything else. */
    public static Optional<Level> parse(String name) {
        String upper = name.trim().toUpperCase(Locale.ROOT);
        if (upper.equals("WARN")) {
            upper = "WARNING";
        }
        for (Level level : values()) {
            if (level.name().equals(upper)) {
                return Optional.of(level);
            }
        }
        return Optional.empty();
    }
}
