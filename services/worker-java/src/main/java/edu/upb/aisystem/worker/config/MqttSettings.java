package edu.upb.aisystem.worker.config;

import java.time.Duration;

/** How to reach the broker. {@code tlsCaFile} is empty for plain MQTT. */
public record MqttSettings(String host, int port, String username, String password,
        String topicPrefix, Duration keepalive, String tlsCaFile) {

    public boolean tls() {
        return !tlsCaFile.isEmpty();
    }

    @Override
    public String toString() { // never the password
        return "MqttSettings[host=" + host + ", port=" + port + ", username=" + username
                + ", topicPrefix=" + topicPrefix + ", keepalive=" + keepalive + ", tlsCaFile="
                + tlsCaFile + "]";
    }
}
