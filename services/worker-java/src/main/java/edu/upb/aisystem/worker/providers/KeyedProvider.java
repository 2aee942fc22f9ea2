package edu.upb.aisystem.worker.providers;

import edu.upb.aisystem.worker.protocol.ChatMessage;
import edu.upb.aisystem.worker.work.StopSignal;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * A provider behind an HTTP API with keys: it rotates through the pool (a key answered with
 * 429 rests and the question moves to the next key); a user's key is used alone.
 */
public final class KeyedProvider implements Provider {
    private final String name;
    private final String model;
    private final KeyPool pool;
    private final Wire wire;
    private final LlmCall call;

    public KeyedProvider(String name, String model, String baseUrl, Duration timeout, KeyPool pool) {
        this.name = name;
        this.model = model;
        this.pool = pool;
        this.wire = name.equals("gemini") ? new GeminiWire(baseUrl, model) : new OpenAiWire(baseUrl, model);
        this.call = new LlmCall(name, timeout);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String model() {
        return model;
    }

    public KeyPool pool() {
        return pool;
    }

    @Override
    public String ask(String query, List<ChatMessage> history, String userKey, Consumer<String> onText,
            StopSignal stopping) throws ProviderException {
        if (userKey != null && !userKey.isEmpty()) {
            try {
                return wire.complete(call, userKey, query, history, onText, stopping);
            } catch (ProviderException e) {
                if (e.rotate()) {
                    throw new ProviderException(ErrorKind.RATE_LIMITED, "Your " + name + " API key is "
                            + "rate-limited or out of quota (HTTP 429); try again later or use another key.");
                }
                throw e;
            }
        }
        if (pool.size() == 0) {
            throw new ProviderException(ErrorKind.BAD_KEY, "No " + name + " API key is configured on this "
                    + "worker and none was typed in the chat.");
        }
        // Each key is tried at most once per question, so a zero cool-down cannot loop.
        for (int i = 0; i < pool.size(); i++) {
            Optional<String> key = pool.acquire();
            if (key.isEmpty()) {
                throw pool.exhausted(name);
            }
            try {
                return wire.complete(call, key.get(), query, history, onText, stopping);
            } catch (ProviderException e) {
                if (!e.rotate()) {
                    throw e;
                }
                pool.coolDown(key.get());
            }
        }
        throw pool.exhausted(name);
    }
}
