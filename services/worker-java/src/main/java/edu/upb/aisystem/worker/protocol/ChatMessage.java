package edu.upb.aisystem.worker.protocol;

/** One earlier message of a conversation: a question (user) or its answer (assistant). */
public record ChatMessage(String role, String content) {
    @Override
    public String toString() { // users' words are never logged
        return "ChatMessage[role=" + role + "]";
    }
}
