package edu.upb.aisystem.worker;

import edu.upb.aisystem.worker.config.ConfigException;
import edu.upb.aisystem.worker.config.Settings;
import edu.upb.aisystem.worker.health.HealthFile;

/**
 * ai-worker-java is an ai-system worker in Java: it takes tasks from MQTT one at a time, asks
 * its LLM provider, and returns the results to the master over gRPC. It reads the same
 * environment settings as the Python and Go workers (services/README.md) and speaks the
 * protocol of protos/README.md.
 *
 * <p>This class loads neither gRPC nor Netty nor the MQTT client: {@code -health} runs every
 * 15 s as a container's health check and stays quick.
 */
public final class Main {
    private static final String NAME = "ai-worker-java";

    private Main() {
    }

    public static void main(String[] args) {
        int status = run(args);
        if (status >= 0) {
            System.exit(status);
        }
    }

    /** The exit status, or -1 while the worker runs (it exits on SIGTERM). */
    static int run(String[] args) {
        boolean health = false;
        boolean version = false;
        for (String arg : args) {
            switch (arg) {
                case "-health", "--health", "-health=true", "--health=true" -> health = true;
                case "-version", "--version", "-version=true", "--version=true" -> version = true;
                case "-h", "-help", "--help" -> {
                    usage();
                    return 0;
                }
                default -> {
                    if (arg.startsWith("-")) {
                        System.err.println("flag provided but not defined: " + arg);
                        usage();
                    } else {
                        System.err.println(NAME + ": unexpected argument \"" + arg
                                + "\" (settings are environment variables)");
                    }
                    return 2;
                }
            }
        }
        if (version) {
            System.out.println(NAME + " " + version());
            return 0;
        }
        Settings settings;
        try {
            settings = Settings.fromEnvironment();
        } catch (ConfigException e) {
            if (health) {
                System.err.println("unhealthy: " + e.getMessage());
                return 1;
            }
            System.err.println(NAME + ": " + e.getMessage());
            return 2;
        }
        if (health) {
            return HealthFile.check(settings.healthFile(), settings.heartbeat());
        }
        return WorkerProcess.serve(settings);
    }

    /** The project's version, from the jar's manifest. */
    static String version() {
        String version = Main.class.getPackage().getImplementationVersion();
        return version == null ? "dev" : version;
    }

    private static void usage() {
        System.err.println("usage: " + NAME + " [-health] [-version]\n\n"
                + "One ai-system worker: takes tasks from MQTT one at a time, asks its LLM provider, returns the "
                + "results to the master over gRPC.\n\n"
                + "  -health\n"
                + "    \texit 0 if the running worker is connected and beating (its HEALTH_FILE is fresh), else 1: "
                + "the container's health check\n"
                + "  -version\n"
                + "    \tprint the version and exit\n\n"
                + "Every setting is an environment variable (secrets may come from a file named by <NAME>_FILE); "
                + "services/README.md lists them with their defaults.");
    }
}
