package edu.upb.aisystem.worker.config;

import edu.upb.aisystem.worker.logging.Level;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * The settings of services/README.md's worker table, read once from the environment with the
 * Python worker's names, defaults and checks.
 */
public record Settings(
        MqttSettings mqtt,
        String workerId,
        String node,
        String hostname,
        String provider,
        String model,
        String baseUrl,
        /* A key typed in the chat goes to this provider when the worker itself runs offline. */
        String userKeyProvider,
        List<String> apiKeys,
        Duration llmTimeout,
        Duration keyCooldown,
        Duration simulatedWork,
        List<String> grpcEndpoints,
        String grpcConnectTo,
        String grpcTlsCaFile,
        Duration grpcTimeout,
        int grpcMaxAttempts,
        Duration taskTimeout,
        Duration heartbeat,
        boolean publishTaskStatus,
        String healthFile,
        String metricsHost,
        int metricsPort,
        boolean streamAnswers,
        Duration offlineWordTime,
        Level logLevel,
        Level mqttLogLevel) {

    public static final List<String> PROVIDERS = List.of("offline", "gemini", "deepseek", "openai");

    /** Each keyed provider's key pool, in the order LLM_PROVIDER=auto tries them. */
    private static final List<String[]> KEY_VARIABLES = List.of(
            new String[] {"gemini", "GEMINI_API_KEYS"},
            new String[] {"deepseek", "DEEPSEEK_API_KEYS"},
            new String[] {"openai", "OPENAI_API_KEYS"});

    public static final Map<String, String> DEFAULT_MODELS = Map.of(
            "offline", "offline-echo",
            "gemini", "gemini-2.5-flash",
            "deepseek", "deepseek-chat",
            "openai", "gpt-4o-mini");

    public static final Map<String, String> DEFAULT_BASE_URLS = Map.of(
            "gemini", "https://generativelanguage.googleapis.com",
            "deepseek", "https://api.deepseek.com",
            "openai", "https://api.openai.com/v1");

    public static final Duration RESULT_FIRST_BACKOFF = Duration.ofMillis(500);
    public static final Duration RESULT_MAX_BACKOFF = Duration.ofSeconds(5);

    public Settings {
        apiKeys = List.copyOf(apiKeys);
        grpcEndpoints = List.copyOf(grpcEndpoints);
    }

    /** Reads every setting from the process's environment. */
    public static Settings fromEnvironment() throws ConfigException {
        return load(System::getenv);
    }

    /** Reads every setting from lookup (System::getenv in the program). */
    public static Settings load(UnaryOperator<String> lookup) throws ConfigException {
        Env env = new Env(lookup);
        String hostname = localHostname();
        MqttSettings mqtt = loadMqtt(env);
        String requested = env.str("LLM_PROVIDER", "auto").toLowerCase(Locale.ROOT);
        if (!requested.equals("auto") && !PROVIDERS.contains(requested)) {
            throw new ConfigException("LLM_PROVIDER must be one of auto, " + String.join(", ", PROVIDERS)
                    + "; got " + Env.goQuote(requested));
        }
        String provider = "offline";
        List<String> keys = List.of();
        if (!requested.equals("offline")) {
            for (String[] pair : KEY_VARIABLES) {
                if (!requested.equals("auto") && !requested.equals(pair[0])) {
                    continue;
                }
                List<String> found = env.secretList(pair[1]);
                if (!requested.equals("auto") || !found.isEmpty()) {
                    provider = pair[0];
                    keys = found;
                    break;
                }
            }
        }
        String userKeyProvider = env.str("USER_KEY_PROVIDER", "gemini").toLowerCase(Locale.ROOT);
        if (!DEFAULT_BASE_URLS.containsKey(userKeyProvider)) {
            throw new ConfigException("USER_KEY_PROVIDER must be one of gemini, deepseek, openai; got "
                    + Env.goQuote(userKeyProvider));
        }
        Duration llmTimeout = Numbers.ofSeconds(env.number("LLM_TIMEOUT_SECONDS", 30, 0.1));
        Duration keyCooldown = Numbers.ofSeconds(env.number("KEY_COOLDOWN_SECONDS", 60, 0));
        Duration simulatedWork = Numbers.ofSeconds(env.number("SIMULATED_WORK_SECONDS", 10, 0));
        Duration grpcTimeout = Numbers.ofSeconds(env.number("GRPC_TIMEOUT_SECONDS", 10, 0.1));
        Duration taskTimeout = Numbers.ofSeconds(env.number("TASK_TIMEOUT_SECONDS", 120, 1));
        Duration heartbeat = Numbers.ofSeconds(env.number("HEARTBEAT_SECONDS", 30, 1));
        Duration wordTime = Numbers.ofSeconds(env.number("OFFLINE_WORD_SECONDS", 0.01, 0));
        List<String> endpoints = env.endpoints("GRPC_ENDPOINTS", "master:50051");
        String connectTo = env.optionalEndpoint("GRPC_CONNECT_TO");
        String grpcCa = env.caFile("GRPC_TLS_CA_FILE");
        int maxAttempts = env.integer("GRPC_MAX_ATTEMPTS", 5, 1);
        boolean publishStatus = env.bool("PUBLISH_TASK_STATUS", true);
        boolean stream = env.bool("STREAM_ANSWERS", true);
        String healthFile = env.str("HEALTH_FILE", "/tmp/ai-worker.healthy");
        String metricsHost = env.str("METRICS_HOST", "0.0.0.0");
        int metricsPort = env.integer("METRICS_PORT", 9464, 0);
        if (metricsPort > 65535) {
            throw new ConfigException("METRICS_PORT must be at most 65535, got " + metricsPort);
        }
        Level logLevel = level(env, "LOG_LEVEL");
        Level mqttLogLevel = level(env, "MQTT_LOG_LEVEL");
        Settings settings = new Settings(mqtt, env.str("WORKER_ID", "java-worker-" + hostname),
                env.str("NODE_NAME", hostname), hostname, provider,
                env.str("LLM_MODEL", DEFAULT_MODELS.get(provider)), env.str("LLM_BASE_URL", ""),
                userKeyProvider, keys, llmTimeout, keyCooldown, simulatedWork, endpoints, connectTo,
                grpcCa, grpcTimeout, maxAttempts, taskTimeout, heartbeat, publishStatus, healthFile,
                metricsHost, metricsPort, stream, wordTime, logLevel, mqttLogLevel);
        settings.checkWorstCase();
        return settings;
    }

    private static MqttSettings loadMqtt(Env env) throws ConfigException {
        String host = env.str("MQTT_HOST", "localhost");
        String username = env.str("MQTT_USERNAME", "");
        String ca = env.caFile("MQTT_TLS_CA_FILE");
        int port = env.integer("MQTT_PORT", ca.isEmpty() ? 1883 : 8883, 1);
        String password = env.secret("MQTT_PASSWORD");
        String prefix = trimSlashes(env.str("MQTT_TOPIC_PREFIX", "upb"));
        int keepalive = env.integer("MQTT_KEEPALIVE_SECONDS", 30, 5);
        return new MqttSettings(host, port, username, password, prefix, Duration.ofSeconds(keepalive), ca);
    }

    private static Level level(Env env, String variable) throws ConfigException {
        String name = env.str(variable, "INFO");
        return Level.parse(name).orElseThrow(() -> new ConfigException(variable
                + " must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got " + Env.goQuote(name)));
    }

    private static String trimSlashes(String text) {
        int start = 0;
        int end = text.length();
        while (start < end && text.charAt(start) == '/') {
            start++;
        }
        while (end > start && text.charAt(end - 1) == '/') {
            end--;
        }
        return text.substring(start, end);
    }

    /** The host name as the kernel has it (a container's id), without a DNS lookup. */
    static String localHostname() {
        try {
            String name = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
            if (!name.isEmpty()) {
                return name;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: ask the JDK
        }
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    /**
     * The provider a key typed in the chat is used with on this worker: its own, or
     * USER_KEY_PROVIDER when it runs offline (it has no LLM of its own to send the key to).
     */
    public String keyProvider() {
        return provider.equals("offline") ? userKeyProvider : provider;
    }

    /** The pauses between the GRPC_MAX_ATTEMPTS calls of one result. */
    public List<Duration> resultBackoffs() {
        List<Duration> pauses = new ArrayList<>();
        Duration pause = RESULT_FIRST_BACKOFF;
        for (int i = 1; i < grpcMaxAttempts; i++) {
            pauses.add(pause);
            pause = pause.multipliedBy(2);
            if (pause.compareTo(RESULT_MAX_BACKOFF) > 0) {
                pause = RESULT_MAX_BACKOFF;
            }
        }
        return pauses;
    }

    /**
     * Refuses limits that let one task outlast the master's deadline, after which it gives the
     * task to another worker: this one's work would go to waste.
     */
    private void checkWorstCase() throws ConfigException {
        Duration backoff = Duration.ZERO;
        for (Duration pause : resultBackoffs()) {
            backoff = backoff.plus(pause);
        }
        Duration worst = llmTimeout.plus(simulatedWork).plus(grpcTimeout.multipliedBy(grpcMaxAttempts))
                .plus(backoff);
        if (worst.compareTo(taskTimeout) <= 0) {
            return;
        }
        throw new ConfigException("the worst case of one task, LLM_TIMEOUT_SECONDS ("
                + Numbers.format(llmTimeout) + ") + SIMULATED_WORK_SECONDS (" + Numbers.format(simulatedWork)
                + ") + GRPC_MAX_ATTEMPTS (" + grpcMaxAttempts + ") x GRPC_TIMEOUT_SECONDS ("
                + Numbers.format(grpcTimeout) + ") + " + Numbers.format(backoff)
                + " s of backoff between those calls = " + Numbers.format(worst)
                + " s, exceeds TASK_TIMEOUT_SECONDS (" + Numbers.format(taskTimeout)
                + ", the master's deadline); lower those or raise TASK_TIMEOUT_SECONDS on the master "
                + "and the workers");
    }

    /** The start-up line: never a key, only how many. */
    public String summary(String instanceId) {
        return "worker " + workerId + " (instance " + instanceId + ") on node " + node + ": provider "
                + provider + ", model " + model + ", " + apiKeys.size() + " configured key(s), simulated work "
                + Numbers.format(simulatedWork) + " s, results to " + String.join(", ", grpcEndpoints)
                + (grpcTlsCaFile.isEmpty() ? "" : " over TLS");
    }

    @Override
    public String toString() { // never a key
        return "Settings[workerId=" + workerId + ", provider=" + provider + ", model=" + model + ", "
                + apiKeys.size() + " key(s), mqtt=" + mqtt + "]";
    }
}
