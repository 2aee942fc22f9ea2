package main

import (
	"context"
	"strings"
	"time"

	"aiworker/rpc"
)

// Coalescing: a chunk per delta of a fast LLM would be a gRPC call per word.
const chunkInterval = 100 * time.Millisecond

// chunkStream streams an answer to the master while the LLM writes it, at most about ten
// chunks a second. The first refused or failed chunk ends the stream of that task; the
// final SendResult carries the whole answer whatever happened to the chunks.
type chunkStream struct {
	sender   *resultSender
	stopping context.Context
	task     task
	workerID string
	pending  []string
	seq      int32
	sentAt   time.Time
	open     bool
}

func newChunkStream(sender *resultSender, stopping context.Context, t task, workerID string) *chunkStream {
	return &chunkStream{sender: sender, stopping: stopping, task: t, workerID: workerID,
		sentAt: time.Now(), open: true}
}

// add is the provider's onText: the answer grew by text.
func (c *chunkStream) add(text string) {
	if !c.open {
		return
	}
	c.pending = append(c.pending, text)
	if time.Since(c.sentAt) >= chunkInterval {
		c.flush()
	}
}

// flush sends what has not been sent yet.
func (c *chunkStream) flush() {
	if !c.open || len(c.pending) == 0 {
		return
	}
	chunk := &rpc.TaskChunk{TaskId: c.task.TaskID, WorkerId: c.workerID,
		ResultToken: c.task.ResultToken, Attempt: c.task.Attempt, Seq: c.seq,
		Text: strings.Join(c.pending, "")}
	c.pending, c.sentAt = nil, time.Now()
	if c.sender.sendChunk(c.stopping, c.task.GRPCEndpoint, chunk) {
		c.seq++
	} else {
		c.open = false
	}
}
