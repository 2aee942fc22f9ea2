package edu.upb.aisystem.worker.logging;

import java.util.logging.Handler;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;

/**
 * What the libraries (gRPC, Netty, the MQTT client) say through java.util.logging goes into
 * the worker's own log lines, one line each, without stack traces: their errors as ERROR,
 * their warnings as DEBUG (the worker logs what it makes of a failure itself).
 */
public final class LibraryLogs {
    private static final SimpleFormatter FORMATTER = new SimpleFormatter();

    private LibraryLogs() {
    }

    public static void route(LogSink sink) {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        root.setLevel(java.util.logging.Level.WARNING);
        root.addHandler(new Handler() {
            @Override
            public void publish(LogRecord record) {
                Level level = record.getLevel().intValue() >= java.util.logging.Level.SEVERE.intValue()
                        ? Level.ERROR : Level.DEBUG;
                String message = FORMATTER.formatMessage(record);
                if (record.getThrown() != null) {
                    message = (message == null ? "" : message + ": ") + record.getThrown();
                }
                String name = record.getLoggerName() == null ? "java" : record.getLoggerName();
                sink.named(name).log(level, "%s", String.valueOf(message));
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        });
    }
}
