package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

const excerptChars = 200

var wordWithSpace = regexp.MustCompile(`\S+\s*`)

// offlineProvider answers at once, without network, saying what it is and how to configure
// a real provider: the system stays usable without any LLM key. Same text as the Python one.
type offlineProvider struct {
	modelName       string
	userKeyProvider string
	wordPause       time.Duration // the pace of a streamed answer
}

func (offlineProvider) name() string    { return "offline" }
func (o offlineProvider) model() string { return o.modelName }

func (o offlineProvider) ask(ctx context.Context, query string, history []chatMessage, _ string, onText func(string)) (string, error) {
	excerpt := query
	if utf8.RuneCountInString(query) > excerptChars {
		excerpt = string([]rune(query)[:excerptChars]) + "..."
	}
	text := fmt.Sprintf("[offline answer, no LLM was asked] Your question has %d words and %d "+
		"characters: \"%s\".%s This worker runs the offline provider because it has no LLM API "+
		"key. For real answers, configure GEMINI_API_KEYS, DEEPSEEK_API_KEYS or "+
		"OPENAI_API_KEYS on the workers, or type your own %s API key in the chat.",
		len(strings.Fields(query)), utf8.RuneCountInString(query), excerpt,
		earlierQuestions(history), o.userKeyProvider)
	if onText != nil {
		// Word by word, as an LLM would write it.
		for _, word := range wordWithSpace.FindAllString(text, -1) {
			onText(word)
			if o.wordPause > 0 {
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-time.After(o.wordPause):
				}
			}
		}
	}
	return text, nil
}

// earlierQuestions is the sentence that shows the conversation reached the worker, or
// nothing for a new one (the answer is then the same as before conversations existed).
func earlierQuestions(history []chatMessage) string {
	questions := 0
	for _, message := range history {
		if message.Role == "user" {
			questions++
		}
	}
	switch questions {
	case 0:
		return ""
	case 1:
		return " This conversation holds 1 earlier question."
	default:
		return fmt.Sprintf(" This conversation holds %d earlier questions.", questions)
	}
}
