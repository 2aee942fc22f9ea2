package edu.upb.aisystem.worker.config;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * Reads settings the way services/ai_system/config.py does: values are trimmed, and an empty
 * value means the default. Secrets may come from a file named by {@code <NAME>_FILE}.
 */
public final class Env {
    private static final Pattern DIGITS = Pattern.compile("[0-9]+");
    private static final Pattern FLOAT = Pattern.compile(
            "[+-]?(([0-9][0-9_]*)?\\.?[0-9][0-9_]*([eE][+-]?[0-9]+)?|[0-9]+\\.|inf|infinity|nan)",
            Pattern.CASE_INSENSITIVE);
    private static final Pattern INTEGER = Pattern.compile("[+-]?[0-9]+");

    private final UnaryOperator<String> lookup;

    public Env(UnaryOperator<String> lookup) {
        this.lookup = lookup;
    }

    private String raw(String name) {
        String value = lookup.apply(name);
        return value == null ? "" : value;
    }

    public String str(String name, String fallback) {
        String value = raw(name).strip();
        return value.isEmpty() ? fallback : value;
    }

    public int integer(String name, int fallback, int minimum) throws ConfigException {
        String text = str(name, Integer.toString(fallback));
        if (!INTEGER.matcher(text).matches()) {
            throw new ConfigException(name + " must be a whole number, got " + goQuote(text));
        }
        int value;
        try {
            value = Integer.parseInt(text);
        } catch (NumberFormatException e) {
            throw new ConfigException(name + " must be a whole number, got " + goQuote(text));
        }
        if (value < minimum) {
            throw new ConfigException(name + " must be at least " + minimum + ", got " + value);
        }
        return value;
    }

    public double number(String name, double fallback, double minimum) throws ConfigException {
        String text = str(name, Numbers.format(fallback));
        if (!FLOAT.matcher(text).matches()) {
            throw new ConfigException(name + " must be a number, got " + goQuote(text));
        }
        String lower = text.toLowerCase(Locale.ROOT).replace("_", "");
        double value;
        if (lower.endsWith("inf") || lower.endsWith("infinity")) {
            value = lower.startsWith("-") ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        } else if (lower.endsWith("nan")) {
            value = Double.NaN;
        } else {
            value = Double.parseDouble(lower);
        }
        if (value < minimum || Double.isNaN(value)) {
            throw new ConfigException(name + " must be at least " + Numbers.format(minimum)
                    + ", got " + Numbers.format(value));
        }
        return value;
    }

    public boolean bool(String name, boolean fallback) throws ConfigException {
        String text = str(name, Boolean.toString(fallback)).toLowerCase(Locale.ROOT);
        switch (text) {
            case "1": case "true": case "yes": case "on":
                return true;
            case "0": case "false": case "no": case "off":
                return false;
            default:
                throw new ConfigException(name + " must be true or false, got " + goQuote(text));
        }
    }

    /** The value of name, or the contents of the file named by name_FILE (Docker secrets). */
    public String secret(String name) throws ConfigException {
        String path = raw(name + "_FILE").strip();
        if (!path.isEmpty()) {
            try {
                return Files.readString(Path.of(path), StandardCharsets.UTF_8).strip();
            } catch (IOException | RuntimeException e) {
                throw new ConfigException(name + "_FILE points to " + goQuote(path)
                        + ", which cannot be read: " + reason(e));
            }
        }
        return raw(name).strip();
    }

    /** A pool of secrets, comma- or newline-separated. */
    public List<String> secretList(String name) throws ConfigException {
        return splitList(secret(name));
    }

    public static List<String> splitList(String raw) {
        List<String> items = new ArrayList<>();
        for (String item : raw.replace("\n", ",").split(",")) {
            String trimmed = item.strip();
            if (!trimmed.isEmpty()) {
                items.add(trimmed);
            }
        }
        return items;
    }

    /** A comma-separated list of host:port, at least one. */
    public List<String> endpoints(String name, String fallback) throws ConfigException {
        List<String> items = splitList(str(name, fallback));
        if (items.isEmpty()) {
            throw new ConfigException(name + " must name at least one host:port");
        }
        for (String item : items) {
            if (!isEndpoint(item)) {
                throw new ConfigException(name + " must be host:port items separated by commas, got "
                        + goQuote(item));
            }
        }
        return List.copyOf(items);
    }

    public String optionalEndpoint(String name) throws ConfigException {
        String value = str(name, "");
        if (!value.isEmpty() && !isEndpoint(value)) {
            throw new ConfigException(name + " must be host:port, got " + goQuote(value));
        }
        return value;
    }

    public static boolean isEndpoint(String endpoint) {
        int colon = endpoint.lastIndexOf(':');
        if (colon <= 0) {
            return false;
        }
        String digits = endpoint.substring(colon + 1);
        if (!DIGITS.matcher(digits).matches() || digits.length() > 5) {
            return false;
        }
        int port = Integer.parseInt(digits);
        return port > 0 && port < 65536;
    }

    /** Checks at start that name points to PEM CA certificates; "" when the setting is empty. */
    public String caFile(String name) throws ConfigException {
        String path = str(name, "");
        if (path.isEmpty()) {
            return "";
        }
        String problem = "which is not a readable file of PEM CA certificates: ";
        try (InputStream in = Files.newInputStream(Path.of(path))) {
            if (CertificateFactory.getInstance("X.509").generateCertificates(in).isEmpty()) {
                throw new ConfigException(name + " points to " + goQuote(path) + ", " + problem
                        + "no certificate in it");
            }
        } catch (IOException | RuntimeException e) {
            throw new ConfigException(name + " points to " + goQuote(path) + ", " + problem + reason(e));
        } catch (CertificateException e) {
            throw new ConfigException(name + " points to " + goQuote(path) + ", " + problem
                    + "no certificate in it");
        }
        return path;
    }

    /** An I/O error without the path (the message names it already). */
    static String reason(Exception e) {
        if (e instanceof NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof AccessDeniedException) {
            return "permission denied";
        }
        if (e instanceof java.nio.charset.MalformedInputException) {
            return "not UTF-8 text";
        }
        String message = e.getMessage();
        return message == null ? e.getClass().getSimpleName() : message;
    }

    /** Text as Go's %q shows it, double-quoted with escapes, as the Go worker's messages do. */
    public static String goQuote(String text) {
        StringBuilder out = new StringBuilder("\"");
        text.codePoints().forEach(c -> {
            switch (c) {
                case '"': out.append("\\\""); break;
                case '\\': out.append("\\\\"); break;
                case '\n': out.append("\\n"); break;
                case '\r': out.append("\\r"); break;
                case '\t': out.append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x7f) {
                        out.append(String.format(Locale.ROOT, "\\x%02x", c));
                    } else {
                        out.appendCodePoint(c);
                    }
            }
        });
        return out.append('"').toString();
    }
}
