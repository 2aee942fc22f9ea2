package edu.upb.aisystem.worker.callback;

import edu.upb.aisystem.worker.config.Settings;
import edu.upb.aisystem.worker.logging.Log;
import edu.upb.aisystem.worker.rpc.ResultAck;
import edu.upb.aisystem.worker.rpc.TaskChunk;
import edu.upb.aisystem.worker.rpc.TaskResult;
import edu.upb.aisystem.worker.rpc.WorkerCallbackGrpc;
import edu.upb.aisystem.worker.work.StopSignal;
import io.grpc.CallOptions;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.handler.ssl.Java9AlpnClientContext;
import io.netty.handler.ssl.SslContext;
import io.grpc.stub.ClientCalls;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * Returns results to the master over gRPC, only to GRPC_ENDPOINTS: one long-lived channel each,
 * a deadline on every call, and a bounded retry with backoff on UNAVAILABLE and
 * DEADLINE_EXCEEDED. {@link #close} ends the calls in flight and refuses new ones, so nothing
 * leaves after the worker said goodbye.
 */
public final class ResultSender implements AutoCloseable {
    /**
     * The original assignment's name of SendResult (package worker): its TaskResult has our
     * field numbers 1-8, so the same message serves.
     */
    static final MethodDescriptor<TaskResult, ResultAck> ORIGINAL_SEND_RESULT =
            WorkerCallbackGrpc.getSendResultMethod().toBuilder()
                    .setFullMethodName("worker.WorkerCallback/SendResult").build();

    /** A chunk late by more than this is not worth the wait: the final answer follows anyway. */
    static final Duration CHUNK_TIMEOUT = Duration.ofSeconds(2);

    private final Log log;
    private final Duration timeout;
    private final List<Duration> backoffs;
    private final Map<String, ManagedChannel> channels = new LinkedHashMap<>();
    /** Cancelled by close: every call runs in it. */
    private final Context.CancellableContext closed = Context.current().withCancellation();
    private final Set<String> original = new HashSet<>();
    private final Set<String> noStreaming = new HashSet<>();

    public ResultSender(Settings settings, Log log) throws IOException {
        this.log = log;
        this.timeout = settings.grpcTimeout();
        this.backoffs = settings.resultBackoffs();
        SslContext tls = null;
        if (!settings.grpcTlsCaFile().isEmpty()) {
            // Checks the master's certificate against the CA, and gRPC checks its name against
            // the host dialled.
            tls = Java9AlpnClientContext.forHttp2(trusting(settings.grpcTlsCaFile()));
        }
        for (String endpoint : settings.grpcEndpoints()) {
            String target = settings.grpcConnectTo().isEmpty() ? endpoint : settings.grpcConnectTo();
            NettyChannelBuilder builder = NettyChannelBuilder.forTarget(target);
            if (tls == null) {
                builder.usePlaintext();
            } else {
                builder.sslContext(tls);
            }
            // Channels connect lazily, on the first call.
            channels.put(endpoint, builder.build());
        }
    }

    /** A JDK TLS context trusting the CA certificates of a PEM file. */
    static SSLContext trusting(String caFile) throws IOException {
        try (InputStream in = Files.newInputStream(Path.of(caFile))) {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            int index = 0;
            for (Certificate certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("ca-" + index++, certificate);
            }
            TrustManagerFactory trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            trust.init(store);
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(null, trust.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IOException(caFile + ": " + e.getMessage(), e);
        }
    }

    /** Whether endpoint is one of GRPC_ENDPOINTS (results go nowhere else). */
    public boolean allows(String endpoint) {
        return channels.containsKey(endpoint);
    }

    public String endpoints() {
        return String.join(", ", channels.keySet());
    }

    /**
     * True once the master accepted the result; false if it refused it, stayed away, or the
     * worker is stopping (the master then requeues the task).
     */
    public boolean send(StopSignal stopping, String endpoint, TaskResult result) {
        int attempts = backoffs.size() + 1;
        for (int attempt = 1; attempt <= attempts; attempt++) {
            if (stopping.raised() || closed.isCancelled()) {
                return false;
            }
            try {
                ResultAck ack = call(endpoint, result, attempt > 1);
                if (!ack.getSuccess()) {
                    // Final: the master no longer knows the task, or the token does not match.
                    log.warn("master refused the result of task %s: %s", result.getTaskId(), ack.getMessage());
                }
                return ack.getSuccess();
            } catch (StatusRuntimeException e) {
                if (closed.isCancelled()) {
                    return false;
                }
                Status.Code code = e.getStatus().getCode();
                if (code == Status.Code.UNIMPLEMENTED && useOriginal(endpoint)) {
                    return send(stopping, endpoint, result);
                }
                if ((code != Status.Code.UNAVAILABLE && code != Status.Code.DEADLINE_EXCEEDED)
                        || attempt == attempts) {
                    log.error("could not return the result of task %s to %s after %d attempt(s): %s %s",
                            result.getTaskId(), endpoint, attempt, goName(code), describe(e.getStatus()));
                    return false;
                }
                Duration pause = backoffs.get(attempt - 1);
                log.warn("master at %s: %s; retrying the result of task %s in %.1f s", endpoint, goName(code),
                        result.getTaskId(), pause.toMillis() / 1000.0);
                if (stopping.await(pause)) {
                    return false;
                }
            }
        }
        return false;
    }

    private ResultAck call(String endpoint, TaskResult result, boolean retry) {
        ManagedChannel channel = channels.get(endpoint);
        if (retry) {
            // gRPC's reconnect backoff grows to 120 s; a restarted master is back sooner.
            channel.resetConnectBackoff();
        }
        boolean useOriginal;
        synchronized (this) {
            useOriginal = original.contains(endpoint);
        }
        MethodDescriptor<TaskResult, ResultAck> method =
                useOriginal ? ORIGINAL_SEND_RESULT : WorkerCallbackGrpc.getSendResultMethod();
        CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
        return inClosedContext(() -> ClientCalls.blockingUnaryCall(channel, method, options, result));
    }

    /** Switches endpoint to the original service name; false if it already was. */
    private synchronized boolean useOriginal(String endpoint) {
        if (!original.add(endpoint)) {
            return false;
        }
        log.info("the master at %s speaks the original assignment's worker.WorkerCallback: results go "
                + "there by that name from now on", endpoint);
        return true;
    }

    /**
     * Passes part of an answer on, best effort: one try, a short deadline. False means stop
     * streaming this task (refused, unreachable, or a master without SendChunk, which is then
     * not asked again).
     */
    public boolean sendChunk(StopSignal stopping, String endpoint, TaskChunk chunk) {
        synchronized (this) {
            if (noStreaming.contains(endpoint) || original.contains(endpoint)) {
                return false;
            }
        }
        if (stopping.raised() || closed.isCancelled()) {
            return false;
        }
        try {
            CallOptions options = CallOptions.DEFAULT.withDeadlineAfter(CHUNK_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS);
            ResultAck ack = inClosedContext(() -> ClientCalls.blockingUnaryCall(channels.get(endpoint),
                    WorkerCallbackGrpc.getSendChunkMethod(), options, chunk));
            return ack.getSuccess();
        } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.UNIMPLEMENTED) {
                log.info("the master at %s takes no streamed chunks; sending whole answers", endpoint);
                synchronized (this) {
                    noStreaming.add(endpoint);
                }
            }
            return false;
        }
    }

    private <T> T inClosedContext(Callable<T> call) {
        try {
            return closed.call(call);
        } catch (StatusRuntimeException | IllegalStateException e) {
            throw e;
        } catch (Exception e) {
            throw Status.UNKNOWN.withDescription(e.toString()).asRuntimeException();
        }
    }

    /** Cancels the calls in flight, refuses new ones and closes the channels. */
    @Override
    public void close() {
        closed.cancel(null);
        for (ManagedChannel channel : channels.values()) {
            channel.shutdownNow();
        }
    }

    /** A status code as the Go and Python workers name it: Unavailable, DeadlineExceeded. */
    static String goName(Status.Code code) {
        StringBuilder name = new StringBuilder();
        for (String word : code.name().split("_")) {
            name.append(word.charAt(0)).append(word.substring(1).toLowerCase(Locale.ROOT));
        }
        return name.toString();
    }

    private static String describe(Status status) {
        String description = status.getDescription();
        if (description == null && status.getCause() != null) {
            description = status.getCause().toString();
        }
        return description == null ? "" : description;
    }
}
