package edu.upb.aisystem.worker.logging;

import java.io.PrintStream;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;

/**
 * Log lines as the Python services write them, {@code <time> <LEVEL> [worker:<id>] <logger>:
 * <message>}, on stderr, and mirrored to {@code <prefix>/logs} once the bus is attached.
 * Messages are built by the callers from names, ids and counts: never from a key or a token.
 */
public final class LogSink {
    private static final DateTimeFormatter TIME =
            DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss,SSS").withZone(ZoneId.systemDefault());

    private final String component;
    private final Level minimum;
    private final PrintStream out;
    private LogMirror mirror;
    private Level mirrorMinimum = Level.CRITICAL;

    public LogSink(String component, Level minimum) {
        this(component, minimum, System.err);
    }

    public LogSink(String component, Level minimum, PrintStream out) {
        this.component = component;
        this.minimum = minimum;
        this.out = out;
    }

    /** Mirrors records at or above {@code minimum} to {@code mirror} from now on. */
    public synchronized void attach(LogMirror mirror, Level minimum) {
        this.mirror = mirror;
        this.mirrorMinimum = minimum;
    }

    /** A logger for one part of the worker (bus, runner, callback, ...). */
    public Log named(String name) {
        return new Log(this, name);
    }

    void write(Level level, String name, String message) {
        Instant now = Instant.now();
        LogMirror target;
        synchronized (this) {
            target = level.atLeast(mirrorMinimum) ? mirror : null;
            if (level.atLeast(minimum)) {
                out.println(TIME.format(now) + " " + level + " [" + component + "] " + name + ": "
                        + message);
                out.flush();
            }
        }
        if (target != null) {
            target.publish(level, message, now);
        }
    }
}
