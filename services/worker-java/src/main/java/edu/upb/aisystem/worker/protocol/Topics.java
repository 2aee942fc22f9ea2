package edu.upb.aisystem.worker.protocol;

/** The MQTT topics of protos/README.md under a prefix ({@code upb} by default). */
public record Topics(String prefix) {
    public String register() {
        return prefix + "/workers/register";
    }

    public String status() {
        return prefix + "/workers/status";
    }

    public String logs() {
        return prefix + "/logs";
    }

    public String masterStatus() {
        return prefix + "/master/status";
    }

    public String tasks(String workerId) {
        return prefix + "/workers/" + workerId + "/tasks";
    }
}
