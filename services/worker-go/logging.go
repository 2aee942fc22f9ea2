package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Log lines as the Python services write them, "<time> <LEVEL> [worker:<id>] <logger>:
// <message>", on stderr, and mirrored to <prefix>/logs once the bus is attached. Messages
// are built by the callers from names, ids and counts: never from a key or a token.

type level int

const (
	levelDebug level = iota * 10
	levelInfo
	levelWarning
	levelError
	levelCritical
)

var levelNames = map[level]string{
	levelDebug: "DEBUG", levelInfo: "INFO", levelWarning: "WARNING", levelError: "ERROR",
	levelCritical: "CRITICAL",
}

func parseLevel(variable, name string) (level, error) {
	upper := strings.ToUpper(name)
	if upper == "WARN" {
		upper = "WARNING"
	}
	for lvl, candidate := range levelNames {
		if candidate == upper {
			return lvl, nil
		}
	}
	return 0, configErrorf("%s must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got %q",
		variable, name)
}

func (l level) String() string { return levelNames[l] }

// logMirror receives the records at or above its level (the bus publishes them).
type logMirror func(lvl level, message string, at time.Time)

type logger struct {
	component string
	min       level
	mu        sync.Mutex
	mirror    logMirror
	mirrorMin level
}

func newLogger(component string, min level) *logger {
	return &logger{component: component, min: min}
}

// attach mirrors records at or above min to mirror from now on.
func (l *logger) attach(mirror logMirror, min level) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mirror, l.mirrorMin = mirror, min
}

func (l *logger) log(lvl level, name, format string, args ...interface{}) {
	message := fmt.Sprintf(format, args...)
	now := time.Now()
	l.mu.Lock()
	mirror := l.mirror
	if lvl < l.mirrorMin {
		mirror = nil
	}
	if lvl >= l.min {
		fmt.Fprintf(os.Stderr, "%s %s [%s] %s: %s\n", now.Format("2006-01-02 15:04:05,000"),
			lvl, l.component, name, message)
	}
	l.mu.Unlock()
	if mirror != nil {
		mirror(lvl, message, now)
	}
}

// named is a logger for one part of the worker (bus, runner, callback, ...).
type named struct {
	*logger
	name string
}

func (l *logger) named(name string) named { return named{l, name} }

func (n named) Debugf(format string, args ...interface{}) { n.log(levelDebug, n.name, format, args...) }
func (n named) Infof(format string, args ...interface{})  { n.log(levelInfo, n.name, format, args...) }
func (n named) Warnf(format string, args ...interface{}) {
	n.log(levelWarning, n.name, format, args...)
}
func (n named) Errorf(format string, args ...interface{}) {
	n.log(levelError, n.name, format, args...)
}
