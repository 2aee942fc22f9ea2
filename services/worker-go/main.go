// ai-worker-go is an ai-system worker in Go: it takes tasks from MQTT one at a time, asks
// its LLM provider, and returns the results to the master over gRPC. It reads the same
// environment settings as the Python worker (services/README.md) and speaks the protocol
// of protos/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// version is set at build time (the Makefile passes the project's version).
var version = "dev"

// A result already on its way may finish within this; then nothing leaves before the goodbye.
const runnerGrace = 2 * time.Second

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	flags := flag.NewFlagSet("ai-worker-go", flag.ContinueOnError)
	showVersion := flags.Bool("version", false, "print the version and exit")
	health := flags.Bool("health", false, "exit 0 if the running worker is connected and "+
		"beating (its HEALTH_FILE is fresh), else 1: the container's health check")
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: ai-worker-go [-health] [-version]\n\n"+
			"One ai-system worker: takes tasks from MQTT one at a time, asks its LLM provider, "+
			"returns the results to the master over gRPC.\n\n")
		flags.PrintDefaults()
		fmt.Fprintf(flags.Output(), "\nEvery setting is an environment variable (secrets may "+
			"come from a file named by <NAME>_FILE); services/README.md lists them with their "+
			"defaults.\n")
	}
	if err := flags.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "ai-worker-go: unexpected argument %q (settings are "+
			"environment variables)\n", flags.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Println("ai-worker-go", version)
		return 0
	}
	s, err := loadSettings(os.Getenv)
	if err != nil {
		if *health {
			fmt.Fprintf(os.Stderr, "unhealthy: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "ai-worker-go: %v\n", err)
		return 2
	}
	if *health {
		return checkHealth(s)
	}
	return serve(s)
}

func serve(s *settings) int {
	logs := newLogger("worker:"+s.workerID, s.logLevel)
	log := logs.named("ai_system.worker")
	stopping, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	providers := newProviders(s)
	metrics := newWorkerMetrics()
	metrics.watchKeys(providers.forUserKeys.name(), providers.pool)
	if s.metricsPort != 0 {
		if err := metrics.serve(s.metricsHost, s.metricsPort); err != nil {
			log.Errorf("cannot serve metrics on port %d (METRICS_PORT): %v", s.metricsPort, err)
			return 1
		}
	}
	sender, err := newResultSender(s, logs.named("ai_system.worker.callback"))
	if err != nil {
		log.Errorf("cannot set up the gRPC connections: %v", err)
		return 1
	}
	state := newWorkerState(s.workerID)
	tasks := make(chan received, taskBuffer)
	b := newBus(s, logs.named("ai_system.worker.bus"), state, tasks)
	r := &runner{s: s, log: logs.named("ai_system.worker.runner"), providers: providers,
		sender: sender, metrics: metrics, state: state, publish: b.publishStatus, tasks: tasks,
		stopping: stopping, done: make(chan struct{})}
	logs.attach(b.publishLog, s.mqttLogLevel)

	log.Infof("%s", s.summary(b.instanceID))
	go r.run()
	b.start()
	<-stopping.Done()
	log.Infof("stopping")
	select {
	case <-r.done:
	case <-time.After(runnerGrace):
	}
	sender.close()
	b.stop()
	log.Infof("stopped")
	return 0
}
