package main

import (
	"errors"
	"fmt"
	"strings"
)

// The error kinds of TaskResult.error_kind: the master gives a task another attempt after
// rate_limited, timeout or upstream; the others are the user's answer.
const (
	kindBadKey      = "bad_key"
	kindRateLimited = "rate_limited"
	kindTimeout     = "timeout"
	kindUpstream    = "upstream"
	kindUnexpected  = "unexpected"
)

const maxUpstreamMessage = 300

// providerError is a failure the user is told about. Its message is built from the provider
// name, the HTTP status and an upstream message passed through redact: never a key.
type providerError struct {
	kind    string
	message string
	// rotate: this key got a 429 (or DeepSeek's 402); another key of the pool may work.
	rotate bool
}

func (e *providerError) Error() string { return e.message }

func newProviderError(kind, format string, args ...interface{}) *providerError {
	return &providerError{kind: kind, message: fmt.Sprintf(format, args...)}
}

func isRotatable(err error) bool {
	var pe *providerError
	return errors.As(err, &pe) && pe.rotate
}

// redact shortens upstream text and removes every secret from it, so it may be shown or logged.
func redact(text string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "[redacted]")
		}
	}
	if runes := []rune(text); len(runes) > maxUpstreamMessage {
		text = string(runes[:maxUpstreamMessage]) + "..."
	}
	return text
}
