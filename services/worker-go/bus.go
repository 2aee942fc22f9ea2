package main

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

const (
	goodbyeTimeout  = 2 * time.Second
	connectTimeout  = 5 * time.Second
	maxConnectPause = 5 * time.Second
	taskBuffer      = 16
	// The same reason for failing to connect is logged again after this.
	connectFailureRepeat = time.Minute
)

// bus is the worker's MQTT side: registration, status, heartbeat, logs, and tasks into
// the runner's channel. Paho's message handler only parses and enqueues.
//
// Paho for Go speaks MQTT 3.1.1, so the session is kept as protos/README.md says for that
// version: the process's first connection is clean (a previous life's queued tasks are
// dropped; the master requeues them), and every later one, automatic reconnections
// included, resumes the session, so a task published while the connection was down arrives.
type bus struct {
	s          *settings
	log        named
	state      *workerState
	health     healthFile
	tasks      chan<- received
	recent     *recentTasks
	topics     topics
	taskTopic  string
	instanceID string

	mu        sync.Mutex
	client    mqtt.Client
	connected bool
	healthMu  sync.Mutex
	stuck     string // the task last reported stuck, reported once
	// reconnecting: a connection was made before (only onConnect uses it; paho calls it
	// once per connection).
	reconnecting bool

	closing     chan struct{}
	connectDone chan struct{} // the connection loop ended (connected, or closing)
}

func newBus(s *settings, log named, state *workerState, tasks chan<- received) *bus {
	t := topics{s.mqtt.topicPrefix}
	return &bus{s: s, log: log, state: state, health: healthFile(s.healthFile), tasks: tasks,
		recent: newRecentTasks(256), topics: t, taskTopic: t.tasks(s.workerID),
		instanceID: newInstanceID(), closing: make(chan struct{}), connectDone: make(chan struct{})}
}

func newInstanceID() string {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Sprintf("%x", time.Now().UnixNano())
	}
	return hex.EncodeToString(id)
}

func (b *bus) options(clean bool) *mqtt.ClientOptions {
	scheme := "tcp"
	if b.s.mqtt.tlsCAs != nil {
		scheme = "ssl"
	}
	will := workerStatus{WorkerID: b.s.workerID, Status: "offline", Timestamp: nowMillis()}
	opts := mqtt.NewClientOptions().
		AddBroker(fmt.Sprintf("%s://%s:%d", scheme, b.s.mqtt.host, b.s.mqtt.port)).
		SetClientID(b.s.workerID). // the broker's ACL lets a client read only its own tasks
		SetProtocolVersion(4).
		SetCleanSession(clean).
		SetKeepAlive(b.s.mqtt.keepalive).
		SetConnectTimeout(connectTimeout).
		SetWill(b.topics.status(), string(mustJSON(will)), 1, false)
	if b.s.mqtt.username != "" {
		opts.SetUsername(b.s.mqtt.username).SetPassword(b.s.mqtt.password)
	}
	if b.s.mqtt.tlsCAs != nil {
		// Verifies the broker's certificate against the CA, and its name against MQTT_HOST.
		opts.SetTLSConfig(&tls.Config{RootCAs: b.s.mqtt.tlsCAs, ServerName: b.s.mqtt.host})
	}
	return opts
}

// start connects in the background, keeps reconnecting, and starts the heartbeat.
func (b *bus) start() {
	go b.connect()
	go b.beat()
}

// connect makes the clean first connection, then the lasting one, retrying both until they
// succeed. Paho reconnects the lasting one by itself from then on.
func (b *bus) connect() {
	defer close(b.connectDone)
	failures := newFailureLog(b)
	pause := time.Second
	for cleaned := false; ; {
		var err error
		if !cleaned {
			err = b.cleanStart()
			cleaned = err == nil
		}
		if cleaned {
			if err = b.connectLasting(); err == nil {
				return
			}
		}
		failures.report(err)
		select {
		case <-b.closing:
			return
		case <-time.After(pause):
		}
		if pause *= 2; pause > maxConnectPause {
			pause = maxConnectPause
		}
	}
}

// cleanStart drops whatever session the broker kept for this client id.
func (b *bus) cleanStart() error {
	client := mqtt.NewClient(b.options(true))
	token := client.Connect()
	if !token.WaitTimeout(2*connectTimeout) || token.Error() != nil {
		return connectError(token)
	}
	client.Disconnect(250) // a clean disconnect: the broker sends no Last Will
	return nil
}

func (b *bus) connectLasting() error {
	opts := b.options(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(maxConnectPause).
		SetOnConnectHandler(b.onConnect).
		SetConnectionLostHandler(b.onConnectionLost).
		SetDefaultPublishHandler(b.onMessage)
	client := mqtt.NewClient(opts)
	b.mu.Lock()
	b.client = client
	b.mu.Unlock()
	token := client.Connect()
	if !token.WaitTimeout(2*connectTimeout) || token.Error() != nil {
		return connectError(token)
	}
	return nil
}

func connectError(token mqtt.Token) error {
	if token.Error() != nil {
		return token.Error()
	}
	return fmt.Errorf("no answer within %s", 2*connectTimeout)
}

// failureLog says why the broker cannot be reached, once per reason and minute: paho
// retries quietly, and an operator needs the reason once, not every few seconds.
type failureLog struct {
	b    *bus
	last string
	at   time.Time
}

func newFailureLog(b *bus) *failureLog { return &failureLog{b: b} }

func (f *failureLog) report(err error) {
	reason := err.Error()
	if strings.Contains(reason, "x509:") {
		// The words OpenSSL (and so the Python worker) uses, for one search across workers.
		reason = "certificate verify failed: " + reason
	}
	if reason == f.last && time.Since(f.at) < connectFailureRepeat {
		return
	}
	f.last, f.at = reason, time.Now()
	f.b.log.Warnf("cannot connect to the MQTT broker at %s:%d: %s; retrying",
		f.b.s.mqtt.host, f.b.s.mqtt.port, reason)
}

// --- paho's callbacks --------------------------------------------------------------------

func (b *bus) onConnect(client mqtt.Client) {
	b.mu.Lock()
	b.connected = true
	b.mu.Unlock()
	token := client.SubscribeMultiple(map[string]byte{b.taskTopic: 1, b.topics.masterStatus(): 1},
		b.onMessage)
	if !token.WaitTimeout(10*time.Second) || token.Error() != nil {
		b.log.Errorf("could not subscribe to %s: %v", b.taskTopic, token.Error())
	}
	b.register()
	b.refreshHealth()
	session := "new session"
	if b.reconnecting {
		session = "resuming its session" // paho for Go does not say whether the broker kept it
	}
	b.reconnecting = true
	b.log.Infof("connected to %s:%d as %s (provider %s, %s)", b.s.mqtt.host, b.s.mqtt.port,
		b.s.workerID, b.s.provider, session)
}

func (b *bus) onConnectionLost(_ mqtt.Client, err error) {
	b.mu.Lock()
	b.connected = false
	b.mu.Unlock()
	b.healthMu.Lock()
	b.health.remove()
	b.healthMu.Unlock()
	if !b.isClosing() {
		b.log.Warnf("disconnected from the broker (%v); reconnecting", err)
	}
}

func (b *bus) onMessage(_ mqtt.Client, message mqtt.Message) {
	switch message.Topic() {
	case b.taskTopic:
		b.onTask(message.Payload())
	case b.topics.masterStatus():
		status, err := parseMasterStatus(message.Payload())
		if err != nil {
			b.log.Warnf("dropped a malformed master status: %v", err)
			return
		}
		// The retained copy comes with every (re)subscription, right after we registered.
		if status == "online" && !message.Retained() {
			b.log.Infof("master is online; registering again")
			go b.register() // not in paho's delivery goroutine
		}
	}
}

func (b *bus) onTask(payload []byte) {
	at := time.Now()
	t, err := parseTask(payload)
	switch {
	case err != nil:
		b.log.Warnf("dropped a malformed task: %v", err)
	case t.WorkerID != b.s.workerID:
		b.log.Warnf("dropped task %s addressed to worker %s", t.TaskID, quoted(t.WorkerID))
	case !b.recent.firstTime(t.TaskID, t.Attempt):
		b.log.Infof("dropped a redelivery of task %s (attempt %d)", t.TaskID, t.Attempt)
	default:
		select {
		case b.tasks <- received{task: t, at: at}:
		default:
			// Not while the master hands out one task at a time; it requeues on our idle.
			b.log.Warnf("dropped task %s: %d tasks are already waiting", t.TaskID, taskBuffer)
		}
	}
}

// --- what we tell the master ---------------------------------------------------------------

// publish sends at once if connected, else drops: every connection registers again with
// the current state, which is what a dropped status would have said.
func (b *bus) publish(topic string, qos byte, payload []byte) mqtt.Token {
	b.mu.Lock()
	client, connected := b.client, b.connected
	b.mu.Unlock()
	if !connected {
		return nil
	}
	return client.Publish(topic, qos, false, payload)
}

func (b *bus) publishStatus(status workerStatus) {
	// After the goodbye, a late idle from the runner must not revive us at the master.
	if !b.isClosing() {
		b.publish(b.topics.status(), 1, mustJSON(status))
	}
}

func (b *bus) publishLog(lvl level, message string, at time.Time) {
	record := logRecord{Timestamp: at.UnixNano() / int64(time.Millisecond),
		Source: "worker:" + b.s.workerID, Message: message, Level: lvl.String()}
	b.publish(b.topics.logs(), 0, mustJSON(record)) // best effort: dropped while away
}

func (b *bus) register() {
	status := b.state.report()
	b.publish(b.topics.register(), 1, mustJSON(b.registration(status.Status)))
	b.publishStatus(status)
}

// registration is what register announces, built apart so that a test needs no broker.
func (b *bus) registration(status string) registration {
	return registration{
		WorkerID: b.s.workerID, Language: "go", Hostname: b.s.hostname, Node: b.s.node,
		Provider: b.s.provider, Status: status, Timestamp: nowMillis(),
		InstanceID: b.instanceID, UserKeyProvider: b.s.keyProvider(),
	}
}

func (b *bus) beat() {
	ticker := time.NewTicker(b.s.heartbeat)
	defer ticker.Stop()
	for {
		select {
		case <-b.closing:
			return
		case <-ticker.C:
			// The registration too: a master that never announces itself (the original
			// assignment's) learns of a worker started before it within a heartbeat.
			b.register()
			b.refreshHealth()
		}
	}
}

// refreshHealth touches HEALTH_FILE if connected and not stuck on a task; removes it if stuck.
func (b *bus) refreshHealth() {
	taskID, busy := b.state.busyFor()
	stuck := busy > b.s.taskTimeout
	b.healthMu.Lock()
	defer b.healthMu.Unlock()
	if stuck && b.stuck != taskID {
		b.stuck = taskID
		b.log.Errorf("task %s has been running for %.0f s, longer than TASK_TIMEOUT_SECONDS "+
			"(%g s): reporting this worker unhealthy", taskID, busy.Seconds(), b.s.taskTimeout.Seconds())
	}
	b.mu.Lock()
	connected := b.connected
	b.mu.Unlock()
	if stuck {
		b.health.remove()
	} else if connected && !b.isClosing() {
		b.health.touch()
	}
}

func (b *bus) isClosing() bool {
	select {
	case <-b.closing:
		return true
	default:
		return false
	}
}

// stop reports offline, naming the task held if any (a clean disconnect sends no Last Will,
// and the master requeues that task), and disconnects.
func (b *bus) stop() {
	close(b.closing)
	<-b.connectDone
	b.healthMu.Lock()
	b.health.remove()
	b.healthMu.Unlock()
	goodbye := workerStatus{WorkerID: b.s.workerID, Status: "offline", TaskID: b.state.held(),
		Timestamp: nowMillis()}
	token := b.publish(b.topics.status(), 1, mustJSON(goodbye))
	if token == nil || !token.WaitTimeout(goodbyeTimeout) || token.Error() != nil {
		// No DISCONNECT then: the connection ends with the process, and the broker sends
		// our Last Will instead, which also makes the master requeue the task.
		b.log.Warnf("could not report offline before disconnecting")
		return
	}
	b.mu.Lock()
	client := b.client
	b.connected = false
	b.mu.Unlock()
	client.Disconnect(250)
}
