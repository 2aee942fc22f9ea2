package edu.upb.aisystem.worker.protocol;

import java.util.Locale;

/** Text from a payload in a log line. */
public final class Quoting {
    private Quoting() {
    }

    /**
     * Text as Python's repr shows it ('text'), control characters escaped, so a log line cannot
     * be forged with a newline.
     */
    public static String quoted(String text) {
        char quote = text.contains("'") && !text.contains("\"") ? '"' : '\'';
        StringBuilder out = new StringBuilder().append(quote);
        text.codePoints().forEach(c -> {
            if (c == quote || c == '\\') {
                out.append('\\').appendCodePoint(c);
            } else if (c == '\n') {
                out.append("\\n");
            } else if (c == '\r') {
                out.append("\\r");
            } else if (c == '\t') {
                out.append("\\t");
            } else if (c < 0x20 || (c >= 0x7f && c < 0xa0)) {
                out.append(String.format(Locale.ROOT, "\\x%02x", c));
            } else if (Character.getType(c) == Character.LINE_SEPARATOR
                    || Character.getType(c) == Character.PARAGRAPH_SEPARATOR
                    || Character.getType(c) == Character.SURROGATE
                    || Character.getType(c) == Character.UNASSIGNED) {
                out.append(c <= 0xffff ? String.format(Locale.ROOT, "\\u%04x", c)
                        : String.format(Locale.ROOT, "\\U%08x", c));
            } else {
                out.appendCodePoint(c);
            }
        });
        return out.append(quote).toString();
    }
}
