package edu.upb.aisystem.worker.providers;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import edu.upb.aisystem.worker.protocol.ChatMessage;
import edu.upb.aisystem.worker.work.StopSignal;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * The chat completions API of OpenAI, DeepSeek, Ollama, vLLM: the conversation and then the
 * question as messages in, the first choice's content out; streamed as server-sent chunks
 * ending in [DONE].
 */
final class OpenAiWire implements Wire {
    private final String baseUrl;
    private final String model;

    OpenAiWire(String baseUrl, String model) {
        this.baseUrl = baseUrl;
        this.model = model;
    }

    @Override
    public String complete(LlmCall call, String key, String query, List<ChatMessage> history,
            Consumer<String> onText, StopSignal stopping) throws ProviderException {
        List<Map<String, String>> messages = new ArrayList<>();
        for (ChatMessage message : history) {
            messages.add(Map.of("role", message.role(), "content", message.content()));
        }
        messages.add(Map.of("role", "user", "content", query));
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("messages", messages);
        if (onText != null) {
            body.put("stream", true);
        }
        LlmCall.Exchange exchange;
        try {
            exchange = call.post(stripSlashes(baseUrl) + "/chat/completions",
                    Map.of("Authorization", "Bearer " + key), body, stopping);
        } catch (LlmCall.HttpFailure failure) {
            throw translate(call.provider, failure, key);
        }
        if (onText == null) {
            JsonObject answer = call.json(exchange);
            try {
                JsonArray choices = JsonShapes.array(answer, "choices");
                if (choices.isEmpty()) {
                    throw new ProviderException(ErrorKind.UPSTREAM, call.provider + " returned no answer.");
                }
                JsonObject choice = JsonShapes.element(choices, 0);
                String content = JsonShapes.string(JsonShapes.object(choice, "message"), "content");
                if (content == null || content.isEmpty()) {
                    throw emptyAnswer(call.provider, JsonShapes.string(choice, "finish_reason"));
                }
                return content;
            } catch (LlmCall.Shape e) {
                throw call.unexpected();
            }
        }
        String[] finish = {null};
        String text = call.streamText(exchange, "[DONE]"::equals, onText, data -> {
            JsonArray choices = JsonShapes.array(JsonShapes.root(data), "choices");
            if (choices.isEmpty()) {
                return "";
            }
            JsonObject choice = JsonShapes.element(choices, 0);
            String reason = JsonShapes.string(choice, "finish_reason");
            if (reason != null) {
                finish[0] = reason;
            }
            return JsonShapes.string(JsonShapes.object(choice, "delta"), "content");
        });
        if (text.isEmpty()) {
            throw emptyAnswer(call.provider, finish[0]);
        }
        return text;
    }

    static String stripSlashes(String url) {
        int end = url.length();
        while (end > 0 && url.charAt(end - 1) == '/') {
            end--;
        }
        return url.substring(0, end);
    }

    private static ProviderException emptyAnswer(String provider, String finish) {
        return new ProviderException(ErrorKind.UPSTREAM, provider + " returned an empty answer (finish reason: "
                + (finish == null ? "None" : finish) + ").");
    }

    private static ProviderException translate(String provider, LlmCall.HttpFailure failure, String key) {
        int status = failure.status;
        switch (status) {
            case 401:
            case 403:
                return new ProviderException(ErrorKind.BAD_KEY, provider + " rejected the API key (HTTP "
                        + status + "); check the key.");
            case 402: // DeepSeek answers 402 when a key's balance is used up: another may work
            case 429:
                return new ProviderException(ErrorKind.RATE_LIMITED, provider + " rate limit or quota (HTTP "
                        + status + ").", true);
            default:
                return new ProviderException(ErrorKind.UPSTREAM, provider + " failed with HTTP " + status + ": "
                        + ProviderException.redact(failure.upstreamMessage(), key));
        }
    }
}
