package main

import (
	"context"
	"strings"
	"sync"
	"time"

	"aiworker/rpc"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// The original assignment's name of SendResult (package worker): its TaskResult has our
// field numbers 1-8, so the same message serves.
const originalSendResult = "/worker.WorkerCallback/SendResult"

// A chunk late by more than this is not worth the wait: the final answer follows anyway.
const chunkTimeout = 2 * time.Second

// resultSender returns results to the master over gRPC, only to GRPC_ENDPOINTS: one
// long-lived connection each, a deadline on every call, and a bounded retry with backoff on
// UNAVAILABLE and DEADLINE_EXCEEDED. close ends the calls in flight and refuses new ones,
// so nothing leaves after the worker said goodbye.
type resultSender struct {
	log      named
	timeout  time.Duration
	backoffs []time.Duration
	conns    map[string]*grpc.ClientConn
	// closed ends every call: close cancels it.
	closed context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	original    map[string]bool // endpoints that answered ours with UNIMPLEMENTED
	noStreaming map[string]bool // endpoints that answered SendChunk with UNIMPLEMENTED
}

func newResultSender(s *settings, log named) (*resultSender, error) {
	transport := grpc.WithInsecure()
	if s.grpcTLSCAs != nil {
		// Checks the master's certificate against the CA and its name against the host dialled.
		transport = grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(s.grpcTLSCAs, ""))
	}
	// grpc's default reconnect backoff grows to 120 s; a restarted master is back sooner.
	reconnect := grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{
		BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second,
	}, MinConnectTimeout: 5 * time.Second})
	closed, cancel := context.WithCancel(context.Background())
	sender := &resultSender{log: log, timeout: s.grpcTimeout, backoffs: s.resultBackoffs(),
		conns: map[string]*grpc.ClientConn{}, closed: closed, cancel: cancel,
		original: map[string]bool{}, noStreaming: map[string]bool{}}
	for _, endpoint := range s.grpcEndpoints {
		target := endpoint
		if s.grpcConnectTo != "" {
			target = s.grpcConnectTo
		}
		// Dial (connecting lazily, passthrough resolver), not NewClient: Debian's grpc-go
		// 1.33 predates it (1.63), as it predates credentials/insecure (1.34).
		conn, err := grpc.Dial(target, transport, reconnect)
		if err != nil {
			sender.close()
			return nil, err
		}
		sender.conns[endpoint] = conn
	}
	return sender, nil
}

// allows says whether endpoint is one of GRPC_ENDPOINTS (results go nowhere else).
func (r *resultSender) allows(endpoint string) bool {
	_, ok := r.conns[endpoint]
	return ok
}

func (r *resultSender) endpoints() string {
	var names []string
	for endpoint := range r.conns {
		names = append(names, endpoint)
	}
	return strings.Join(names, ", ")
}

// send is true once the master accepted the result, false if it refused it, stayed away,
// or the worker is stopping (the master then requeues the task).
func (r *resultSender) send(stopping context.Context, endpoint string, result *rpc.TaskResult) bool {
	attempts := len(r.backoffs) + 1
	for attempt := 1; attempt <= attempts; attempt++ {
		if stopping.Err() != nil || r.closed.Err() != nil {
			return false
		}
		ack, err := r.call(endpoint, result)
		if err == nil {
			if !ack.Success {
				// Final: the master no longer knows the task, or the token does not match.
				r.log.Warnf("master refused the result of task %s: %s", result.TaskId, ack.Message)
			}
			return ack.Success
		}
		if r.closed.Err() != nil {
			return false
		}
		code := status.Code(err)
		if code == codes.Unimplemented && r.useOriginal(endpoint) {
			return r.send(stopping, endpoint, result)
		}
		if (code != codes.Unavailable && code != codes.DeadlineExceeded) || attempt == attempts {
			r.log.Errorf("could not return the result of task %s to %s after %d attempt(s): %s %s",
				result.TaskId, endpoint, attempt, code, status.Convert(err).Message())
			return false
		}
		pause := r.backoffs[attempt-1]
		r.log.Warnf("master at %s: %s; retrying the result of task %s in %.1f s",
			endpoint, code, result.TaskId, pause.Seconds())
		select {
		case <-stopping.Done():
			return false
		case <-time.After(pause):
		}
	}
	return false
}

func (r *resultSender) call(endpoint string, result *rpc.TaskResult) (*rpc.ResultAck, error) {
	ctx, cancel := context.WithTimeout(r.closed, r.timeout)
	defer cancel()
	conn := r.conns[endpoint]
	r.mu.Lock()
	original := r.original[endpoint]
	r.mu.Unlock()
	if original {
		ack := new(rpc.ResultAck)
		return ack, conn.Invoke(ctx, originalSendResult, result, ack)
	}
	return rpc.NewWorkerCallbackClient(conn).SendResult(ctx, result)
}

// useOriginal switches endpoint to the original service name; false if it already was.
func (r *resultSender) useOriginal(endpoint string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.original[endpoint] {
		return false
	}
	r.original[endpoint] = true
	r.log.Infof("the master at %s speaks the original assignment's worker.WorkerCallback: "+
		"results go there by that name from now on", endpoint)
	return true
}

// sendChunk passes part of an answer on, best effort: one try, a short deadline. False
// means stop streaming this task (refused, unreachable, or a master without SendChunk,
// which is then not asked again).
func (r *resultSender) sendChunk(stopping context.Context, endpoint string, chunk *rpc.TaskChunk) bool {
	r.mu.Lock()
	skip := r.noStreaming[endpoint] || r.original[endpoint]
	r.mu.Unlock()
	if skip || stopping.Err() != nil || r.closed.Err() != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(r.closed, chunkTimeout)
	defer cancel()
	ack, err := rpc.NewWorkerCallbackClient(r.conns[endpoint]).SendChunk(ctx, chunk)
	if status.Code(err) == codes.Unimplemented {
		r.log.Infof("the master at %s takes no streamed chunks; sending whole answers", endpoint)
		r.mu.Lock()
		r.noStreaming[endpoint] = true
		r.mu.Unlock()
	}
	return err == nil && ack.Success
}

// close cancels the calls in flight, refuses new ones and closes the connections.
func (r *resultSender) close() {
	r.cancel()
	for _, conn := range r.conns {
		conn.Close()
	}
}
