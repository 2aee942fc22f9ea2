'use strict';
// What the worker is doing: busy with a task (since when), or idle after its last one.
// The runner changes it; the bus reports it (registration, heartbeat, goodbye).

const { workerStatus } = require('./protocol');

class WorkerState {
  constructor(workerId, clock = () => performance.now() / 1000) {
    this.workerId = workerId;
    this._clock = clock;
    this._current = null;
    this._startedAt = 0;
    this._last = null;
  }

  start(taskId) {
    this._current = taskId;
    this._startedAt = this._clock();
    return this.status();
  }

  finish() {
    this._last = this._current;
    this._current = null;
    return this.status();
  }

  /** A task not worked on: idle, naming it as the last one (the master requeues it). */
  refuse(taskId) {
    this._current = null;
    this._last = taskId;
    return this.status();
  }

  /** busy with the current task, or idle with the last one (null before any). */
  status() {
    if (this._current !== null) return workerStatus(this.workerId, 'busy', this._current);
    return workerStatus(this.workerId, 'idle', this._last);
  }

  /** [task id, seconds it has been running], or null when idle. */
  busyFor() {
    if (this._current === null) return null;
    return [this._current, this._clock() - this._startedAt];
  }
}

module.exports = { WorkerState };
