package edu.upb.aisystem.worker.protocol;

/** What a worker announces on {@code <prefix>/workers/register}. */
public record Registration(String workerId, String language, String hostname, String node,
        String provider, String status, long timestamp, String instanceId,
        /* the chat page names it beside its key field */
        String userKeyProvider) {
}
