package edu.upb.aisystem.worker.providers;

import edu.upb.aisystem.worker.protocol.ChatMessage;
import edu.upb.aisystem.worker.work.StopSignal;
import java.util.List;
import java.util.function.Consumer;

/** One LLM API's request and response format. */
interface Wire {
    String complete(LlmCall call, String key, String query, List<ChatMessage> history,
            Consumer<String> onText, StopSignal stopping) throws ProviderException;
}
