package edu.upb.aisystem.worker.metrics;

import java.util.List;

/** A Prometheus histogram's state: cumulative bucket counts, sum and count. */
final class Histogram {
    private final List<Double> bounds;
    private final long[] counts;
    private double sum;
    private long count;

    Histogram(List<Double> bounds) {
        this.bounds = bounds;
        this.counts = new long[bounds.size()];
    }

    synchronized void observe(double value) {
        for (int i = 0; i < bounds.size(); i++) {
            if (value <= bounds.get(i)) {
                counts[i]++;
            }
        }
        sum += value;
        count++;
    }

    synchronized void write(StringBuilder out, String name, String labels) {
        String prefix = labels.isEmpty() ? "" : labels + ",";
        for (int i = 0; i < bounds.size(); i++) {
            PrometheusText.sample(out, name + "_bucket", "{" + prefix + "le=\""
                    + PrometheusText.number(bounds.get(i)) + "\"}", counts[i]);
        }
        PrometheusText.sample(out, name + "_bucket", "{" + prefix + "le=\"+Inf\"}", count);
        String braces = labels.isEmpty() ? "" : "{" + labels + "}";
        PrometheusText.sample(out, name + "_sum", braces, sum);
        PrometheusText.sample(out, name + "_count", braces, count);
    }
}
