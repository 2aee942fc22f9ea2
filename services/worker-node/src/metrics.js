'use strict';
// The worker's Prometheus metrics on METRICS_PORT (/metrics), the same names as the Python
// worker's (services/README.md) so that one dashboard shows both. prom-client writes the
// format, as prometheus-client and client_golang do for the Python and Go workers: escaping,
// histograms and the process's own series are then one maintained library's business.

const http = require('node:http');
const { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } = require('prom-client');

const OUTCOMES = ['answered', 'provider_error', 'refused', 'undelivered', 'abandoned'];
const BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 60, 120];

class WorkerMetrics {
  constructor() {
    // A registry of its own rather than prom-client's global one: each instance (each test)
    // starts from zero, and nothing a dependency registers lands on /metrics.
    this.register = new Registry();
    const registers = [this.register];
    this.tasks = new Counter({
      name: 'ai_worker_tasks_total', help: 'Tasks handled, by outcome.', labelNames: ['outcome'], registers,
    });
    for (const outcome of OUTCOMES) this.tasks.inc({ outcome }, 0); // every outcome shown from the start
    this.taskSeconds = new Histogram({
      name: 'ai_worker_task_seconds', help: 'From receiving a task to having its result.', buckets: BUCKETS, registers,
    });
    this.providerSeconds = new Histogram({
      name: 'ai_worker_provider_seconds', help: 'Time in the LLM call, by provider.',
      labelNames: ['provider'], buckets: BUCKETS, registers,
    });
    this.providerErrors = new Counter({
      name: 'ai_worker_provider_errors_total', help: 'Provider failures, by provider and kind.',
      labelNames: ['provider', 'kind'], registers,
    });
    this.busy = new Gauge({ name: 'ai_worker_busy', help: '1 while the worker is on a task.', registers });

    // The key pools keep their own counts; these read them when Prometheus scrapes, so resting
    // a key costs nothing here. A Counter has no set(): each scrape starts from zero and adds
    // the pool's total.
    const pools = [];
    this._pools = pools;
    const perPool = (Type, name, help, read) => new Type({
      name, help, labelNames: ['provider'], registers,
      collect() {
        this.reset();
        for (const [provider, pool] of pools) this.inc({ provider }, read(pool));
      },
    });
    perPool(Counter, 'ai_worker_key_cooldowns_total', 'API keys put to rest after HTTP 429.', (pool) => pool.cooldowns);
    perPool(Gauge, 'ai_worker_keys_cooling', 'API keys resting right now.', (pool) => pool.cooling());
    perPool(Gauge, 'ai_worker_keys', 'API keys configured.', (pool) => pool.size);

    // process_cpu_seconds_total and process_resident_memory_bytes, as the Python worker has
    // them, along with prom-client's other process_* and nodejs_* series.
    collectDefaultMetrics({ register: this.register });
  }

  watchKeys(provider, pool) {
    this._pools.push([provider, pool]);
  }

  observeProvider(provider, seconds, errorKind) {
    this.providerSeconds.observe({ provider }, seconds);
    if (errorKind) this.providerErrors.inc({ provider, kind: errorKind });
  }

  /** The text Prometheus scrapes (a promise). */
  exposition() {
    return this.register.metrics();
  }

  /** Serve /metrics; resolves once listening, rejects if the port cannot be used. */
  serve(host, port) {
    const server = http.createServer(async (request, response) => {
      if (request.method !== 'GET' || request.url.split('?')[0] !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      try {
        const text = await this.exposition();
        response.writeHead(200, { 'content-type': this.register.contentType }).end(text);
      } catch {
        response.writeHead(500).end(); // a failed scrape, not a crashed worker
      }
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
