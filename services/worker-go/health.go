package main

import (
	"fmt"
	"os"
	"time"
)

// The health check, as the Python worker's: the worker touches HEALTH_FILE when it connects
// and at every heartbeat, and removes it when it disconnects, stops, or has been busy on
// one task longer than TASK_TIMEOUT_SECONDS (its settings allow no such task: it is stuck).
// `ai-worker-go -health` succeeds while the file is younger than three heartbeats.

const missedHeartbeats = 3

type healthFile string

func (h healthFile) touch() {
	now := time.Now()
	if err := os.Chtimes(string(h), now, now); err == nil {
		return
	}
	if f, err := os.OpenFile(string(h), os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		f.Close()
	}
}

func (h healthFile) remove() { os.Remove(string(h)) }

func (h healthFile) fresh(maxAge time.Duration) bool {
	info, err := os.Stat(string(h))
	return err == nil && time.Since(info.ModTime()) <= maxAge
}

// checkHealth is the exit status of the health check.
func checkHealth(s *settings) int {
	if healthFile(s.healthFile).fresh(missedHeartbeats * s.heartbeat) {
		return 0
	}
	fmt.Fprintf(os.Stderr, "unhealthy: %s is missing or older than %d heartbeats\n",
		s.healthFile, missedHeartbeats)
	return 1
}
