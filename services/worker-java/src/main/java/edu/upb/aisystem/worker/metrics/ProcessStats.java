package edu.upb.aisystem.worker.metrics;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The process_* series Prometheus's clients add, read from /proc/self: CPU time, memory, open
 * file descriptors and the start time. Missing on a system without /proc.
 */
final class ProcessStats {
    private static final double TICKS_PER_SECOND = 100; // USER_HZ on Linux
    private static final long PAGE_SIZE = 4096;

    private ProcessStats() {
    }

    static void write(StringBuilder out) {
        String[] stat;
        try {
            String text = Files.readString(Path.of("/proc/self/stat"));
            // The fields after the command name, which is in parentheses and may hold spaces.
            stat = text.substring(text.lastIndexOf(')') + 2).trim().split(" ");
        } catch (IOException | RuntimeException e) {
            return;
        }
        double cpu = (Long.parseLong(stat[11]) + Long.parseLong(stat[12])) / TICKS_PER_SECOND;
        PrometheusText.header(out, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter");
        PrometheusText.sample(out, "process_cpu_seconds_total", "", cpu);
        File[] fds = new File("/proc/self/fd").listFiles();
        if (fds != null) {
            PrometheusText.header(out, "process_open_fds", "Number of open file descriptors.", "gauge");
            PrometheusText.sample(out, "process_open_fds", "", fds.length);
        }
        long maxFds = maxFds();
        if (maxFds > 0) {
            PrometheusText.header(out, "process_max_fds", "Maximum number of open file descriptors.", "gauge");
            PrometheusText.sample(out, "process_max_fds", "", maxFds);
        }
        PrometheusText.header(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.", "gauge");
        PrometheusText.sample(out, "process_virtual_memory_bytes", "", Long.parseLong(stat[20]));
        PrometheusText.header(out, "process_resident_memory_bytes", "Resident memory size in bytes.", "gauge");
        PrometheusText.sample(out, "process_resident_memory_bytes", "", Long.parseLong(stat[21]) * PAGE_SIZE);
        long bootTime = bootTime();
        if (bootTime > 0) {
            PrometheusText.header(out, "process_start_time_seconds",
                    "Start time of the process since unix epoch in seconds.", "gauge");
            PrometheusText.sample(out, "process_start_time_seconds", "",
                    bootTime + Long.parseLong(stat[19]) / TICKS_PER_SECOND);
        }
    }

    private static long maxFds() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/limits"))) {
                if (line.startsWith("Max open files")) {
                    return Long.parseLong(line.substring("Max open files".length()).trim().split("\\s+")[0]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // unlimited or unreadable: no series
        }
        return 0;
    }

    private static long bootTime() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/stat"))) {
                if (line.startsWith("btime ")) {
                    return Long.parseLong(line.substring(6).trim());
                }
            }
        } catch (IOException | RuntimeException e) {
            // no start time then
        }
        return 0;
    }
}
