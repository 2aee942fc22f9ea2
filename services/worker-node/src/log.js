'use strict';
// Logging: lines on stderr in the Python services' format, each tagged with the component,
// and, once the bus is up, the same records published on <prefix>/logs (QoS 0, best effort).
// Callers never pass secrets (API keys, result tokens) to it.

const { LOG_LEVELS } = require('./config');

const RANK = Object.fromEntries(LOG_LEVELS.map((name, index) => [name, index]));

function timestamp(date) {
  // Python's logging default: 2026-11-23 10:00:00,123
  const pad = (n, width = 2) => String(n).padStart(width, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())},${pad(date.getMilliseconds(), 3)}`;
}

class Logger {
  constructor(component, level = 'INFO', write = (line) => process.stderr.write(`${line}\n`)) {
    this.component = component;
    this.level = level;
    this._write = write;
    this._sinks = [];
  }

  /** Also send records of at least `level` to `sink(record)` (the MQTT log topic). */
  addSink(level, sink) {
    this._sinks.push({ rank: RANK[level], sink });
  }

  child(name) {
    return new NamedLogger(this, name);
  }

  emit(name, level, message) {
    const rank = RANK[level];
    // As in Python's logging: below LOG_LEVEL a record goes nowhere, not even to MQTT.
    if (rank < RANK[this.level]) return;
    const when = new Date();
    this._write(`${timestamp(when)} ${level} [${this.component}] ${name}: ${message}`);
    for (const { rank: wanted, sink } of this._sinks) {
      if (rank >= wanted) {
        try {
          sink({ timestamp: when.getTime(), source: this.component, message, level });
        } catch {
          // A log record must never break the worker.
        }
      }
    }
  }
}

class NamedLogger {
  constructor(root, name) {
    this.root = root;
    this.name = name;
  }

  debug(message) { this.root.emit(this.name, 'DEBUG', message); }
  info(message) { this.root.emit(this.name, 'INFO', message); }
  warning(message) { this.root.emit(this.name, 'WARNING', message); }
  error(message) { this.root.emit(this.name, 'ERROR', message); }
}

module.exports = { Logger };
