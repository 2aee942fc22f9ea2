package edu.upb.aisystem.worker.providers;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import edu.upb.aisystem.worker.protocol.ChatMessage;
import edu.upb.aisystem.worker.work.StopSignal;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Each provider against a local HTTP server speaking its API's wire format. */
class ProvidersTest {
    private final List<HttpServer> servers = new ArrayList<>();

    @AfterEach
    void stopServers() {
        servers.forEach(server -> server.stop(0));
    }

    private String serve(HttpHandler handler) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", handler);
        server.start();
        servers.add(server);
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private static void reply(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static JsonObject body(HttpExchange exchange) throws IOException {
        return JsonParser.parseString(new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8))
                .getAsJsonObject();
    }

    /** An OpenAI chat completions stand-in: each key answers with its status (200 by default). */
    private String openAiStandIn(Map<String, Integer> statuses, List<String> seen) throws IOException {
        return serve(exchange -> {
            String key = exchange.getRequestHeaders().getFirst("Authorization").replace("Bearer ", "");
            seen.add(key);
            JsonObject body = body(exchange);
            Integer status = statuses.get(key);
            if (status != null) {
                reply(exchange, status, "{\"error\":{\"message\":\"failed for key " + key + "\",\"type\":\"x\"}}");
                return;
            }
            var messages = body.getAsJsonArray("messages");
            String question = messages.get(messages.size() - 1).getAsJsonObject().get("content").getAsString();
            if (body.has("stream") && body.get("stream").getAsBoolean()) {
                StringBuilder events = new StringBuilder();
                for (String word : ("stand-in answer: " + question).split("(?<= )")) {
                    JsonObject delta = new JsonObject();
                    delta.addProperty("content", word);
                    events.append("data: {\"choices\":[{\"delta\":").append(delta).append("}]}\n\n");
                }
                events.append("data: [DONE]\n\n");
                reply(exchange, 200, events.toString());
                return;
            }
            reply(exchange, 200, "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"stand-in answer: "
                    + question + "\"},\"finish_reason\":\"stop\"}]}");
        });
    }

    private static KeyedProvider keyed(String name, String url, String... keys) {
        return new KeyedProvider(name, "m", url, Duration.ofSeconds(2), new KeyPool(List.of(keys), Duration.ofMinutes(1)));
    }

    private static String ask(Provider provider, String query, List<ChatMessage> history, String userKey,
            Consumer<String> onText) throws ProviderException {
        return provider.ask(query, history, userKey, onText, StopSignal.never());
    }

    @Test
    void aRateLimitedKeyRestsAndTheNextOneAnswers() throws Exception {
        List<String> seen = Collections.synchronizedList(new ArrayList<>());
        KeyedProvider p = keyed("openai", openAiStandIn(Map.of("k1", 429), seen), "k1", "k2");
        for (int round = 0; round < 2; round++) {
            assertEquals("stand-in answer: hi", ask(p, "hi", List.of(), "", null));
        }
        assertEquals(List.of("k1", "k2", "k2"), seen);
        assertEquals(1, p.pool().cooldowns());
        assertEquals(1, p.pool().cooling());
    }

    @Test
    void everyKeyRestingTellsTheUserWhenToTryAgain() throws Exception {
        List<String> seen = new ArrayList<>();
        KeyedProvider p = keyed("deepseek", openAiStandIn(Map.of("k1", 402), seen), "k1");
        ProviderException e = assertThrows(ProviderException.class, () -> ask(p, "hi", List.of(), "", null));
        assertEquals(ErrorKind.RATE_LIMITED, e.kind());
        assertTrue(e.getMessage().contains("try again in 60 s"), e.getMessage());
    }

    @Test
    void aUsersKeyIsUsedAloneAndItsRateLimitIsTheirs() throws Exception {
        List<String> seen = new ArrayList<>();
        KeyedProvider p = keyed("openai", openAiStandIn(Map.of("mine", 429), seen), "pool");
        ProviderException e = assertThrows(ProviderException.class, () -> ask(p, "hi", List.of(), "mine", null));
        assertEquals(ErrorKind.RATE_LIMITED, e.kind());
        assertTrue(e.getMessage().startsWith("Your openai API key is rate-limited"), e.getMessage());
        assertEquals(List.of("mine"), seen);
        assertEquals(0, p.pool().cooldowns());
    }

    @Test
    void providerErrorsHaveTheirKindAndNeverTheKey() throws Exception {
        List<String> seen = new ArrayList<>();
        String url = openAiStandIn(Map.of("bad", 401, "broken", 500), seen);
        for (Map.Entry<String, ErrorKind> c : Map.of("bad", ErrorKind.BAD_KEY, "broken", ErrorKind.UPSTREAM).entrySet()) {
            ProviderException e = assertThrows(ProviderException.class,
                    () -> ask(keyed("openai", url), "hi", List.of(), c.getKey(), null));
            assertEquals(c.getValue(), e.kind(), e.getMessage());
            assertFalse(e.getMessage().contains(c.getKey()), e.getMessage());
        }
        ProviderException none = assertThrows(ProviderException.class, () -> ask(keyed("openai", url), "hi",
                List.of(), "", null));
        assertEquals(ErrorKind.BAD_KEY, none.kind());
        ProviderException down = assertThrows(ProviderException.class,
                () -> ask(keyed("openai", "http://127.0.0.1:1"), "hi", List.of(), "k", null));
        assertEquals(ErrorKind.UPSTREAM, down.kind());
        String html = serve(exchange -> reply(exchange, 502, "<html>Bad Gateway</html>"));
        ProviderException proxy = assertThrows(ProviderException.class,
                () -> ask(keyed("openai", html), "hi", List.of(), "k", null));
        assertEquals("openai failed with HTTP 502: Bad Gateway", proxy.getMessage());
        String garbage = serve(exchange -> reply(exchange, 200, "not json"));
        assertEquals(ErrorKind.UNEXPECTED, assertThrows(ProviderException.class,
                () -> ask(keyed("openai", garbage), "hi", List.of(), "k", null)).kind());
    }

    @Test
    void aStreamedAnswerArrivesInPiecesAndWhole() throws Exception {
        List<String> pieces = new ArrayList<>();
        String text = ask(keyed("openai", openAiStandIn(Map.of(), new ArrayList<>()), "k"), "stream it", List.of(), "",
                pieces::add);
        assertEquals("stand-in answer: stream it", text);
        assertTrue(pieces.size() >= 3, pieces.toString());
        assertEquals(text, String.join("", pieces));
    }

    @Test
    void aSlowProviderTimesOut() throws Exception {
        String silent = serve(exchange -> {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            reply(exchange, 200, "{}");
        });
        // A provider that sends its headers, then trickles: the whole call is bounded.
        String trickling = serve(exchange -> {
            exchange.sendResponseHeaders(200, 0);
            try (OutputStream out = exchange.getResponseBody()) {
                for (int i = 0; i < 10; i++) {
                    out.write("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n".getBytes(StandardCharsets.UTF_8));
                    out.flush();
                    Thread.sleep(100);
                }
            } catch (InterruptedException | IOException e) {
                // the client went away: what the test expects
            }
        });
        for (String url : List.of(silent, trickling)) {
            KeyedProvider p = new KeyedProvider("openai", "m", url, Duration.ofMillis(300),
                    new KeyPool(List.of("k"), Duration.ZERO));
            long started = System.nanoTime();
            ProviderException e = assertThrows(ProviderException.class, () -> ask(p, "hi", List.of(), "", s -> { }));
            assertEquals(ErrorKind.TIMEOUT, e.kind(), e.getMessage());
            assertEquals("openai did not answer within 0.3 s; try again later.", e.getMessage());
            assertTrue(System.nanoTime() - started < 900_000_000L, "bounded by LLM_TIMEOUT_SECONDS");
        }
    }

    @Test
    void stoppingTheWorkerEndsTheCall() throws Exception {
        String silent = serve(exchange -> {
            try {
                Thread.sleep(3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        StopSignal stopping = new StopSignal();
        new Thread(() -> {
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            stopping.raise();
        }).start();
        long started = System.nanoTime();
        KeyedProvider p = new KeyedProvider("openai", "m", silent, Duration.ofSeconds(5),
                new KeyPool(List.of("k"), Duration.ZERO));
        assertThrows(ProviderException.class, () -> p.ask("hi", List.of(), "", null, stopping));
        assertTrue(System.nanoTime() - started < 2_000_000_000L);
    }

    @Test
    void geminiAnswersAndRejectsAnInvalidKey() throws Exception {
        List<String> paths = new ArrayList<>();
        String url = serve(exchange -> {
            if (!"good".equals(exchange.getRequestHeaders().getFirst("x-goog-api-key"))) {
                reply(exchange, 400, "{\"error\":{\"code\":400,\"message\":\"API key not valid.\",\"status\":"
                        + "\"INVALID_ARGUMENT\",\"details\":[{\"reason\":\"API_KEY_INVALID\"}]}}");
                return;
            }
            paths.add(exchange.getRequestURI().getPath());
            reply(exchange, 200, "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"gem\"},{\"text\":\"ini\"}]},"
                    + "\"finishReason\":\"STOP\"}]}");
        });
        KeyedProvider p = keyed("gemini", url, "good");
        assertEquals("gemini", ask(p, "hi", List.of(), "", null));
        assertEquals(List.of("/v1beta/models/m:generateContent"), paths);
        ProviderException e = assertThrows(ProviderException.class, () -> ask(p, "hi", List.of(), "revoked", null));
        assertEquals(ErrorKind.BAD_KEY, e.kind());
        assertEquals("gemini rejected the API key (HTTP 400); check the key.", e.getMessage());
    }

    @Test
    void theOfflineAnswerSaysWhatItIs() throws ProviderException {
        List<String> pieces = new ArrayList<>();
        OfflineProvider o = new OfflineProvider("offline-echo", "gemini", Duration.ZERO);
        String text = ask(o, "two words", List.of(), "", pieces::add);
        assertTrue(text.startsWith("[offline answer, no LLM was asked] Your question has 2 words and 9 characters: "
                + "\"two words\"."), text);
        assertEquals(text, String.join("", pieces));
    }

    static final List<ChatMessage> CONVERSATION = List.of(
            new ChatMessage("user", "My name is Ana."), new ChatMessage("assistant", "Nice to meet you, Ana."),
            new ChatMessage("user", "I live in Lisbon."), new ChatMessage("assistant", "A lovely city."));

    /** Each provider gets the conversation, then the question, in its own form, whole or streamed. */
    @Test
    void theConversationGoesBeforeTheQuestion() throws Exception {
        record Case(String provider, String field, String whole, String streamed, String want) {
        }
        for (Case c : List.of(
                new Case("openai", "messages",
                        "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"Ana\"},\"finish_reason\":\"stop\"}]}",
                        "data: {\"choices\":[{\"delta\":{\"content\":\"Ana\"}}]}\n\ndata: [DONE]\n\n",
                        "[{\"role\":\"user\",\"content\":\"My name is Ana.\"},{\"role\":\"assistant\",\"content\":"
                                + "\"Nice to meet you, Ana.\"},{\"role\":\"user\",\"content\":\"I live in Lisbon.\"},"
                                + "{\"role\":\"assistant\",\"content\":\"A lovely city.\"},"
                                + "{\"role\":\"user\",\"content\":\"What is my name?\"}]"),
                new Case("gemini", "contents",
                        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Ana\"}]},\"finishReason\":\"STOP\"}]}",
                        "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Ana\"}]},\"finishReason\":\"STOP\"}]}\n\n",
                        "[{\"role\":\"user\",\"parts\":[{\"text\":\"My name is Ana.\"}]},"
                                + "{\"role\":\"model\",\"parts\":[{\"text\":\"Nice to meet you, Ana.\"}]},"
                                + "{\"role\":\"user\",\"parts\":[{\"text\":\"I live in Lisbon.\"}]},"
                                + "{\"role\":\"model\",\"parts\":[{\"text\":\"A lovely city.\"}]},"
                                + "{\"role\":\"user\",\"parts\":[{\"text\":\"What is my name?\"}]}]"))) {
            List<JsonObject> bodies = Collections.synchronizedList(new ArrayList<>());
            String url = serve(exchange -> {
                JsonObject body = body(exchange);
                bodies.add(body);
                boolean stream = body.has("stream") || exchange.getRequestURI().getPath().endsWith(":streamGenerateContent");
                reply(exchange, 200, stream ? c.streamed() : c.whole());
            });
            KeyedProvider p = keyed(c.provider(), url, "k");
            assertEquals("Ana", ask(p, "What is my name?", CONVERSATION, "", null));
            assertEquals("Ana", ask(p, "What is my name?", CONVERSATION, "", s -> { }));
            assertEquals(2, bodies.size());
            JsonElement want = JsonParser.parseString(c.want());
            for (JsonObject body : bodies) {
                assertEquals(want, body.get(c.field()), c.provider());
            }
        }
    }

    @Test
    void theOfflineAnswerCountsTheEarlierQuestions() throws ProviderException {
        OfflineProvider o = new OfflineProvider("offline-echo", "gemini", Duration.ZERO);
        String excerpt = "[offline answer, no LLM was asked] Your question has 4 words and 16 characters: "
                + "\"What is my name?\".";
        String hint = " This worker runs the offline provider because it has no LLM API key. For real answers, "
                + "configure GEMINI_API_KEYS, DEEPSEEK_API_KEYS or OPENAI_API_KEYS on the workers, or type your own "
                + "gemini API key in the chat.";
        assertEquals(excerpt + hint, ask(o, "What is my name?", List.of(), "", null));
        assertEquals(excerpt + " This conversation holds 1 earlier question." + hint,
                ask(o, "What is my name?", CONVERSATION.subList(0, 2), "", null));
        assertEquals(excerpt + " This conversation holds 2 earlier questions." + hint,
                ask(o, "What is my name?", CONVERSATION, "", null));
        // answers alone are no earlier question
        assertEquals(excerpt + hint, ask(o, "What is my name?", List.of(new ChatMessage("assistant", "Hi.")), "", null));
    }

    @Test
    void upstreamTextLosesTheKeyAndIsShortened() {
        String text = ProviderException.redact("bad key sk-123 " + "x".repeat(400), "sk-123");
        assertFalse(text.contains("sk-123"));
        assertTrue(text.startsWith("bad key [redacted] "));
        assertEquals(303, text.length());
    }
}
