package edu.upb.aisystem.worker.protocol;

import java.util.List;

/**
 * One question for this worker. {@code apiKey} and {@code resultToken} are secrets, and
 * {@code history} (the conversation before the query, oldest first) holds users' words: none
 * of them is ever logged.
 */
public record Task(String workerId, String sessionId, String query, String apiKey, String grpcEndpoint,
        long timestamp, String taskId, int attempt, String resultToken, List<ChatMessage> history) {

    public Task {
        history = history == null ? List.of() : List.copyOf(history);
    }

    @Override
    public String toString() { // no secret, no words of the user
        return "Task[taskId=" + taskId + ", attempt=" + attempt + ", workerId=" + workerId + "]";
    }
}
