package edu.upb.aisystem.worker.bus;

import edu.upb.aisystem.worker.config.Numbers;
import edu.upb.aisystem.worker.config.Settings;
import edu.upb.aisystem.worker.health.HealthFile;
import edu.upb.aisystem.worker.logging.Level;
import edu.upb.aisystem.worker.logging.Log;
import edu.upb.aisystem.worker.protocol.Json;
import edu.upb.aisystem.worker.protocol.LogRecord;
import edu.upb.aisystem.worker.protocol.MalformedPayloadException;
import edu.upb.aisystem.worker.protocol.Payloads;
import edu.upb.aisystem.worker.protocol.Quoting;
import edu.upb.aisystem.worker.protocol.Registration;
import edu.upb.aisystem.worker.protocol.Task;
import edu.upb.aisystem.worker.protocol.Topics;
import edu.upb.aisystem.worker.protocol.WorkerStatus;
import edu.upb.aisystem.worker.work.Received;
import edu.upb.aisystem.worker.work.RecentTasks;
import edu.upb.aisystem.worker.work.WorkerState;
import java.lang.reflect.Field;
import java.net.URI;
import java.security.SecureRandom;
import java.security.cert.CertificateException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.SSLException;
import org.fusesource.hawtbuf.Buffer;
import org.fusesource.hawtbuf.UTF8Buffer;
import org.fusesource.mqtt.client.Callback;
import org.fusesource.mqtt.client.CallbackConnection;
import org.fusesource.mqtt.client.ExtendedListener;
import org.fusesource.mqtt.client.MQTT;
import org.fusesource.mqtt.client.QoS;
import org.fusesource.mqtt.client.Topic;
import org.fusesource.mqtt.client.Tracer;
import org.fusesource.mqtt.codec.MQTTFrame;

/**
 * The worker's MQTT side: registration, status, heartbeat, logs, and tasks into the runner's
 * queue. The client's callbacks only parse and enqueue.
 *
 * <p>The MQTT client speaks MQTT 3.1.1, so the session is kept as protos/README.md says for
 * that version: the process's first connection is clean (a previous life's queued tasks are
 * dropped; the master requeues them), and every later one, automatic reconnections included,
 * resumes the session, so a task published while the connection was down arrives.
 */
public final class MqttBus {
    static final Duration GOODBYE_TIMEOUT = Duration.ofSeconds(2);
    static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    static final Duration MAX_CONNECT_PAUSE = Duration.ofSeconds(5);
    public static final int TASK_BUFFER = 16;
    /** The same reason for failing to connect is logged again after this. */
    static final Duration CONNECT_FAILURE_REPEAT = Duration.ofMinutes(1);
    private static final int PUBLISH_TYPE = 3;

    private final Settings settings;
    private final Log log;
    private final WorkerState state;
    private final HealthFile health;
    private final BlockingQueue<Received> tasks;
    private final RecentTasks recent = new RecentTasks(256);
    private final Topics topics;
    private final String taskTopic;
    private final String instanceId;
    private final ScheduledExecutorService heartbeat;

    private volatile CallbackConnection connection;
    private volatile boolean connected;
    private volatile boolean closing;
    /** A connection was made before (only the connection's callbacks use it). */
    private boolean reconnecting;
    /** Whether the PUBLISH being delivered was retained (the tracer sees the frame first). */
    private volatile boolean deliveringRetained;
    /** The task last reported stuck, reported once. */
    private String stuck;
    private final CountDownLatch connectDone = new CountDownLatch(1);
    private final CountDownLatch closingSignal = new CountDownLatch(1);
    private Thread connector;

    public MqttBus(Settings settings, Log log, WorkerState state, BlockingQueue<Received> tasks) {
        this.settings = settings;
        this.log = log;
        this.state = state;
        this.health = new HealthFile(settings.healthFile());
        this.tasks = tasks;
        this.topics = new Topics(settings.mqtt().topicPrefix());
        this.taskTopic = topics.tasks(settings.workerId());
        this.instanceId = newInstanceId();
        this.heartbeat = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "heartbeat");
            thread.setDaemon(true);
            return thread;
        });
    }

    static String newInstanceId() {
        byte[] id = new byte[16];
        new SecureRandom().nextBytes(id);
        return HexFormat.of().formatHex(id);
    }

    public String instanceId() {
        return instanceId;
    }

    private MQTT options(boolean clean) throws Exception {
        MQTT mqtt = new MQTT();
        String scheme = settings.mqtt().tls() ? "tls" : "tcp";
        mqtt.setHost(new URI(scheme, null, settings.mqtt().host(), settings.mqtt().port(), null, null, null));
        if (settings.mqtt().tls()) {
            // Verifies the broker's certificate against the CA, and its name against MQTT_HOST.
            mqtt.setSslContext(TrustedCa.context(settings.mqtt().tlsCaFile(), settings.mqtt().host()));
        }
        mqtt.setClientId(settings.workerId()); // the broker's ACL lets a client read only its own tasks
        mqtt.setVersion("3.1.1");
        mqtt.setCleanSession(clean);
        mqtt.setKeepAlive((short) Math.min(Short.MAX_VALUE, settings.mqtt().keepalive().toSeconds()));
        if (!settings.mqtt().username().isEmpty()) {
            mqtt.setUserName(settings.mqtt().username());
            mqtt.setPassword(settings.mqtt().password());
        }
        WorkerStatus will = new WorkerStatus(settings.workerId(), "offline", null, Json.nowMillis());
        mqtt.setWillTopic(topics.status());
        mqtt.setWillMessage(Json.write(will));
        mqtt.setWillQos(QoS.AT_LEAST_ONCE);
        mqtt.setWillRetain(false);
        // This class retries the first connection itself (and says why it fails); the client
        // reconnects a lasting connection by itself, 1 s to 5 s apart.
        mqtt.setConnectAttemptsMax(0);
        mqtt.setReconnectAttemptsMax(clean ? 0 : -1);
        mqtt.setReconnectDelay(1000);
        mqtt.setReconnectDelayMax(MAX_CONNECT_PAUSE.toMillis());
        mqtt.setReconnectBackOffMultiplier(2);
        mqtt.setTracer(new RetainedFlag());
        return mqtt;
    }

    /** Connects in the background, keeps reconnecting, and starts the heartbeat. */
    public void start() {
        connector = new Thread(this::connect, "mqtt-connect");
        connector.setDaemon(true);
        connector.start();
        long period = settings.heartbeat().toMillis();
        heartbeat.scheduleAtFixedRate(this::beat, period, period, TimeUnit.MILLISECONDS);
    }

    /**
     * Makes the clean first connection, then the lasting one, retrying both until they succeed.
     * The client reconnects the lasting one by itself from then on.
     */
    private void connect() {
        try {
            FailureLog failures = new FailureLog();
            Duration pause = Duration.ofSeconds(1);
            boolean cleaned = false;
            while (!closing) {
                Optional<Throwable> failure = Optional.empty();
                if (!cleaned) {
                    failure = cleanStart();
                    cleaned = failure.isEmpty();
                }
                if (cleaned) {
                    failure = connectLasting();
                    if (failure.isEmpty()) {
                        return;
                    }
                }
                if (closing) {
                    return;
                }
                failures.report(failure.get());
                if (closingSignal.await(pause.toMillis(), TimeUnit.MILLISECONDS)) {
                    return;
                }
                pause = pause.multipliedBy(2);
                if (pause.compareTo(MAX_CONNECT_PAUSE) > 0) {
                    pause = MAX_CONNECT_PAUSE;
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            connectDone.countDown();
        }
    }

    /** Drops whatever session the broker kept for this client id. */
    private Optional<Throwable> cleanStart() throws InterruptedException {
        CallbackConnection clean;
        try {
            clean = options(true).callbackConnection();
        } catch (Exception e) {
            return Optional.of(e);
        }
        clean.listener(new IgnoringListener());
        Optional<Throwable> failure = await(clean, false);
        if (failure.isEmpty()) {
            CountDownLatch gone = new CountDownLatch(1);
            // A clean disconnect: the broker sends no Last Will.
            clean.getDispatchQueue().execute(() -> clean.disconnect(new Done(gone)));
            gone.await(1, TimeUnit.SECONDS);
        }
        return failure;
    }

    private Optional<Throwable> connectLasting() throws InterruptedException {
        CallbackConnection lasting;
        try {
            lasting = options(false).callbackConnection();
        } catch (Exception e) {
            return Optional.of(e);
        }
        lasting.listener(new BusListener());
        connection = lasting;
        return await(lasting, true);
    }

    /** Connects and waits for the broker's answer; empty once connected. */
    private Optional<Throwable> await(CallbackConnection candidate, boolean lasting) throws InterruptedException {
        CountDownLatch answered = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        candidate.connect(new Callback<Void>() {
            @Override
            public void onSuccess(Void value) {
                answered.countDown();
            }

            @Override
            public void onFailure(Throwable cause) {
                failure.set(cause);
                answered.countDown();
            }
        });
        long deadline = System.nanoTime() + CONNECT_TIMEOUT.toNanos();
        while (!answered.await(100, TimeUnit.MILLISECONDS)) {
            if (closing || System.nanoTime() > deadline) {
                failure.compareAndSet(null, new java.util.concurrent.TimeoutException(
                        "no answer within " + Numbers.format(CONNECT_TIMEOUT) + "s"));
                break;
            }
        }
        if (failure.get() != null) {
            if (lasting) {
                connection = null;
            }
            candidate.getDispatchQueue().execute(() -> {
                try {
                    candidate.kill(null);
                } catch (RuntimeException e) {
                    // never connected: nothing to end
                }
            });
            return Optional.of(failure.get());
        }
        return Optional.empty();
    }

    /**
     * Says why the broker cannot be reached, once per reason and minute: an operator needs the
     * reason once, not every few seconds.
     */
    private final class FailureLog {
        private String last;
        private long at;

        void report(Throwable failure) {
            String reason = reason(failure);
            if (reason.equals(last) && System.nanoTime() - at < CONNECT_FAILURE_REPEAT.toNanos()) {
                return;
            }
            last = reason;
            at = System.nanoTime();
            log.warn("cannot connect to the MQTT broker at %s:%d: %s; retrying", settings.mqtt().host(),
                    settings.mqtt().port(), reason);
        }
    }

    static String reason(Throwable failure) {
        boolean certificate = false;
        String text = null;
        for (Throwable cause = failure; cause != null; cause = cause.getCause()) {
            if (cause instanceof CertificateException || cause instanceof SSLException) {
                certificate = true;
            }
            if (text == null && cause.getMessage() != null) {
                text = cause.getMessage();
            }
        }
        if (text == null) {
            text = failure.getClass().getSimpleName();
        }
        if (failure instanceof java.net.ConnectException && !text.contains("refused")) {
            text = "connection refused: " + text;
        }
        // The words OpenSSL (and so the Python worker) uses, for one search across workers.
        return certificate ? "certificate verify failed: " + text : text;
    }

    // --- the client's callbacks ---------------------------------------------------------------

    /** Notes the retain flag of each PUBLISH before the listener gets its payload. */
    private final class RetainedFlag extends Tracer {
        @Override
        public void onReceive(MQTTFrame frame) {
            int header = Header.of(frame);
            if (((header & 0xf0) >>> 4) == PUBLISH_TYPE) {
                deliveringRetained = (header & 0x01) != 0;
            }
        }
    }

    private final class BusListener implements ExtendedListener {
        @Override
        public void onConnected() {
            connected = true;
            CallbackConnection current = connection;
            if (current != null) {
                current.subscribe(new Topic[] {new Topic(taskTopic, QoS.AT_LEAST_ONCE),
                    new Topic(topics.masterStatus(), QoS.AT_LEAST_ONCE)}, new Callback<byte[]>() {
                        @Override
                        public void onSuccess(byte[] granted) {
                            if (granted.length > 0 && (granted[0] & 0x80) != 0) {
                                log.error("could not subscribe to %s: the broker refused it", taskTopic);
                            }
                        }

                        @Override
                        public void onFailure(Throwable failure) {
                            log.error("could not subscribe to %s: %s", taskTopic, reason(failure));
                        }
                    });
            }
            register();
            refreshHealth();
            // The client does not say whether the broker kept the session.
            String session = reconnecting ? "resuming its session" : "new session";
            reconnecting = true;
            log.info("connected to %s:%d as %s (provider %s, %s)", settings.mqtt().host(), settings.mqtt().port(),
                    settings.workerId(), settings.provider(), session);
        }

        @Override
        public void onDisconnected() {
            connected = false;
            synchronized (health) {
                health.remove();
            }
            if (!closing) {
                log.warn("disconnected from the broker; reconnecting");
            }
        }

        @Override
        public void onPublish(UTF8Buffer topic, Buffer body, Callback<Callback<Void>> ack) {
            boolean retained = deliveringRetained;
            ack.onSuccess(null);
            onMessage(topic.toString(), body.toByteArray(), retained);
        }

        @Override
        @Deprecated
        public void onPublish(UTF8Buffer topic, Buffer body, Runnable ack) {
            ack.run(); // not called: the client calls the other onPublish of an ExtendedListener
        }

        @Override
        public void onFailure(Throwable failure) {
            connected = false;
            synchronized (health) {
                health.remove();
            }
            if (closing) {
                return;
            }
            log.warn("lost the connection to the MQTT broker at %s:%d: %s; reconnecting", settings.mqtt().host(),
                    settings.mqtt().port(), reason(failure));
            Thread again = new Thread(MqttBus.this::reconnectAfterFailure, "mqtt-connect");
            again.setDaemon(true);
            again.start();
        }
    }

    /** After the client gave a connection up for good: a new lasting one, retried until made. */
    private void reconnectAfterFailure() {
        FailureLog failures = new FailureLog();
        Duration pause = Duration.ofSeconds(1);
        try {
            while (!closing) {
                Optional<Throwable> failure = connectLasting();
                if (failure.isEmpty() || closing) {
                    return;
                }
                failures.report(failure.get());
                if (closingSignal.await(pause.toMillis(), TimeUnit.MILLISECONDS)) {
                    return;
                }
                pause = pause.multipliedBy(2).compareTo(MAX_CONNECT_PAUSE) > 0 ? MAX_CONNECT_PAUSE
                        : pause.multipliedBy(2);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    void onMessage(String topic, byte[] payload, boolean retained) {
        if (topic.equals(taskTopic)) {
            onTask(payload);
        } else if (topic.equals(topics.masterStatus())) {
            String status;
            try {
                status = Payloads.parseMasterStatus(payload);
            } catch (MalformedPayloadException e) {
                log.warn("dropped a malformed master status: %s", e.getMessage());
                return;
            }
            // The retained copy comes with every (re)subscription, right after we registered.
            if (status.equals("online") && !retained) {
                log.info("master is online; registering again");
                register();
            }
        }
    }

    void onTask(byte[] payload) {
        long at = System.nanoTime();
        Task task;
        try {
            task = Payloads.parseTask(payload);
        } catch (MalformedPayloadException e) {
            log.warn("dropped a malformed task: %s", e.getMessage());
            return;
        }
        if (!task.workerId().equals(settings.workerId())) {
            log.warn("dropped task %s addressed to worker %s", task.taskId(), Quoting.quoted(task.workerId()));
        } else if (!recent.firstTime(task.taskId(), task.attempt())) {
            log.info("dropped a redelivery of task %s (attempt %d)", task.taskId(), task.attempt());
        } else if (!tasks.offer(new Received(task, at))) {
            // Not while the master hands out one task at a time; it requeues on our idle.
            log.warn("dropped task %s: %d tasks are already waiting", task.taskId(), TASK_BUFFER);
        }
    }

    // --- what we tell the master --------------------------------------------------------------

    /**
     * Sends at once if connected, else drops: every connection registers again with the current
     * state, which is what a dropped status would have said.
     */
    private boolean publish(String topic, QoS qos, byte[] payload, Callback<Void> done) {
        CallbackConnection current = connection;
        if (!connected || current == null) {
            return false;
        }
        current.getDispatchQueue().execute(() -> current.publish(topic, payload, qos, false,
                done != null ? done : new Done(null)));
        return true;
    }

    public void publishStatus(WorkerStatus status) {
        // After the goodbye, a late idle from the runner must not revive us at the master.
        if (!closing) {
            publish(topics.status(), QoS.AT_LEAST_ONCE, Json.bytes(status), null);
        }
    }

    public void publishLog(Level level, String message, Instant at) {
        LogRecord record = new LogRecord(at.toEpochMilli(), "worker:" + settings.workerId(), message, level.name());
        publish(topics.logs(), QoS.AT_MOST_ONCE, Json.bytes(record), null); // best effort: dropped while away
    }

    void register() {
        WorkerStatus status = state.report();
        publish(topics.register(), QoS.AT_LEAST_ONCE, Json.bytes(registration(status.status())), null);
        publishStatus(status);
    }

    /** What register announces, built apart so that a test needs no broker. */
    public Registration registration(String status) {
        return new Registration(settings.workerId(), "java", settings.hostname(), settings.node(),
                settings.provider(), status, Json.nowMillis(), instanceId, settings.keyProvider());
    }

    private void beat() {
        if (closing) {
            return;
        }
        // The registration too: a master that never announces itself (the original
        // assignment's) learns of a worker started before it within a heartbeat.
        register();
        refreshHealth();
    }

    /** Touches HEALTH_FILE if connected and not stuck on a task; removes it if stuck. */
    void refreshHealth() {
        Optional<WorkerState.Busy> busy = state.busy();
        boolean isStuck = busy.isPresent() && busy.get().time().compareTo(settings.taskTimeout()) > 0;
        synchronized (health) {
            if (isStuck && !busy.get().taskId().equals(stuck)) {
                stuck = busy.get().taskId();
                log.error("task %s has been running for %.0f s, longer than TASK_TIMEOUT_SECONDS (%s s): "
                        + "reporting this worker unhealthy", stuck, busy.get().time().toMillis() / 1000.0,
                        Numbers.format(settings.taskTimeout()));
            }
            if (isStuck) {
                health.remove();
            } else if (connected && !closing) {
                health.touch();
            }
        }
    }

    /**
     * Reports offline, naming the task held if any (a clean disconnect sends no Last Will, and
     * the master requeues that task), and disconnects.
     */
    public void stop() {
        closing = true;
        closingSignal.countDown();
        heartbeat.shutdownNow();
        try {
            connectDone.await(CONNECT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (health) {
            health.remove();
        }
        WorkerStatus goodbye = new WorkerStatus(settings.workerId(), "offline", state.held(), Json.nowMillis());
        CountDownLatch acknowledged = new CountDownLatch(1);
        boolean[] delivered = {false};
        boolean sent = publish(topics.status(), QoS.AT_LEAST_ONCE, Json.bytes(goodbye), new Callback<Void>() {
            @Override
            public void onSuccess(Void value) {
                delivered[0] = true;
                acknowledged.countDown();
            }

            @Override
            public void onFailure(Throwable failure) {
                acknowledged.countDown();
            }
        });
        boolean ok = false;
        try {
            ok = sent && acknowledged.await(GOODBYE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS) && delivered[0];
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!ok) {
            // No DISCONNECT then: the connection ends with the process, and the broker sends
            // our Last Will instead, which also makes the master requeue the task.
            log.warn("could not report offline before disconnecting");
            return;
        }
        CallbackConnection current = connection;
        connected = false;
        CountDownLatch gone = new CountDownLatch(1);
        current.getDispatchQueue().execute(() -> current.disconnect(new Done(gone)));
        try {
            gone.await(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Counts a latch down when the client is done, whatever the outcome. */
    private static final class Done implements Callback<Void> {
        private final CountDownLatch latch;

        Done(CountDownLatch latch) {
            this.latch = latch;
        }

        @Override
        public void onSuccess(Void value) {
            if (latch != null) {
                latch.countDown();
            }
        }

        @Override
        public void onFailure(Throwable failure) {
            if (latch != null) {
                latch.countDown();
            }
        }
    }

    /** The listener of the clean first connection, which only drops the old session. */
    private static final class IgnoringListener implements ExtendedListener {
        @Override
        public void onConnected() {
        }

        @Override
        public void onDisconnected() {
        }

        @Override
        public void onPublish(UTF8Buffer topic, Buffer body, Callback<Callback<Void>> ack) {
            ack.onSuccess(null);
        }

        @Override
        @Deprecated
        public void onPublish(UTF8Buffer topic, Buffer body, Runnable ack) {
            ack.run();
        }

        @Override
        public void onFailure(Throwable failure) {
        }
    }

    /** The fixed header of a frame, which the client keeps to itself. */
    private static final class Header {
        private static final Field FIELD = field();

        private static Field field() {
            try {
                Field field = MQTTFrame.class.getSuperclass().getDeclaredField("header");
                field.setAccessible(true);
                return field;
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null;
            }
        }

        /** The header byte; 0x30 (a PUBLISH, not retained) when it cannot be read. */
        static int of(MQTTFrame frame) {
            try {
                return FIELD == null ? 0x30 : ((Byte) FIELD.get(frame)) & 0xff;
            } catch (ReflectiveOperationException | RuntimeException e) {
                return 0x30;
            }
        }
    }
}
