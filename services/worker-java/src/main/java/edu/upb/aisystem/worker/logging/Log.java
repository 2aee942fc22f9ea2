package edu.upb.aisystem.worker.logging;

import java.util.Locale;

/** A named logger; messages are {@link String#format} patterns (Locale.ROOT). */
public final class Log {
    private final LogSink sink;
    private final String name;

    Log(LogSink sink, String name) {
        this.sink = sink;
        this.name = name;
    }

    /** A logger that writes nothing (tests). */
    public static Log discard() {
        return new LogSink("test", Level.CRITICAL, new java.io.PrintStream(
                java.io.OutputStream.nullOutputStream())).named("test");
    }

    public void debug(String format, Object... args) {
        log(Level.DEBUG, format, args);
    }

    public void info(String format, Object... args) {
        log(Level.INFO, format, args);
    }

    public void warn(String format, Object... args) {
        log(Level.WARNING, format, args);
    }

    public void error(String format, Object... args) {
        log(Level.ERROR, format, args);
    }

    public void log(Level level, String format, Object... args) {
        sink.write(level, name, args.length == 0 ? format : String.format(Locale.ROOT, format, args));
    }
}
