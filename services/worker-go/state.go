package main

import (
	"sync"
	"time"
)

// workerState is what the worker is doing: busy with a task (since when), or idle after its
// last one. The runner changes it; the bus reports it.
type workerState struct {
	mu        sync.Mutex
	workerID  string
	current   string
	startedAt time.Time
	last      string
	now       func() time.Time
}

func newWorkerState(workerID string) *workerState {
	return &workerState{workerID: workerID, now: time.Now}
}

func (s *workerState) start(taskID string) workerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current, s.startedAt = taskID, s.now()
	return s.status()
}

func (s *workerState) finish() workerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last, s.current = s.current, ""
	return s.status()
}

// refuse: a task not worked on is reported as the last one, so the master requeues it.
func (s *workerState) refuse(taskID string) workerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current, s.last = "", taskID
	return s.status()
}

// report is busy with the current task, or idle with the last one.
func (s *workerState) report() workerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status()
}

// busyFor is the current task and how long it has run ("" when idle).
func (s *workerState) busyFor() (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == "" {
		return "", 0
	}
	return s.current, s.now().Sub(s.startedAt)
}

// held is the task being worked on, if any: the goodbye names it.
func (s *workerState) held() *string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return optional(s.current)
}

func (s *workerState) status() workerStatus {
	if s.current != "" {
		return workerStatus{WorkerID: s.workerID, Status: "busy", TaskID: optional(s.current),
			Timestamp: nowMillis()}
	}
	return workerStatus{WorkerID: s.workerID, Status: "idle", TaskID: optional(s.last),
		Timestamp: nowMillis()}
}

func optional(text string) *string {
	if text == "" {
		return nil
	}
	return &text
}
