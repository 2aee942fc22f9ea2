package edu.upb.aisystem.worker.config;

/** A setting that is present but unusable; the message names the variable. */
public final class ConfigException extends Exception {
    private static final long serialVersionUID = 1L;

    public ConfigException(String message) {
        super(message);
    }
}
