package edu.upb.aisystem.worker.work;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The worker is stopping (SIGTERM): once raised, waits end early, calls in flight are
 * cancelled (their listeners run), and the task at hand is abandoned.
 */
public final class StopSignal {
    private final CountDownLatch raised = new CountDownLatch(1);
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();

    /** A signal never raised (tests). */
    public static StopSignal never() {
        return new StopSignal();
    }

    public void raise() {
        if (raised.getCount() == 0) {
            return;
        }
        raised.countDown();
        for (Runnable listener : listeners) {
            listener.run();
        }
    }

    public boolean raised() {
        return raised.getCount() == 0;
    }

    /** Waits for duration; true if the signal came first. */
    public boolean await(Duration duration) {
        try {
            return raised.await(duration.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return raised();
        }
    }

    /** Waits until raised. */
    public void await() throws InterruptedException {
        raised.await();
    }

    /** Runs listener when the signal is raised (at once if it was); close to forget it. */
    public AutoCloseable onRaise(Runnable listener) {
        listeners.add(listener);
        if (raised()) {
            listener.run();
        }
        return () -> listeners.remove(listener);
    }
}
