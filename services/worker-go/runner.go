package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"aiworker/rpc"
)

// received is a task as it came off the bus, with its time of receipt.
type received struct {
	task task
	at   time.Time
}

// runner is the worker's one processing goroutine: one task at a time. Per task: check
// that its result may go where the task says, report busy, ask the provider (streaming the
// answer on with STREAM_ANSWERS), simulate the work, send the result, report idle. The two
// reports go out only with PUBLISH_TASK_STATUS, except the idle after a task that was
// refused or whose result could not be delivered: it makes the master requeue the task at
// once. Once the worker is stopping, a task is abandoned: no result, no idle (the goodbye
// names the task). Per-task logs are DEBUG.
type runner struct {
	s         *settings
	log       named
	providers *providers
	sender    *resultSender
	metrics   *workerMetrics
	state     *workerState
	publish   func(workerStatus)
	tasks     <-chan received
	stopping  context.Context
	done      chan struct{}
}

func (r *runner) run() {
	defer close(r.done)
	for {
		select {
		case <-r.stopping.Done():
			return
		case delivery := <-r.tasks:
			r.processSafely(delivery)
		}
	}
}

func (r *runner) processSafely(delivery received) {
	r.metrics.busy.Set(1)
	defer r.metrics.busy.Set(0)
	defer func() {
		if failure := recover(); failure != nil {
			// A bug must not end the only processing goroutine; the master requeues the task.
			r.log.Errorf("task %s failed in the worker: %v", delivery.task.TaskID, failure)
			r.publish(r.state.finish())
		}
	}()
	r.metrics.tasks.WithLabelValues(r.process(delivery)).Inc()
}

// process handles one task and returns its outcome (one of outcomes: the metrics count it).
func (r *runner) process(delivery received) string {
	t := delivery.task
	if !r.sender.allows(t.GRPCEndpoint) {
		// A forged task, or a master advertising an endpoint we were not told about:
		// neither gets the provider's answer (nor the key's quota).
		r.log.Warnf("refused task %s: its result would go to %s, which is not one of "+
			"GRPC_ENDPOINTS (%s)", t.TaskID, quoted(t.GRPCEndpoint), r.sender.endpoints())
		r.publish(r.state.refuse(t.TaskID))
		return "refused"
	}
	busy := r.state.start(t.TaskID)
	if r.s.publishStatus {
		r.publish(busy)
	}
	chosen := r.providers.choose(t.APIKey)
	var onText func(string)
	var chunks *chunkStream
	if r.s.streamAnswers {
		chunks = newChunkStream(r.sender, r.stopping, t, r.s.workerID)
		onText = chunks.add
	}
	askedAt := time.Now()
	text, err := chosen.ask(r.stopping, t.Query, t.History, t.APIKey, onText)
	providerTime := time.Since(askedAt)
	if r.stopping.Err() != nil {
		return "abandoned" // the goodbye names the task, the master requeues it
	}
	errorText, errorKind := "", ""
	var providerErr *providerError
	switch {
	case errors.As(err, &providerErr):
		errorText, errorKind = providerErr.message, providerErr.kind
		r.log.Warnf("task %s: %s", t.TaskID, errorText)
	case err != nil:
		// Only the type: a message could quote request details.
		r.log.Errorf("task %s: %s failed unexpectedly (%T)", t.TaskID, chosen.name(), err)
		errorText = fmt.Sprintf("%s failed unexpectedly; try again later.", chosen.name())
		errorKind = kindUnexpected
	case chunks != nil:
		chunks.flush()
	}
	r.metrics.observeProvider(chosen.name(), providerTime, errorKind)
	if err != nil {
		text = ""
	}
	// Only an answer is worth the simulated work; an error reaches the user at once.
	if err == nil && r.s.simulatedWork > 0 {
		select {
		case <-r.stopping.Done():
		case <-time.After(r.s.simulatedWork):
		}
	}
	if r.stopping.Err() != nil {
		return "abandoned"
	}
	processing := time.Since(delivery.at)
	r.metrics.taskSeconds.Observe(processing.Seconds())
	result := &rpc.TaskResult{
		WorkerId:            r.s.workerID,
		SessionId:           t.SessionID,
		OriginalQuery:       t.Query,
		AiResponse:          text,
		ProcessingTimeMs:    processing.Milliseconds(),
		QueryTimestamp:      t.Timestamp,
		CompletionTimestamp: nowMillis(),
		TaskId:              t.TaskID,
		Provider:            chosen.name(),
		Model:               chosen.model(),
		Error:               errorText,
		Attempt:             t.Attempt,
		ProviderTimeMs:      providerTime.Milliseconds(),
		ResultToken:         t.ResultToken,
		ErrorKind:           errorKind,
	}
	delivered := r.sender.send(r.stopping, t.GRPCEndpoint, result)
	if !delivered && r.stopping.Err() != nil {
		return "abandoned"
	}
	idle := r.state.finish()
	// A delivered result already frees us at the master; an undelivered one must not wait
	// for the task's deadline there.
	if r.s.publishStatus || !delivered {
		r.publish(idle)
	}
	if !delivered {
		return "undelivered"
	}
	r.log.Debugf("task %s done in %d ms", t.TaskID, result.ProcessingTimeMs)
	if errorText != "" {
		return "provider_error"
	}
	return "answered"
}
