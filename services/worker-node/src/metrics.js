'use strict';
// The worker's Prometheus metrics on METRICS_PORT (/metrics), the same names as the Python
// worker's (services/README.md) so that one dashboard shows both. A handful of series does
// not need a client library: the text format is written here.

const http = require('node:http');

const OUTCOMES = ['answered', 'provider_error', 'refused', 'undelivered', 'abandoned'];
const BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120];

const escape = (value) => String(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
const labels = (pairs) => {
  const entries = Object.entries(pairs);
  return entries.length ? `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}` : '';
};

class Histogram {
  constructor() {
    this.counts = BUCKETS.map(() => 0);
    this.sum = 0;
    this.count = 0;
  }

  observe(value) {
    BUCKETS.forEach((bound, index) => { if (value <= bound) this.counts[index] += 1; });
    this.sum += value;
    this.count += 1;
  }

  lines(name, extra = {}) {
    return [
      ...BUCKETS.map((bound, index) => `${name}_bucket${labels({ ...extra, le: bound })} ${this.counts[index]}`),
      `${name}_bucket${labels({ ...extra, le: '+Inf' })} ${this.count}`,
      `${name}_sum${labels(extra)} ${this.sum}`,
      `${name}_count${labels(extra)} ${this.count}`,
    ];
  }
}

class WorkerMetrics {
  constructor() {
    this.tasks = Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0]));
    this.taskSeconds = new Histogram();
    this.providerSeconds = new Map(); // provider -> Histogram
    this.providerErrors = new Map(); // JSON [provider, kind] -> count
    this.busy = 0;
    this._pools = [];
  }

  watchKeys(provider, pool) {
    this._pools.push([provider, pool]);
  }

  observeProvider(provider, seconds, errorKind) {
    if (!this.providerSeconds.has(provider)) this.providerSeconds.set(provider, new Histogram());
    this.providerSeconds.get(provider).observe(seconds);
    if (errorKind) {
      const key = JSON.stringify([provider, errorKind]);
      this.providerErrors.set(key, (this.providerErrors.get(key) || 0) + 1);
    }
  }

  exposition() {
    const out = [];
    const family = (name, type, help) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family('ai_worker_tasks_total', 'counter', 'Tasks handled, by outcome.');
    for (const [outcome, count] of Object.entries(this.tasks)) out.push(`ai_worker_tasks_total${labels({ outcome })} ${count}`);
    family('ai_worker_task_seconds', 'histogram', 'From receiving a task to having its result.');
    out.push(...this.taskSeconds.lines('ai_worker_task_seconds'));
    family('ai_worker_provider_seconds', 'histogram', 'Time in the LLM call, by provider.');
    for (const [provider, histogram] of this.providerSeconds) out.push(...histogram.lines('ai_worker_provider_seconds', { provider }));
    family('ai_worker_provider_errors_total', 'counter', 'Provider failures, by provider and kind.');
    for (const [key, count] of this.providerErrors) {
      const [provider, kind] = JSON.parse(key);
      out.push(`ai_worker_provider_errors_total${labels({ provider, kind })} ${count}`);
    }
    family('ai_worker_busy', 'gauge', '1 while the worker is on a task.');
    out.push(`ai_worker_busy ${this.busy}`);
    family('ai_worker_key_cooldowns_total', 'counter', 'API keys put to rest after HTTP 429.');
    for (const [provider, pool] of this._pools) out.push(`ai_worker_key_cooldowns_total${labels({ provider })} ${pool.cooldowns}`);
    family('ai_worker_keys_cooling', 'gauge', 'API keys resting right now.');
    for (const [provider, pool] of this._pools) out.push(`ai_worker_keys_cooling${labels({ provider })} ${pool.cooling()}`);
    family('ai_worker_keys', 'gauge', 'API keys configured.');
    for (const [provider, pool] of this._pools) out.push(`ai_worker_keys${labels({ provider })} ${pool.size}`);
    const usage = process.cpuUsage();
    family('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.');
    out.push(`process_cpu_seconds_total ${(usage.user + usage.system) / 1e6}`);
    family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
    out.push(`process_resident_memory_bytes ${process.memoryUsage.rss()}`);
    return `${out.join('\n')}\n`;
  }

  /** Serve /metrics; resolves once listening, rejects if the port cannot be used. */
  serve(host, port) {
    const server = http.createServer((request, response) => {
      if (request.method !== 'GET' || request.url.split('?')[0] !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      response.end(this.exposition());
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.unref(); // never what keeps the process alive
        resolve(server);
      });
    });
  }
}

module.exports = { OUTCOMES, WorkerMetrics };
