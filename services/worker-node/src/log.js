'use strict';
// Logging through winston: lines on stderr in the Python services' format, each tagged with the
// component, and, once the bus is up, the same records published on <prefix>/logs (QoS 0, best
// effort) by a transport of their own. Callers never pass secrets (API keys, result tokens).

const winston = require('winston');
const { LOG_LEVELS } = require('./config');

const MESSAGE = Symbol.for('message'); // where winston's formats leave the finished line

// Python's level names; winston ranks the most severe first.
const LEVELS = Object.fromEntries([...LOG_LEVELS].reverse().map((name, rank) => [name, rank]));

const pythonLine = winston.format.combine(
  winston.format.timestamp({ format: 'YYYY-MM-DD HH:mm:ss,SSS' }), // Python's logging default
  winston.format.printf(({ timestamp, level, component, name, message }) =>
    `${timestamp} ${level} [${component}] ${name}: ${message}`),
);

/** Hands each formatted line to `write`, or each record to `sink`; never throws. */
class CallTransport extends winston.Transport {
  constructor(level, call) {
    super({ level });
    this._call = call;
  }

  log(info, done) {
    try {
      this._call(info);
    } catch {
      // A log record must never break the worker.
    }
    done();
  }
}

class Logger {
  constructor(component, level = 'INFO', write = (line) => process.stderr.write(`${line}\n`)) {
    this.level = level;
    this._logger = winston.createLogger({
      levels: LEVELS,
      level,
      format: pythonLine,
      defaultMeta: { component },
      transports: [new CallTransport(level, (info) => write(info[MESSAGE]))],
    });
  }

  /** Also send records of at least `level` to `sink(record)` (the MQTT log topic); as in
   * Python's logging, a record below LOG_LEVEL goes nowhere, not even there. */
  addSink(level, sink) {
    const floor = LEVELS[level] < LEVELS[this.level] ? level : this.level;
    this._logger.add(new CallTransport(floor, (info) => sink({
      timestamp: Date.now(), source: info.component, message: info.message, level: info.level,
    })));
  }

  child(name) {
    const logger = this._logger.child({ name });
    return {
      debug: (message) => logger.log('DEBUG', message),
      info: (message) => logger.log('INFO', message),
      warning: (message) => logger.log('WARNING', message),
      error: (message) => logger.log('ERROR', message),
    };
  }
}

module.exports = { Logger };
