package edu.upb.aisystem.worker.providers;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.LongSupplier;

/**
 * Hands out a provider's keys round-robin, skipping keys resting after a 429. It never shows
 * a key: only how many there are.
 */
public final class KeyPool {
    private final List<String> keys;
    private final Duration cooldown;
    private final LongSupplier nanoClock;
    private final Map<String, Long> restingUntil = new HashMap<>();
    private int next;
    private int rested;

    public KeyPool(List<String> keys, Duration cooldown) {
        this(keys, cooldown, System::nanoTime);
    }

    public KeyPool(List<String> keys, Duration cooldown, LongSupplier nanoClock) {
        this.keys = List.copyOf(keys);
        this.cooldown = cooldown;
        this.nanoClock = nanoClock;
    }

    public int size() {
        return keys.size();
    }

    /** The next key not resting, or empty when every key rests. */
    public synchronized Optional<String> acquire() {
        long now = nanoClock.getAsLong();
        for (int offset = 0; offset < keys.size(); offset++) {
            int index = (next + offset) % keys.size();
            if (!resting(keys.get(index), now)) {
                next = index + 1;
                return Optional.of(keys.get(index));
            }
        }
        return Optional.empty();
    }

    private boolean resting(String key, long now) {
        Long until = restingUntil.get(key);
        return until != null && until - now > 0;
    }

    public synchronized void coolDown(String key) {
        restingUntil.put(key, nanoClock.getAsLong() + cooldown.toNanos());
        rested++;
    }

    /** How many times a key was put to rest. */
    public synchronized int cooldowns() {
        return rested;
    }

    /** How many keys rest right now. */
    public synchronized int cooling() {
        long now = nanoClock.getAsLong();
        int count = 0;
        for (String key : restingUntil.keySet()) {
            if (resting(key, now)) {
                count++;
            }
        }
        return count;
    }

    /** The error telling the user when the first key is back. */
    public ProviderException exhausted(String provider) {
        long soonest = Long.MAX_VALUE;
        synchronized (this) {
            long now = nanoClock.getAsLong();
            for (String key : keys) {
                Long until = restingUntil.get(key);
                long wait = until == null ? Long.MIN_VALUE : until - now;
                soonest = Math.min(soonest, wait);
            }
        }
        String when = "in a moment";
        double seconds = Math.ceil(soonest / 1e9);
        if (soonest != Long.MAX_VALUE && seconds > 0) {
            when = "in " + (long) seconds + " s";
        }
        return new ProviderException(ErrorKind.RATE_LIMITED, "All " + keys.size() + " " + provider
                + " API keys of this worker are rate-limited or out of quota (HTTP 429); try again "
                + when + ", or type your own key in the chat.");
    }
}
