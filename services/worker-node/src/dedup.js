'use strict';
// Remembers recently accepted deliveries, so a QoS 1 redelivery is processed only once.

class RecentTasks {
  /** A small LRU set of (task_id, attempt); a requeued task comes with a new attempt. */
  constructor(capacity = 256) {
    this._capacity = capacity;
    this._seen = new Map(); // insertion order is the LRU order
  }

  /** true the first time this delivery is seen (and remembers it), false after. */
  firstTime(taskId, attempt) {
    const key = JSON.stringify([taskId, attempt]);
    if (this._seen.has(key)) {
      this._seen.delete(key);
      this._seen.set(key, true);
      return false;
    }
    this._seen.set(key, true);
    if (this._seen.size > this._capacity) this._seen.delete(this._seen.keys().next().value);
    return true;
  }
}

module.exports = { RecentTasks };
