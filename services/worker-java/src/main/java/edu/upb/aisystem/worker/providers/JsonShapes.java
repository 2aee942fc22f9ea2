package edu.upb.aisystem.worker.providers;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;

/**
 * Reading an answer as Go's encoding/json reads it into a struct: an absent or null field is
 * empty, a field of another type is not the expected answer.
 */
final class JsonShapes {
    private JsonShapes() {
    }

    static JsonObject object(JsonElement parent, String name) throws LlmCall.Shape {
        return asObject(field(parent, name));
    }

    static JsonArray array(JsonElement parent, String name) throws LlmCall.Shape {
        JsonElement value = field(parent, name);
        if (value == null) {
            return new JsonArray();
        }
        if (!value.isJsonArray()) {
            throw new LlmCall.Shape();
        }
        return value.getAsJsonArray();
    }

    /** A string field; null when absent or null. */
    static String string(JsonElement parent, String name) throws LlmCall.Shape {
        JsonElement value = field(parent, name);
        if (value == null) {
            return null;
        }
        if (!(value instanceof JsonPrimitive primitive) || !primitive.isString()) {
            throw new LlmCall.Shape();
        }
        return primitive.getAsString();
    }

    static JsonObject element(JsonArray array, int index) throws LlmCall.Shape {
        JsonElement value = array.get(index);
        return asObject(value.isJsonNull() ? null : value);
    }

    static JsonObject root(String data) throws LlmCall.Shape {
        try {
            JsonElement value = com.google.gson.JsonParser.parseString(data);
            if (!value.isJsonObject()) {
                throw new LlmCall.Shape();
            }
            return value.getAsJsonObject();
        } catch (RuntimeException e) {
            throw new LlmCall.Shape();
        }
    }

    /** An object as it is; an empty one for null (absent); anything else is not the answer. */
    private static JsonObject asObject(JsonElement value) throws LlmCall.Shape {
        if (value == null) {
            return new JsonObject();
        }
        if (!value.isJsonObject()) {
            throw new LlmCall.Shape();
        }
        return value.getAsJsonObject();
    }

    private static JsonElement field(JsonElement parent, String name) throws LlmCall.Shape {
        if (!parent.isJsonObject()) {
            throw new LlmCall.Shape();
        }
        JsonElement value = parent.getAsJsonObject().get(name);
        return value == null || value.isJsonNull() ? null : value;
    }
}
