package edu.upb.aisystem.worker.providers;

/**
 * A failure the user is told about. Its message is built from the provider name, the HTTP
 * status and an upstream message passed through {@link #redact}: never a key.
 */
public final class ProviderException extends Exception {
    private static final long serialVersionUID = 1L;
    private static final int MAX_UPSTREAM_MESSAGE = 300;

    private final ErrorKind kind;
    /** This key got a 429 (or DeepSeek's 402); another key of the pool may work. */
    private final boolean rotate;

    public ProviderException(ErrorKind kind, String message) {
        this(kind, message, false);
    }

    public ProviderException(ErrorKind kind, String message, boolean rotate) {
        super(message, null, false, false);
        this.kind = kind;
        this.rotate = rotate;
    }

    public ErrorKind kind() {
        return kind;
    }

    public boolean rotate() {
        return rotate;
    }

    /** Upstream text shortened and with every secret removed, so it may be shown or logged. */
    public static String redact(String text, String... secrets) {
        for (String secret : secrets) {
            if (secret != null && !secret.isEmpty()) {
                text = text.replace(secret, "[redacted]");
            }
        }
        if (text.codePointCount(0, text.length()) > MAX_UPSTREAM_MESSAGE) {
            text = text.substring(0, text.offsetByCodePoints(0, MAX_UPSTREAM_MESSAGE)) + "...";
        }
        return text;
    }
}
