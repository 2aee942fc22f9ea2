package edu.upb.aisystem.worker.providers;

/**
 * The error kinds of TaskResult.error_kind: the master gives a task another attempt after
 * rate_limited, timeout or upstream; the others are the user's answer.
 */
public enum ErrorKind {
    BAD_KEY("bad_key"),
    RATE_LIMITED("rate_limited"),
    TIMEOUT("timeout"),
    UPSTREAM("upstream"),
    UNEXPECTED("unexpected");

    private final String wireName;

    ErrorKind(String wireName) {
        this.wireName = wireName;
    }

    /** The name in TaskResult.error_kind and in the metrics. */
    public String wireName() {
        return wireName;
    }

    @Override
    public String toString() {
        return wireName;
    }
}
