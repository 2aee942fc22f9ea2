package edu.upb.aisystem.worker.providers;

import edu.upb.aisystem.worker.protocol.ChatMessage;
import edu.upb.aisystem.worker.work.StopSignal;
import java.util.List;
import java.util.function.Consumer;

/**
 * Answers one question, with the user's own key or one of the worker's; a failure is a
 * {@link ProviderException} whose message is meant for the person in the chat.
 */
public interface Provider {
    String name();

    String model();

    /**
     * Answers query in the conversation history (oldest first, maybe empty); passes the text to
     * onText (if not null) as it is written, and returns all of it. Once stopping is raised it
     * gives up (the caller abandons the task whatever it returns).
     */
    String ask(String query, List<ChatMessage> history, String userKey, Consumer<String> onText,
            StopSignal stopping) throws ProviderException;
}
