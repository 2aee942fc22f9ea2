package edu.upb.aisystem.worker.protocol;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonPrimitive;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** The payloads a worker receives, validated as services/ai_system/protocol.py does. */
public final class Payloads {
    private static final TypeAdapter<JsonElement> ELEMENTS = new com.google.gson.Gson().getAdapter(JsonElement.class);

    private Payloads() {
    }

    /** A task; a missing, empty or mistyped field makes it malformed (the first problem met). */
    public static Task parseTask(byte[] payload) throws MalformedPayloadException {
        Fields f = new Fields(parseObject(payload));
        String workerId = f.str("worker_id", true);
        String sessionId = f.str("session_id", true);
        String query = f.str("query", true);
        String apiKey = f.str("api_key", false);
        String endpoint = f.str("grpc_endpoint", true);
        long timestamp = f.number("timestamp", Json.nowMillis());
        String taskId = f.str("task_id", false);
        String token = f.str("result_token", false);
        List<ChatMessage> history = f.history();
        long attempt = f.number("attempt", 1);
        f.check();
        if (taskId.isEmpty()) {
            // A master of the original protocol sends no task ids: a session's questions stay
            // apart by their time, and a redelivery of one keeps its id.
            taskId = sessionId + "@" + timestamp;
        }
        if (attempt < 1) {
            attempt = 1;
        }
        if (attempt > Integer.MAX_VALUE) {
            attempt = Integer.MAX_VALUE;
        }
        return new Task(workerId, sessionId, query, apiKey, endpoint, timestamp, taskId, (int) attempt,
                token, history);
    }

    /** The master's status: "online" or "offline". */
    public static String parseMasterStatus(byte[] payload) throws MalformedPayloadException {
        Fields f = new Fields(parseObject(payload));
        String status = f.str("status", true);
        f.check();
        if (!status.equals("online") && !status.equals("offline")) {
            throw new MalformedPayloadException("field 'status' must be 'online' or 'offline'");
        }
        return status;
    }

    static JsonObject parseObject(byte[] payload) throws MalformedPayloadException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(payload)).toString();
        } catch (CharacterCodingException e) {
            throw new MalformedPayloadException("payload is not JSON: not UTF-8 text");
        }
        JsonElement element;
        try (JsonReader reader = new JsonReader(new StringReader(text))) {
            reader.setLenient(false);
            element = ELEMENTS.read(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw new MalformedPayloadException("payload is not JSON: extra data after the value");
            }
        } catch (IOException | JsonParseException | IllegalStateException | NumberFormatException e) {
            String reason = e.getMessage() == null ? e.getClass().getSimpleName()
                    : e.getMessage().replace("Use JsonReader.setLenient(true) to accept malformed JSON", "malformed JSON");
            throw new MalformedPayloadException("payload is not JSON: " + reason);
        }
        if (element == null || !element.isJsonObject()) {
            throw new MalformedPayloadException("payload must be a JSON object");
        }
        return element.getAsJsonObject();
    }

    /** Reads a JSON object's fields, keeping the first problem met. */
    private static final class Fields {
        private final JsonObject data;
        private String problem;

        Fields(JsonObject data) {
            this.data = data;
        }

        void fail(String message) {
            if (problem == null) {
                problem = message;
            }
        }

        void check() throws MalformedPayloadException {
            if (problem != null) {
                throw new MalformedPayloadException(problem);
            }
        }

        private JsonElement get(String name) {
            JsonElement value = data.get(name);
            return value == null || value.isJsonNull() ? null : value;
        }

        /** A string field; null counts as absent, and a required one must not be empty. */
        String str(String name, boolean required) {
            JsonElement value = get(name);
            if (value == null) {
                if (required) {
                    fail("missing field " + Quoting.quoted(name));
                }
                return "";
            }
            if (!(value instanceof JsonPrimitive primitive) || !primitive.isString()) {
                fail("field " + Quoting.quoted(name) + " must be a string");
                return "";
            }
            String text = primitive.getAsString();
            if (required && text.isEmpty()) {
                fail("field " + Quoting.quoted(name) + " must not be empty");
            }
            return text;
        }

        /** A number, truncated to a whole one; true and "2" are refused, as Python does. */
        long number(String name, long fallback) {
            JsonElement value = get(name);
            if (value == null) {
                return fallback;
            }
            if (!(value instanceof JsonPrimitive primitive) || !primitive.isNumber()) {
                fail("field " + Quoting.quoted(name) + " must be a number");
                return fallback;
            }
            double number = primitive.getAsDouble();
            if (Double.isNaN(number) || Double.isInfinite(number)) {
                fail("field " + Quoting.quoted(name) + " must be a number");
                return fallback;
            }
            return (long) number;
        }

        /** The optional conversation of a task; null counts as absent. */
        List<ChatMessage> history() {
            JsonElement value = get("history");
            if (value == null) {
                return List.of();
            }
            if (!value.isJsonArray()) {
                fail("field 'history' must be a list");
                return List.of();
            }
            List<ChatMessage> messages = new ArrayList<>();
            for (JsonElement item : value.getAsJsonArray()) {
                String role = null;
                String content = null;
                if (item.isJsonObject()) {
                    JsonObject message = item.getAsJsonObject();
                    role = text(message.get("role"));
                    content = text(message.get("content"));
                }
                if (role == null || content == null || !(role.equals("user") || role.equals("assistant"))) {
                    fail("each message of 'history' must be {role: user|assistant, content: text}");
                    return List.of();
                }
                messages.add(new ChatMessage(role, content));
            }
            return messages;
        }

        private static String text(JsonElement element) {
            return element instanceof JsonPrimitive p && p.isString() ? p.getAsString() : null;
        }
    }
}
