'use strict';
// The worker's MQTT side: registration, status, heartbeat, and tasks into the runner.
//
// MQTT v5, client id = worker id, Last Will `offline`. The session starts clean with each
// process and is kept across its reconnections (expiry 300 s), so a task published during a
// reconnect waits on the broker and a previous life's tasks do not (the master requeues
// those). Each process registers with its own `instance_id`. The heartbeat keeps
// HEALTH_FILE fresh while connected and not stuck on one task past TASK_TIMEOUT_SECONDS.

const crypto = require('node:crypto');
const fs = require('node:fs');
const mqtt = require('mqtt');
const { keyProvider } = require('./config');
const { RecentTasks } = require('./dedup');
const protocol = require('./protocol');

const SESSION_EXPIRY_SECONDS = 300;
const GOODBYE_TIMEOUT_SECONDS = 2.0;
// The same reason for failing to connect is logged again only after this.
const CONNECT_FAILURE_REPEAT_SECONDS = 60;

class WorkerBus {
  constructor({ settings, runner, state, health, log }) {
    this._settings = settings;
    this._workerId = settings.workerId;
    this._runner = runner;
    this._state = state;
    this._health = health;
    this._log = log;
    this._recent = new RecentTasks();
    this.instanceId = crypto.randomBytes(16).toString('hex');
    this.topics = protocol.topics(settings.mqtt.topicPrefix);
    this._taskTopic = this.topics.tasks(this._workerId);
    this._connectedBefore = false;
    this._up = false; // connected since the last 'close'
    this._closing = false;
    this._stuckReported = null;
    this._lastFailure = ['', 0];
    this.client = null;
    this._heartbeat = null;
  }

  start() {
    const m = this._settings.mqtt;
    const options = {
      protocol: m.tlsCaFile ? 'mqtts' : 'mqtt',
      host: m.host,
      port: m.port,
      clientId: this._workerId,
      protocolVersion: 5,
      clean: true, // the first connection only: see 'connect' below
      properties: { sessionExpiryInterval: SESSION_EXPIRY_SECONDS },
      keepalive: m.keepalive,
      reconnectPeriod: 1000,
      connectTimeout: 10000,
      resubscribe: false, // we subscribe on every connect ourselves
      queueQoSZero: false, // logs are dropped, not queued, while the broker is away
      will: {
        topic: this.topics.status,
        payload: protocol.toJson({ worker_id: this._workerId, status: 'offline' }),
        qos: 1,
        retain: false,
      },
    };
    if (m.username) {
      options.username = m.username;
      if (m.password) options.password = m.password;
    }
    if (m.tlsCaFile) {
      // Verifies the broker's certificate against the CA, and its name against MQTT_HOST.
      options.ca = fs.readFileSync(m.tlsCaFile);
      options.rejectUnauthorized = true;
      options.servername = m.host;
    }
    this.client = mqtt.connect(options);
    this.client.on('connect', (connack) => this._onConnect(connack));
    this.client.on('close', () => this._onClose());
    this.client.on('error', (error) => this._onError(error));
    this.client.on('message', (topic, payload, packet) => this._onMessage(topic, payload, packet));
    this._heartbeat = setInterval(() => this._beat(), this._settings.heartbeatSeconds * 1000);
  }

  get connected() {
    return Boolean(this.client?.connected);
  }

  publishStatus(status) {
    // After the goodbye, a late idle from the runner must not revive us at the master.
    if (!this._closing) this.client.publish(this.topics.status, protocol.toJson(status), { qos: 1 });
  }

  /** A log record for <prefix>/logs (QoS 0, dropped while disconnected). */
  publishLog(record) {
    if (this.connected && !this._closing) this.client.publish(this.topics.logs, protocol.toJson(record), { qos: 0 });
  }

  /** Reports offline (a clean disconnect sends no Last Will) and disconnects. */
  async stop() {
    this._closing = true;
    clearInterval(this._heartbeat);
    this._health.remove();
    const goodbye = protocol.workerStatus(this._workerId, 'offline', this._state.status().task_id);
    let delivered = false;
    if (this.connected) {
      delivered = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), GOODBYE_TIMEOUT_SECONDS * 1000);
        this.client.publish(this.topics.status, protocol.toJson(goodbye), { qos: 1 }, (error) => {
          clearTimeout(timer);
          resolve(!error);
        });
      });
    }
    if (!delivered) this._log.warning('could not report offline before disconnecting');
    await new Promise((resolve) => this.client.end(!delivered, {}, resolve));
  }

  // --- client events ---------------------------------------------------------------------

  _onConnect(connack) {
    // Small messages both ways: Nagle plus delayed ACKs would stall each task about 40 ms.
    this.client.stream?.setNoDelay?.(true);
    const resumed = Boolean(connack.sessionPresent);
    if (resumed && !this._connectedBefore) {
      // Only if the broker ignored our clean first connection: the tasks it still holds are
      // a previous life's. The master requeues them anyway.
      this._log.warning(`the broker resumed a session of an earlier ${this._workerId} process`);
    }
    this._connectedBefore = true;
    this._up = true;
    this.client.options.clean = false; // from now on, resume this process's session
    this._lastFailure = ['', 0];
    this.client.subscribe({ [this._taskTopic]: { qos: 1 }, [this.topics.masterStatus]: { qos: 1 } });
    this._register();
    this._refreshHealth();
    const m = this._settings.mqtt;
    this._log.info(`connected to ${m.host}:${m.port} as ${this._workerId} (provider ${this._settings.provider}, `
      + `${resumed ? 'resumed' : 'new'} session)`);
  }

  _onClose() {
    this._health.remove();
    // 'close' also ends each failed attempt to reconnect: warn once per lost connection.
    if (this._up && !this._closing) this._log.warning('disconnected from the broker; reconnecting');
    this._up = false;
  }

  _onError(error) {
    // Refused logins and unreachable brokers: mqtt.js keeps trying; say so, not every second.
    const reason = error.message || String(error);
    const [last, at] = this._lastFailure;
    const now = performance.now() / 1000;
    if (reason !== last || now - at > CONNECT_FAILURE_REPEAT_SECONDS) {
      this._lastFailure = [reason, now];
      this._log.warning(`cannot connect to the MQTT broker at ${this._settings.mqtt.host}:${this._settings.mqtt.port}: ${reason}`);
    }
  }

  _onMessage(topic, payload, packet) {
    try {
      if (topic === this._taskTopic) this._onTask(payload);
      else if (topic === this.topics.masterStatus) this._onMasterStatus(payload, packet);
    } catch (error) {
      // A bug must not take the client's event loop down; the payload may hold a key.
      this._log.error(`could not handle a message on ${topic} (${error?.name || typeof error})`);
    }
  }

  _onTask(payload) {
    const receivedAt = performance.now() / 1000;
    let task;
    try {
      task = protocol.parseTask(payload);
    } catch (error) {
      if (!(error instanceof protocol.ProtocolError)) throw error;
      this._log.warning(`dropped a malformed task: ${error.message}`);
      return;
    }
    if (task.worker_id !== this._workerId) {
      this._log.warning(`dropped task ${task.task_id} addressed to worker '${task.worker_id}'`);
      return;
    }
    if (!this._recent.firstTime(task.task_id, task.attempt)) {
      this._log.info(`dropped a redelivery of task ${task.task_id} (attempt ${task.attempt})`);
      return;
    }
    this._runner.put(task, receivedAt);
  }

  _onMasterStatus(payload, packet) {
    let status;
    try {
      status = protocol.parseMasterStatus(payload);
    } catch (error) {
      if (!(error instanceof protocol.ProtocolError)) throw error;
      this._log.warning(`dropped a malformed master status: ${error.message}`);
      return;
    }
    // The retained copy comes with every (re)subscription, right after we registered.
    if (status.status === 'online' && !packet.retain) {
      this._log.info('master is online; registering again');
      this._register();
    }
  }

  // --- what we tell the master -------------------------------------------------------------

  _register() {
    const status = this._state.status();
    const registration = protocol.registration({
      workerId: this._workerId,
      hostname: this._settings.hostname,
      node: this._settings.node,
      provider: this._settings.provider,
      status: status.status,
      instanceId: this.instanceId,
      userKeyProvider: keyProvider(this._settings),
    });
    this.client.publish(this.topics.register, protocol.toJson(registration), { qos: 1 });
    this.publishStatus(status);
  }

  _beat() {
    if (this.connected) {
      // The registration too: a master that never announces itself (the original
      // assignment's) learns of a worker started before it within a heartbeat.
      this._register();
    }
    this._refreshHealth();
  }

  /** Touch HEALTH_FILE if connected and not stuck on a task; remove it if stuck. */
  _refreshHealth() {
    const [taskId, busySeconds] = this._state.busyFor() || ['', 0];
    const limit = this._settings.taskTimeoutSeconds;
    const stuck = busySeconds > limit;
    if (stuck && this._stuckReported !== taskId) {
      this._stuckReported = taskId;
      this._log.error(`task ${taskId} has been running for ${Math.round(busySeconds)} s, longer than `
        + `TASK_TIMEOUT_SECONDS (${limit} s): reporting this worker unhealthy`);
    }
    try {
      if (stuck) this._health.remove();
      else if (this.connected && !this._closing) this._health.touch();
    } catch (error) {
      this._log.warning(`cannot update HEALTH_FILE ${this._health.path}: ${error.code || error.message}`);
    }
  }
}

module.exports = { WorkerBus };
