'use strict';
// The small pieces: deduplication, state, key pool, log, health file, metrics, flags.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const { RecentTasks } = require('../src/dedup');
const { WorkerState } = require('../src/state');
const { KeyPool } = require('../src/providers/keys');
const { Logger } = require('../src/log');
const { HealthFile, main: health } = require('../src/health');
const { WorkerMetrics } = require('../src/metrics');
const { parseArgs } = require('../src/main');
const { redact } = require('../src/providers/errors');

test('a delivery is new once per (task, attempt), and the memory is bounded', () => {
  const recent = new RecentTasks(2);
  assert.equal(recent.firstTime('a', 1), true);
  assert.equal(recent.firstTime('a', 1), false);
  assert.equal(recent.firstTime('a', 2), true);
  assert.equal(recent.firstTime('b', 1), true); // evicts the least recently seen: (a, 1)
  assert.equal(recent.firstTime('a', 1), true);
});

test('state: busy with the current task, idle with the last one', () => {
  let now = 0;
  const state = new WorkerState('w', () => now);
  assert.deepEqual([state.status().status, state.status().task_id], ['idle', null]);
  assert.equal(state.start('t1').status, 'busy');
  now = 3;
  assert.deepEqual(state.busyFor(), ['t1', 3]);
  assert.deepEqual([state.finish().status, state.status().task_id], ['idle', 't1']);
  assert.equal(state.refuse('t2').task_id, 't2');
  assert.equal(state.busyFor(), null);
});

test('the key pool rotates, rests a rate-limited key, and says when to try again', () => {
  let now = 0;
  const pool = new KeyPool(['k1', 'k2'], 60, () => now);
  assert.deepEqual([pool.acquire('openai'), pool.acquire('openai'), pool.acquire('openai')], ['k1', 'k2', 'k1']);
  pool.coolDown('k1');
  assert.deepEqual([pool.acquire('openai'), pool.acquire('openai')], ['k2', 'k2']);
  pool.coolDown('k2');
  now = 10;
  assert.throws(() => pool.acquire('openai'), (e) => e.kind === 'rate_limited'
    && e.message === 'All 2 openai API keys of this worker are rate-limited or out of quota (HTTP 429); try again in 50 s, or type your own key in the chat.');
  now = 61;
  assert.equal(pool.acquire('openai'), 'k1');
  assert.equal(JSON.stringify({ pool }), '{"pool":"KeyPool(2 keys)"}');
});

test('redact removes every secret and shortens', () => {
  assert.equal(redact('key sk-1 and sk-1 again', ['sk-1', '']), 'key [redacted] and [redacted] again');
  assert.equal(redact('x'.repeat(400), []).length, 303);
});

test('log lines carry level and component; below LOG_LEVEL nothing goes anywhere', () => {
  const lines = [];
  const records = [];
  const root = new Logger('worker:w', 'INFO', (line) => lines.push(line));
  const everything = [];
  root.addSink('WARNING', (record) => records.push(record));
  root.addSink('DEBUG', (record) => everything.push(record));
  const log = root.child('worker-node.bus');
  log.debug('hidden');
  log.info('connected');
  log.warning('dropped');
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[worker:w\] worker-node\.bus: connected$/);
  assert.deepEqual(records.map((r) => [r.source, r.level, r.message]), [['worker:w', 'WARNING', 'dropped']]);
  assert.deepEqual(everything.map((r) => r.message), ['connected', 'dropped']);
  assert.ok(Math.abs(records[0].timestamp - Date.now()) < 60_000);
});

test('the health check passes on a fresh file only', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'health-'));
  t.after(() => fs.rmSync(dir, { recursive: true }));
  const file = path.join(dir, 'healthy');
  const env = { HEALTH_FILE: file, HEARTBEAT_SECONDS: '1' };
  const stderr = t.mock.method(process.stderr, 'write', () => true);
  assert.equal(health(env), 1);
  new HealthFile(file).touch();
  assert.equal(health(env), 0);
  const old = new Date(Date.now() - 10_000);
  fs.utimesSync(file, old, old);
  assert.equal(health(env), 1); // older than three heartbeats
  new HealthFile(file).remove();
  assert.equal(health({ ...env, LLM_PROVIDER: 'nope' }), 1);
  assert.match(stderr.mock.calls.at(-1).arguments[0], /^unhealthy: LLM_PROVIDER/);
});

test('metrics expose the Python worker\'s names on /metrics, and only there', async () => {
  const metrics = new WorkerMetrics();
  const pool = new KeyPool(['k'], 60);
  metrics.watchKeys('openai', pool);
  metrics.tasks.inc({ outcome: 'answered' }, 2);
  metrics.observeProvider('openai', 0.2, 'bad_key');
  metrics.taskSeconds.observe(0.3);
  pool.coolDown('k'); // read when scraped, not when it happens
  const server = await metrics.serve('127.0.0.1', 0);
  const url = `http://127.0.0.1:${server.address().port}`;
  try {
    const response = await fetch(`${url}/metrics`);
    assert.equal(response.headers.get('content-type'), metrics.register.contentType);
    const text = await response.text();
    assert.match(text, /^# HELP ai_worker_tasks_total Tasks handled, by outcome\.$/m);
    assert.match(text, /^# TYPE ai_worker_tasks_total counter$/m);
    assert.match(text, /^ai_worker_tasks_total\{outcome="answered"\} 2$/m);
    assert.match(text, /^ai_worker_tasks_total\{outcome="abandoned"\} 0$/m);
    assert.match(text, /^ai_worker_provider_errors_total\{provider="openai",kind="bad_key"\} 1$/m);
    assert.match(text, /^ai_worker_task_seconds_bucket\{le="0.25"\} 0$/m);
    assert.match(text, /^ai_worker_task_seconds_bucket\{le="0.5"\} 1$/m);
    assert.match(text, /^ai_worker_task_seconds_bucket\{le="\+Inf"\} 1$/m);
    assert.match(text, /^ai_worker_provider_seconds_bucket\{le="0.25",provider="openai"\} 1$/m);
    assert.match(text, /^ai_worker_keys\{provider="openai"\} 1$/m);
    assert.match(text, /^ai_worker_keys_cooling\{provider="openai"\} 1$/m);
    assert.match(text, /^ai_worker_key_cooldowns_total\{provider="openai"\} 1$/m);
    assert.match(text, /^ai_worker_busy 0$/m);
    assert.match(text, /^# TYPE process_cpu_seconds_total counter$/m);
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
    assert.equal((await fetch(`${url}/`)).status, 404);
    await assert.rejects(metrics.serve('127.0.0.1', server.address().port), { code: 'EADDRINUSE' });
  } finally {
    server.close();
  }
});

test('--help and --version answer; other arguments are refused', (t) => {
  t.mock.method(process.stdout, 'write', () => true);
  t.mock.method(process.stderr, 'write', () => true);
  assert.equal(parseArgs(['--version']), 0);
  assert.equal(parseArgs(['-h']), 0);
  assert.equal(parseArgs(['--bogus']), 2);
  assert.equal(parseArgs([]), null);
});
