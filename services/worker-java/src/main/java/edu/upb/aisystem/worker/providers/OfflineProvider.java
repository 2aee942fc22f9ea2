package edu.upb.aisystem.worker.providers;

import edu.upb.aisystem.worker.protocol.ChatMessage;
import edu.upb.aisystem.worker.work.StopSignal;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Answers at once, without network, saying what it is and how to configure a real provider:
 * the system stays usable without any LLM key. The same text as the Python worker's.
 */
public final class OfflineProvider implements Provider {
    private static final int EXCERPT_CHARS = 200;
    private static final Pattern WORD_WITH_SPACE = Pattern.compile("\\S+\\s*");

    private final String model;
    private final String userKeyProvider;
    private final Duration wordPause;

    public OfflineProvider(String model, String userKeyProvider, Duration wordPause) {
        this.model = model;
        this.userKeyProvider = userKeyProvider;
        this.wordPause = wordPause;
    }

    @Override
    public String name() {
        return "offline";
    }

    @Override
    public String model() {
        return model;
    }

    @Override
    public String ask(String query, List<ChatMessage> history, String userKey, Consumer<String> onText,
            StopSignal stopping) throws ProviderException {
        int characters = query.codePointCount(0, query.length());
        String excerpt = characters > EXCERPT_CHARS
                ? query.substring(0, query.offsetByCodePoints(0, EXCERPT_CHARS)) + "..." : query;
        String text = "[offline answer, no LLM was asked] Your question has " + words(query)
                + " words and " + characters + " characters: \"" + excerpt + "\"."
                + earlierQuestions(history)
                + " This worker runs the offline provider because it has no LLM API key. For real "
                + "answers, configure GEMINI_API_KEYS, DEEPSEEK_API_KEYS or OPENAI_API_KEYS on the "
                + "workers, or type your own " + userKeyProvider + " API key in the chat.";
        if (onText != null) {
            // Word by word, as an LLM would write it.
            Matcher words = WORD_WITH_SPACE.matcher(text);
            while (words.find()) {
                onText.accept(words.group());
                if (!wordPause.isZero() && stopping.await(wordPause)) {
                    throw new ProviderException(ErrorKind.UNEXPECTED, "the worker is stopping");
                }
            }
        }
        return text;
    }

    /** Words as Python's str.split() counts them: runs of anything but white space. */
    static int words(String text) {
        int count = 0;
        boolean inWord = false;
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            boolean space = Character.isWhitespace(c) || Character.isSpaceChar(c);
            if (!space && !inWord) {
                count++;
            }
            inWord = !space;
            i += Character.charCount(c);
        }
        return count;
    }

    /**
     * The sentence that shows the conversation reached the worker, or nothing for a new one
     * (the answer is then the same as before conversations existed).
     */
    static String earlierQuestions(List<ChatMessage> history) {
        long questions = history.stream().filter(m -> m.role().equals("user")).count();
        if (questions == 0) {
            return "";
        }
        return questions == 1 ? " This conversation holds 1 earlier question."
                : " This conversation holds " + questions + " earlier questions.";
    }
}
