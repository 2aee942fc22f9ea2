package edu.upb.aisystem.worker.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import edu.upb.aisystem.worker.bus.MqttBus;
import edu.upb.aisystem.worker.config.ConfigException;
import edu.upb.aisystem.worker.config.Settings;
import edu.upb.aisystem.worker.logging.Log;
import edu.upb.aisystem.worker.work.RecentTasks;
import edu.upb.aisystem.worker.work.WorkerState;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import org.junit.jupiter.api.Test;

class PayloadsTest {
    static Task parse(String json) throws MalformedPayloadException {
        return Payloads.parseTask(json.getBytes(StandardCharsets.UTF_8));
    }

    /** The session and the time name the task, so a session's second question is not a repeat. */
    @Test
    void aTaskOfTheOriginalProtocolIsNamedBySessionAndTime() throws MalformedPayloadException {
        Task got = parse("{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"q\",\"grpc_endpoint\":\"m:1\","
                + "\"timestamp\":1763779200000}");
        assertEquals("s@1763779200000", got.taskId());
        assertEquals(1, got.attempt());
        assertEquals(1763779200000L, got.timestamp());
        assertEquals("", got.apiKey());
        assertEquals(List.of(), got.history());
    }

    @Test
    void aTaskCarriesItsConversationOldestFirst() throws MalformedPayloadException {
        Task got = parse("{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"What is my name?\","
                + "\"grpc_endpoint\":\"m:1\",\"history\":[{\"role\":\"user\",\"content\":\"My name is Ana.\"},"
                + "{\"role\":\"assistant\",\"content\":\"Nice to meet you, Ana.\"}]}");
        assertEquals(List.of(new ChatMessage("user", "My name is Ana."),
                new ChatMessage("assistant", "Nice to meet you, Ana.")), got.history());
        assertFalse(got.toString().contains("Ana"), "a task's text never names the user's words");
        for (String empty : List.of("[]", "null")) {
            assertEquals(List.of(), parse("{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"q\","
                    + "\"grpc_endpoint\":\"m:1\",\"history\":" + empty + "}").history());
        }
    }

    @Test
    void attemptsAreWholeAndAtLeastOne() throws MalformedPayloadException {
        String base = "{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"q\",\"grpc_endpoint\":\"m:1\",";
        assertEquals(2, parse(base + "\"attempt\":2.9}").attempt());
        assertEquals(1, parse(base + "\"attempt\":-3}").attempt());
    }

    @Test
    void malformedTasksAreRefusedWithTheReason() {
        Map<String, String> cases = Map.of(
                "not json", "not JSON",
                "[1]", "JSON object",
                "{\"worker_id\":\"w\",\"session_id\":\"s\",\"grpc_endpoint\":\"m:1\"}", "'query'",
                "{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"\",\"grpc_endpoint\":\"m:1\"}",
                "'query' must not be empty",
                "{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"q\",\"grpc_endpoint\":\"m:1\",\"attempt\":\"2\"}",
                "'attempt' must be a number",
                "{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"q\",\"grpc_endpoint\":\"m:1\",\"attempt\":true}",
                "'attempt' must be a number",
                "{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"q\",\"grpc_endpoint\":\"m:1\",\"api_key\":7}",
                "'api_key' must be a string",
                "{worker_id:\"w\"}", "not JSON");
        cases.forEach((payload, reason) -> {
            MalformedPayloadException e = assertThrows(MalformedPayloadException.class, () -> parse(payload), payload);
            assertTrue(e.getMessage().contains(reason), payload + ": " + e.getMessage());
        });
        MalformedPayloadException binary = assertThrows(MalformedPayloadException.class,
                () -> Payloads.parseTask(new byte[] {(byte) 0xff, (byte) 0xfe, 0}));
        assertTrue(binary.getMessage().contains("not JSON"), binary.getMessage());
        for (String history : List.of("{\"role\":\"user\",\"content\":\"hi\"}", "\"hi\"",
                "[{\"role\":\"system\",\"content\":\"hi\"}]", "[{\"content\":\"hi\"}]", "[{\"role\":\"user\"}]",
                "[{\"role\":\"user\",\"content\":7}]", "[{\"role\":\"user\",\"content\":\"hi\"},\"hi\"]")) {
            String payload = "{\"worker_id\":\"w\",\"session_id\":\"s\",\"query\":\"q\",\"grpc_endpoint\":\"m:1\","
                    + "\"history\":" + history + "}";
            MalformedPayloadException e = assertThrows(MalformedPayloadException.class, () -> parse(payload), history);
            assertTrue(e.getMessage().contains("'history'"), history + ": " + e.getMessage());
        }
    }

    @Test
    void theMasterStatusIsOnlineOrOffline() throws MalformedPayloadException {
        assertEquals("online", Payloads.parseMasterStatus("{\"status\":\"online\",\"timestamp\":1}".getBytes(
                StandardCharsets.UTF_8)));
        assertThrows(MalformedPayloadException.class,
                () -> Payloads.parseMasterStatus("{\"status\":\"sleeping\"}".getBytes(StandardCharsets.UTF_8)));
    }

    @Test
    void statusNamesNoTaskBeforeTheFirst() {
        WorkerState state = new WorkerState("w");
        assertTrue(Json.write(state.report()).contains("\"status\":\"idle\",\"task_id\":null"),
                Json.write(state.report()));
        state.start("t1");
        assertTrue(Json.write(state.report()).contains("\"status\":\"busy\",\"task_id\":\"t1\""));
        state.finish();
        assertTrue(Json.write(state.report()).contains("\"status\":\"idle\",\"task_id\":\"t1\""));
        assertEquals(null, state.held());
    }

    @Test
    void aRedeliveryIsSeenOnceAndARequeueAgain() {
        RecentTasks recent = new RecentTasks(2);
        assertTrue(recent.firstTime("t", 1));
        assertFalse(recent.firstTime("t", 1));
        assertTrue(recent.firstTime("t", 2));
        recent.firstTime("u", 1);
        recent.firstTime("v", 1);
        assertTrue(recent.firstTime("t", 1), "the oldest delivery should have been forgotten");
    }

    @Test
    void logLinesQuoteTextAsPythonDoes() {
        assertEquals("'someone'", Quoting.quoted("someone"));
        assertEquals("'a\\nforged line'", Quoting.quoted("a\nforged line"));
        assertEquals("\"it's\"", Quoting.quoted("it's"));
    }

    @Test
    void aRegistrationNamesTheProviderOfAKeyTypedInTheChat() throws ConfigException {
        record Case(Map<String, String> env, String provider, String userKeyGoesTo) {
        }
        for (Case c : List.of(
                new Case(Map.of("OPENAI_API_KEYS", "sk-x"), "openai", "openai"),
                // A keyed worker sends a user's key to its own provider, whatever USER_KEY_PROVIDER says.
                new Case(Map.of("LLM_PROVIDER", "deepseek", "DEEPSEEK_API_KEYS", "sk-x", "USER_KEY_PROVIDER", "openai"),
                        "deepseek", "deepseek"),
                new Case(Map.of(), "offline", "gemini"),
                new Case(Map.of("LLM_PROVIDER", "offline", "USER_KEY_PROVIDER", "OpenAI"), "offline", "openai"))) {
            Settings s = Settings.load(c.env()::get);
            MqttBus bus = new MqttBus(s, Log.discard(), new WorkerState("w"), new ArrayBlockingQueue<>(1));
            String got = Json.write(bus.registration("idle"));
            assertTrue(got.contains("\"provider\":\"" + c.provider() + "\","), got);
            assertTrue(got.endsWith("\"user_key_provider\":\"" + c.userKeyGoesTo() + "\"}"), got);
            assertTrue(got.contains("\"language\":\"java\""), got);
            assertTrue(got.contains("\"instance_id\":\"" + bus.instanceId() + "\""), got);
        }
    }
}
