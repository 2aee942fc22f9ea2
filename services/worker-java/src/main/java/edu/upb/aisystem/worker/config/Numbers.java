package edu.upb.aisystem.worker.config;

import java.math.BigDecimal;
import java.time.Duration;

/** Numbers in messages as the Go and Python workers show them: 30, 0.5, 187.5. */
public final class Numbers {
    private Numbers() {
    }

    public static String format(double value) {
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            return Double.toString(value);
        }
        if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            return Long.toString((long) value);
        }
        return BigDecimal.valueOf(value).stripTrailingZeros().toPlainString();
    }

    public static double seconds(Duration duration) {
        return duration.toNanos() / 1e9;
    }

    public static String format(Duration duration) {
        return format(seconds(duration));
    }

    public static Duration ofSeconds(double seconds) {
        return Duration.ofNanos(Math.round(seconds * 1e9));
    }
}
