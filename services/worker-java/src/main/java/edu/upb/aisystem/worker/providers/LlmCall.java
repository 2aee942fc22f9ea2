package edu.upb.aisystem.worker.providers;

import edu.upb.aisystem.worker.config.Numbers;
import edu.upb.aisystem.worker.protocol.Json;
import edu.upb.aisystem.worker.work.StopSignal;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Flow;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * The HTTP side every keyed provider shares: POST a JSON body, read the answer line by line,
 * and turn what goes wrong on the way (timeout, refused connection, HTTP error) into a
 * {@link ProviderException}. LLM_TIMEOUT_SECONDS bounds the whole call, so an API that
 * trickles its answer cannot hold the worker.
 */
final class LlmCall {
    private static final int MAX_ERROR_BODY = 64 << 10;
    private static final long MAX_BODY = 8 << 20;

    final String provider;
    private final Duration timeout;
    private final HttpClient client;

    LlmCall(String provider, Duration timeout) {
        this.provider = provider;
        this.timeout = timeout;
        // One client per provider: connections are reused across questions and keys.
        this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(timeout).build();
    }

    /** An HTTP status other than 200; each wire format reads its own errors. */
    static final class HttpFailure extends Exception {
        private static final long serialVersionUID = 1L;
        final int status;
        final String body;

        HttpFailure(int status, String body) {
            super("HTTP " + status, null, false, false);
            this.status = status;
            this.body = body;
        }

        /**
         * error.message from a JSON error body (both APIs use that shape), or the status text
         * for anything else, such as a proxy's HTML page.
         */
        String upstreamMessage() {
            try {
                var root = com.google.gson.JsonParser.parseString(body);
                if (root.isJsonObject() && root.getAsJsonObject().get("error") instanceof com.google.gson.JsonObject error) {
                    for (String field : List.of("message", "status")) {
                        if (error.get(field) instanceof com.google.gson.JsonPrimitive p && p.isString()
                                && !p.getAsString().isEmpty()) {
                            return p.getAsString();
                        }
                    }
                }
            } catch (RuntimeException e) {
                // not JSON: the status text
            }
            return HttpStatusText.of(status);
        }
    }

    /** One call in flight: its lines as they arrive, within the call's deadline. */
    final class Exchange implements AutoCloseable {
        private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
        private final long deadline;
        private final StopSignal stopping;
        private final AutoCloseable stopListener;
        private CompletableFuture<HttpResponse<Void>> response;
        private volatile Flow.Subscription subscription;
        private long bodyChars;

        private Exchange(StopSignal stopping) {
            this.deadline = System.nanoTime() + timeout.toNanos();
            this.stopping = stopping;
            this.stopListener = stopping.onRaise(() -> events.add(Stopped.INSTANCE));
        }

        private void start(HttpRequest request) {
            response = client.sendAsync(request, info -> {
                events.add(new Status(info.statusCode()));
                return HttpResponse.BodySubscribers.fromLineSubscriber(new Flow.Subscriber<String>() {
                    @Override
                    public void onSubscribe(Flow.Subscription s) {
                        subscription = s;
                        s.request(Long.MAX_VALUE);
                    }

                    @Override
                    public void onNext(String line) {
                        events.add(new Line(line));
                    }

                    @Override
                    public void onError(Throwable failure) {
                        events.add(new Failed(failure));
                    }

                    @Override
                    public void onComplete() {
                        events.add(End.INSTANCE);
                    }
                });
            });
            response.whenComplete((r, failure) -> {
                if (failure != null) {
                    events.add(new Failed(failure));
                }
            });
        }

        private Object next() throws ProviderException {
            Object event;
            try {
                event = events.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw stoppingError();
            }
            if (event == null) {
                throw timeoutError();
            }
            if (event instanceof Stopped) {
                throw stoppingError();
            }
            if (event instanceof Failed failed) {
                throw transportError(failed.failure);
            }
            return event;
        }

        /** The HTTP status, once the headers are in. */
        int status() throws ProviderException {
            while (true) {
                Object event = next();
                if (event instanceof Status status) {
                    return status.code;
                }
            }
        }

        /** The next line of the body, or null at its end. */
        String line() throws ProviderException {
            Object event = next();
            if (event instanceof End) {
                return null;
            }
            if (event instanceof Line line) {
                bodyChars += line.text.length() + 1;
                if (bodyChars > MAX_BODY) {
                    throw unexpected();
                }
                return line.text;
            }
            return line();
        }

        /** The rest of the body, at most limit characters kept. */
        String body(long limit) throws ProviderException {
            StringBuilder text = new StringBuilder();
            for (String line = line(); line != null; line = line()) {
                if (text.length() < limit) {
                    if (text.length() > 0) {
                        text.append('\n');
                    }
                    text.append(line);
                }
            }
            return text.length() > limit ? text.substring(0, (int) limit) : text.toString();
        }

        @Override
        public void close() {
            try {
                stopListener.close();
            } catch (Exception e) {
                // a list removal: nothing to fail
            }
            Flow.Subscription s = subscription;
            if (s != null) {
                s.cancel();
            }
            if (response != null) {
                response.cancel(true);
            }
        }

        private ProviderException stoppingError() {
            return new ProviderException(ErrorKind.UNEXPECTED, "the worker is stopping");
        }

        private ProviderException transportError(Throwable failure) {
            if (stopping.raised()) {
                return stoppingError();
            }
            while (failure instanceof CompletionException && failure.getCause() != null) {
                failure = failure.getCause();
            }
            if (failure instanceof HttpConnectTimeoutException || failure instanceof HttpTimeoutException) {
                return timeoutError();
            }
            // The URL is left out: Gemini's would do.
            return new ProviderException(ErrorKind.UPSTREAM, provider + " could not be reached; try again later.");
        }
    }

    ProviderException timeoutError() {
        return new ProviderException(ErrorKind.TIMEOUT, provider + " did not answer within "
                + Numbers.format(timeout) + " s; try again later.");
    }

    ProviderException unexpected() {
        return new ProviderException(ErrorKind.UNEXPECTED, provider + " failed unexpectedly; try again later.");
    }

    /**
     * Sends body to url with headers; on HTTP 200 returns the exchange to read the answer from
     * (the caller closes it), else an {@link HttpFailure} (status and the start of the body).
     */
    Exchange post(String url, Map<String, String> headers, Object body, StopSignal stopping)
            throws ProviderException, HttpFailure {
        HttpRequest.Builder request;
        try {
            request = HttpRequest.newBuilder(URI.create(url))
                    .POST(HttpRequest.BodyPublishers.ofString(Json.write(body)))
                    .header("Content-Type", "application/json");
            headers.forEach(request::header);
        } catch (IllegalArgumentException e) {
            throw new ProviderException(ErrorKind.UNEXPECTED, provider
                    + " is misconfigured (LLM_BASE_URL); ask the operator.");
        }
        Exchange exchange = new Exchange(stopping);
        try {
            exchange.start(request.build());
            int status = exchange.status();
            if (status == 200) {
                return exchange;
            }
            String text = exchange.body(MAX_ERROR_BODY);
            exchange.close();
            throw new HttpFailure(status, text);
        } catch (ProviderException | HttpFailure | RuntimeException e) {
            exchange.close();
            throw e;
        }
    }

    /** The whole JSON answer; a body that is not JSON is unexpected. */
    com.google.gson.JsonObject json(Exchange exchange) throws ProviderException {
        try (exchange) {
            String text = exchange.body(MAX_BODY);
            var root = com.google.gson.JsonParser.parseString(text);
            if (!root.isJsonObject()) {
                throw unexpected();
            }
            return root.getAsJsonObject();
        } catch (RuntimeException e) {
            throw unexpected();
        }
    }

    /** Reads one event's data and returns its piece of text (maybe empty). */
    @FunctionalInterface
    interface EventReader {
        String read(String data) throws Shape;
    }

    /** An answer not in the provider's format. */
    static final class Shape extends Exception {
        private static final long serialVersionUID = 1L;

        Shape() {
            super("not the expected JSON", null, false, false);
        }
    }

    /**
     * Joins the pieces of text of a streamed answer (server-sent events {@code data: ...}),
     * passing each on to onText as it comes; an event for which done is true ends the stream.
     */
    String streamText(Exchange exchange, Predicate<String> done, java.util.function.Consumer<String> onText,
            EventReader reader) throws ProviderException {
        List<String> parts = new ArrayList<>();
        try (exchange) {
            for (String line = exchange.line(); line != null; line = exchange.line()) {
                if (!line.startsWith("data:")) {
                    continue; // comments, event names, the blank line between events
                }
                String data = line.substring("data:".length()).strip();
                if (done.test(data)) {
                    break;
                }
                String piece;
                try {
                    piece = reader.read(data);
                } catch (Shape | RuntimeException e) {
                    throw unexpected();
                }
                if (piece != null && !piece.isEmpty()) {
                    parts.add(piece);
                    onText.accept(piece);
                }
            }
        }
        return String.join("", parts);
    }

    private record Status(int code) {
    }

    private record Line(String text) {
    }

    private record Failed(Throwable failure) {
    }

    private enum End { INSTANCE }

    private enum Stopped { INSTANCE }
}
