package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The MQTT payloads of protos/README.md, validated as services/ai_system/protocol.py does.

type topics struct{ prefix string }

func (t topics) register() string     { return t.prefix + "/workers/register" }
func (t topics) status() string       { return t.prefix + "/workers/status" }
func (t topics) logs() string         { return t.prefix + "/logs" }
func (t topics) masterStatus() string { return t.prefix + "/master/status" }
func (t topics) tasks(workerID string) string {
	return t.prefix + "/workers/" + workerID + "/tasks"
}

// quoted is text from a payload as Python's repr shows it ('text'), control characters
// escaped, so a log line cannot be forged with a newline.
func quoted(text string) string {
	if strings.Contains(text, "'") {
		return strconv.Quote(text)
	}
	escaped := strconv.Quote(text)
	return "'" + strings.ReplaceAll(escaped[1:len(escaped)-1], `\"`, `"`) + "'"
}

func nowMillis() int64 { return time.Now().UnixNano() / int64(time.Millisecond) }

type registration struct {
	WorkerID        string `json:"worker_id"`
	Language        string `json:"language"`
	Hostname        string `json:"hostname"`
	Node            string `json:"node"`
	Provider        string `json:"provider"`
	Status          string `json:"status"`
	Timestamp       int64  `json:"timestamp"`
	InstanceID      string `json:"instance_id"`
	UserKeyProvider string `json:"user_key_provider"` // the chat page names it beside its key field
}

// workerStatus: TaskID is the task worked on when busy, the last one when idle (null
// before the first), the one held when offline.
type workerStatus struct {
	WorkerID  string  `json:"worker_id"`
	Status    string  `json:"status"`
	TaskID    *string `json:"task_id"`
	Timestamp int64   `json:"timestamp"`
}

type logRecord struct {
	Timestamp int64  `json:"timestamp"`
	Source    string `json:"source"`
	Message   string `json:"message"`
	Level     string `json:"level"`
}

// chatMessage is one earlier message of a conversation: a question (user) or its answer
// (assistant).
type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// task is one question for this worker. APIKey and ResultToken are secrets, and History
// holds users' words: none of them is ever logged.
type task struct {
	WorkerID     string
	SessionID    string
	Query        string
	APIKey       string
	GRPCEndpoint string
	Timestamp    int64
	TaskID       string
	Attempt      int32
	ResultToken  string
	History      []chatMessage // the conversation before Query, oldest first
}

func mustJSON(value interface{}) []byte {
	data, err := json.Marshal(value)
	if err != nil {
		panic(err) // only our own structs of strings and numbers come here
	}
	return data
}

// fields reads a JSON object's fields, keeping the first problem met.
type fields struct {
	data map[string]interface{}
	err  error
}

func parseObject(payload []byte) *fields {
	var data interface{}
	if err := json.Unmarshal(payload, &data); err != nil {
		return &fields{err: fmt.Errorf("payload is not JSON: %v", err)}
	}
	object, ok := data.(map[string]interface{})
	if !ok {
		return &fields{err: fmt.Errorf("payload must be a JSON object")}
	}
	return &fields{data: object}
}

func (f *fields) fail(format string, args ...interface{}) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

// str is a string field; null counts as absent, and a required one must not be empty.
func (f *fields) str(name string, required bool) string {
	value := f.data[name]
	text, ok := value.(string)
	switch {
	case value == nil && required:
		f.fail("missing field %s", quoted(name))
	case value != nil && !ok:
		f.fail("field %s must be a string", quoted(name))
	case required && text == "":
		f.fail("field %s must not be empty", quoted(name))
	}
	return text
}

func (f *fields) number(name string, fallback int64) int64 {
	value := f.data[name]
	if value == nil {
		return fallback
	}
	number, ok := value.(float64) // JSON true is a bool here, so it is refused as Python does
	if !ok {
		f.fail("field %s must be a number", quoted(name))
	}
	return int64(number)
}

// history is the optional conversation of a task; null counts as absent.
func (f *fields) history() []chatMessage {
	value := f.data["history"]
	if value == nil {
		return nil
	}
	list, ok := value.([]interface{})
	if !ok {
		f.fail("field 'history' must be a list")
		return nil
	}
	messages := make([]chatMessage, 0, len(list))
	for _, item := range list {
		message, _ := item.(map[string]interface{})
		role, _ := message["role"].(string)
		content, isText := message["content"].(string)
		if (role != "user" && role != "assistant") || !isText {
			f.fail("each message of 'history' must be {role: user|assistant, content: text}")
			return nil
		}
		messages = append(messages, chatMessage{Role: role, Content: content})
	}
	return messages
}

func parseTask(payload []byte) (task, error) {
	f := parseObject(payload)
	t := task{
		WorkerID:     f.str("worker_id", true),
		SessionID:    f.str("session_id", true),
		Query:        f.str("query", true),
		APIKey:       f.str("api_key", false),
		GRPCEndpoint: f.str("grpc_endpoint", true),
		Timestamp:    f.number("timestamp", nowMillis()),
		TaskID:       f.str("task_id", false),
		ResultToken:  f.str("result_token", false),
		History:      f.history(),
	}
	attempt := f.number("attempt", 1)
	if t.TaskID == "" {
		// A master of the original protocol sends no task ids: a session's questions stay
		// apart by their time, and a redelivery of one keeps its id.
		t.TaskID = fmt.Sprintf("%s@%d", t.SessionID, t.Timestamp)
	}
	if attempt < 1 {
		attempt = 1
	}
	t.Attempt = int32(attempt)
	return t, f.err
}

// parseMasterStatus returns "online" or "offline".
func parseMasterStatus(payload []byte) (string, error) {
	f := parseObject(payload)
	status := f.str("status", true)
	if f.err == nil && status != "online" && status != "offline" {
		f.fail("field 'status' must be 'online' or 'offline'")
	}
	return status, f.err
}
