#!/usr/bin/env node
'use strict';
// `node src/health.js` (the container's health check): exit 0 iff the worker is connected
// and beating. The worker touches HEALTH_FILE when it connects and at every heartbeat, and
// removes it when it disconnects or stops, or when one task has kept it busy for longer
// than TASK_TIMEOUT_SECONDS; a file older than three heartbeats means the heartbeat is stuck.

const fs = require('node:fs');

const MISSED_HEARTBEATS = 3;

class HealthFile {
  constructor(path) {
    this.path = path;
  }

  touch() {
    const now = new Date();
    try {
      fs.utimesSync(this.path, now, now);
    } catch {
      fs.closeSync(fs.openSync(this.path, 'a'));
    }
  }

  remove() {
    fs.rmSync(this.path, { force: true });
  }

  isFresh(maxAgeSeconds) {
    try {
      return (Date.now() - fs.statSync(this.path).mtimeMs) / 1000 <= maxAgeSeconds;
    } catch {
      return false;
    }
  }
}

function main(env = process.env) {
  let settings;
  try {
    settings = require('./config').load(env);
  } catch (error) {
    process.stderr.write(`unhealthy: ${error.message}\n`);
    return 1;
  }
  if (new HealthFile(settings.healthFile).isFresh(MISSED_HEARTBEATS * settings.heartbeatSeconds)) return 0;
  process.stderr.write(`unhealthy: ${settings.healthFile} is missing or older than ${MISSED_HEARTBEATS} heartbeats\n`);
  return 1;
}

if (require.main === module) process.exitCode = main();

module.exports = { HealthFile, MISSED_HEARTBEATS, main };
