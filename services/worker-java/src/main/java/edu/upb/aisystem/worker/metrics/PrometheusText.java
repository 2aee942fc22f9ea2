package edu.upb.aisystem.worker.metrics;

import java.math.BigDecimal;

/** Prometheus's text exposition format (version 0.0.4), written by hand. */
final class PrometheusText {
    static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

    private PrometheusText() {
    }

    static void header(StringBuilder out, String name, String help, String type) {
        out.append("# HELP ").append(name).append(' ').append(help.replace("\\", "\\\\").replace("\n", "\\n"))
                .append('\n').append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    static void sample(StringBuilder out, String name, String labels, double value) {
        out.append(name).append(labels).append(' ').append(number(value)).append('\n');
    }

    /** {@code name="value"}, the value escaped. */
    static String label(String name, String value) {
        return name + "=\"" + value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
    }

    /** As Go's client writes numbers: 1, 0.25, 1.5e+09, +Inf. */
    static String number(double value) {
        if (Double.isNaN(value)) {
            return "NaN";
        }
        if (Double.isInfinite(value)) {
            return value > 0 ? "+Inf" : "-Inf";
        }
        if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            return Long.toString((long) value);
        }
        if (Math.abs(value) >= 1e21 || Math.abs(value) < 1e-4) {
            return Double.toString(value).replace("E", "e+").replace("e+-", "e-");
        }
        return BigDecimal.valueOf(value).stripTrailingZeros().toPlainString();
    }
}
