package edu.upb.aisystem.worker.protocol;

/** A payload that is not JSON, not an object, or lacks or mistypes a field: dropped. */
public final class MalformedPayloadException extends Exception {
    private static final long serialVersionUID = 1L;

    public MalformedPayloadException(String message) {
        super(message);
    }
}
