package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

const maxBody = 8 << 20

// llmCall is the HTTP side every keyed provider shares: POST a JSON body, and turn what
// goes wrong on the way (timeout, refused connection, HTTP error) into a providerError.
type llmCall struct {
	provider string
	timeout  time.Duration
	client   *http.Client
}

// post sends body to url with headers; on HTTP 200 it returns the open response, else an
// *httpFailure (status and the start of the body) or a providerError.
func (c *llmCall) post(ctx context.Context, url string, headers map[string]string, body interface{}) (*http.Response, error) {
	request, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(mustJSON(body)))
	if err != nil {
		return nil, newProviderError(kindUnexpected, "%s is misconfigured (LLM_BASE_URL); ask "+
			"the operator.", c.provider)
	}
	request.Header.Set("Content-Type", "application/json")
	for name, value := range headers {
		request.Header.Set(name, value)
	}
	response, err := c.client.Do(request)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if response.StatusCode == http.StatusOK {
		return response, nil
	}
	defer response.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(response.Body, 64<<10))
	return nil, &httpFailure{status: response.StatusCode, body: data}
}

// transportError: the call did not get an answer. The URL is left out: Gemini's would do.
func (c *llmCall) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err() // the worker is stopping
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return newProviderError(kindTimeout, "%s did not answer within %g s; try again later.",
			c.provider, c.timeout.Seconds())
	}
	return newProviderError(kindUpstream, "%s could not be reached; try again later.", c.provider)
}

// decode reads a JSON answer; a body that is not the expected JSON is unexpected.
func (c *llmCall) decode(ctx context.Context, response *http.Response, into interface{}) error {
	defer response.Body.Close()
	data, err := io.ReadAll(io.LimitReader(response.Body, maxBody))
	if err != nil {
		return c.transportError(ctx, err)
	}
	if json.Unmarshal(data, into) != nil {
		return c.unexpected()
	}
	return nil
}

func (c *llmCall) unexpected() error {
	return newProviderError(kindUnexpected, "%s failed unexpectedly; try again later.", c.provider)
}

// events calls handle with the data of each server-sent event until the stream ends or
// handle returns false.
func (c *llmCall) events(ctx context.Context, response *http.Response, handle func(data []byte) bool) error {
	defer response.Body.Close()
	scanner := bufio.NewScanner(io.LimitReader(response.Body, maxBody))
	scanner.Buffer(make([]byte, 64<<10), maxBody)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "data:") {
			continue // comments, event names, the blank line between events
		}
		if !handle([]byte(strings.TrimSpace(strings.TrimPrefix(line, "data:")))) {
			return nil
		}
	}
	if err := scanner.Err(); err != nil {
		return c.transportError(ctx, err)
	}
	return nil
}

// streamText joins the pieces of text of a streamed answer, passing each on to onText as it
// comes. read takes one event's data and returns its piece (maybe empty), or ok false when the
// event is not in the provider's format; an event equal to done (when given) ends the stream.
func (c *llmCall) streamText(ctx context.Context, response *http.Response, done string,
	onText func(string), read func(data []byte) (piece string, ok bool)) (string, error) {
	var parts []string
	malformed := false
	err := c.events(ctx, response, func(data []byte) bool {
		if done != "" && string(data) == done {
			return false
		}
		piece, ok := read(data)
		if !ok {
			malformed = true
			return false
		}
		if piece != "" {
			parts = append(parts, piece)
			onText(piece)
		}
		return true
	})
	if err != nil {
		return "", err
	}
	if malformed {
		return "", c.unexpected()
	}
	return strings.Join(parts, ""), nil
}

// httpFailure is an HTTP status other than 200; each wire format reads its own errors.
type httpFailure struct {
	status int
	body   []byte
}

func (f *httpFailure) Error() string { return http.StatusText(f.status) }

// upstreamMessage is error.message from a JSON error body (both APIs use that shape), or
// the status text for anything else, such as a proxy's HTML page.
func (f *httpFailure) upstreamMessage() string {
	var parsed struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if json.Unmarshal(f.body, &parsed) == nil {
		if parsed.Error.Message != "" {
			return parsed.Error.Message
		}
		if parsed.Error.Status != "" {
			return parsed.Error.Status
		}
	}
	return http.StatusText(f.status)
}
