package edu.upb.aisystem.worker.providers;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import edu.upb.aisystem.worker.protocol.ChatMessage;
import edu.upb.aisystem.worker.work.StopSignal;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Google's generateContent (and streamGenerateContent as server-sent events), key in
 * x-goog-api-key, with the conversation and then the query as contents.
 */
final class GeminiWire implements Wire {
    private final String baseUrl;
    private final String model;

    GeminiWire(String baseUrl, String model) {
        this.baseUrl = baseUrl;
        this.model = model;
    }

    /** The first candidate's text parts joined, as the SDK's response.text does, and its finish reason. */
    private static String[] text(JsonObject response) throws LlmCall.Shape {
        JsonArray candidates = JsonShapes.array(response, "candidates");
        if (candidates.isEmpty()) {
            return new String[] {"", ""};
        }
        JsonObject candidate = JsonShapes.element(candidates, 0);
        StringBuilder text = new StringBuilder();
        for (JsonElement part : JsonShapes.array(JsonShapes.object(candidate, "content"), "parts")) {
            if (part.isJsonNull()) {
                continue;
            }
            String piece = JsonShapes.string(part, "text");
            if (piece != null) {
                text.append(piece);
            }
        }
        String reason = JsonShapes.string(candidate, "finishReason");
        return new String[] {text.toString(), reason == null ? "" : reason};
    }

    @Override
    public String complete(LlmCall call, String key, String query, List<ChatMessage> history,
            Consumer<String> onText, StopSignal stopping) throws ProviderException {
        String method = onText == null ? ":generateContent" : ":streamGenerateContent?alt=sse";
        String endpoint = OpenAiWire.stripSlashes(baseUrl) + "/v1beta/models/"
                + URLEncoder.encode(model, StandardCharsets.UTF_8).replace("+", "%20") + method;
        List<Object> contents = new ArrayList<>();
        for (ChatMessage message : history) {
            // Gemini's name for its own turns
            String role = message.role().equals("assistant") ? "model" : message.role();
            contents.add(Map.of("role", role, "parts", List.of(Map.of("text", message.content()))));
        }
        contents.add(Map.of("role", "user", "parts", List.of(Map.of("text", query))));
        LlmCall.Exchange exchange;
        try {
            exchange = call.post(endpoint, Map.of("x-goog-api-key", key), Map.of("contents", contents), stopping);
        } catch (LlmCall.HttpFailure failure) {
            throw translate(call.provider, failure, key);
        }
        if (onText == null) {
            JsonObject answer = call.json(exchange);
            String[] text;
            try {
                text = text(answer);
            } catch (LlmCall.Shape e) {
                throw call.unexpected();
            }
            if (text[0].isEmpty()) {
                throw noText(call.provider, text[1]);
            }
            return text[0];
        }
        String[] reason = {""};
        String text = call.streamText(exchange, data -> false, onText, data -> {
            String[] piece = text(JsonShapes.root(data));
            if (!piece[1].isEmpty()) {
                reason[0] = piece[1];
            }
            return piece[0];
        });
        if (text.isEmpty()) {
            throw noText(call.provider, reason[0]);
        }
        return text;
    }

    private static ProviderException noText(String provider, String reason) {
        return new ProviderException(ErrorKind.UPSTREAM, provider + " returned no text (finish reason: "
                + (reason.isEmpty() ? "None" : reason) + ").");
    }

    private static ProviderException translate(String provider, LlmCall.HttpFailure failure, String key) {
        int status = failure.status;
        // Google answers an invalid key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID.
        if (status == 401 || status == 403 || (status == 400 && failure.body.contains("API_KEY_INVALID"))) {
            return new ProviderException(ErrorKind.BAD_KEY, provider + " rejected the API key (HTTP "
                    + status + "); check the key.");
        }
        if (status == 429) {
            return new ProviderException(ErrorKind.RATE_LIMITED, provider + " rate limit or quota (HTTP 429).", true);
        }
        return new ProviderException(ErrorKind.UPSTREAM, provider + " failed with HTTP " + status + ": "
                + ProviderException.redact(failure.upstreamMessage(), key));
    }
}
