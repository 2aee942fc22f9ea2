'use strict';
// The task runner with a recording sender and scripted providers: what goes back for each
// kind of task, and what is reported on the bus.
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { TaskRunner } = require('../src/runner');
const { WorkerState } = require('../src/state');
const { WorkerMetrics } = require('../src/metrics');
const { BadKeyError } = require('../src/providers/errors');
const { KeyPool } = require('../src/providers/keys');

const quiet = { info() {}, warning() {}, error() {}, debug() {} };

function harness({ answer, simulated = 0, perTask = true, delivered = true, metrics = new WorkerMetrics() } = {}) {
  const stop = new AbortController();
  const statuses = [];
  const sent = [];
  const asked = [];
  const conversations = [];
  const provider = {
    name: 'openai',
    model: 'gpt-4o-mini',
    async ask(query, key, onText, _stopping, history) {
      asked.push(key);
      conversations.push(history);
      if (answer instanceof Error) throw answer;
      onText?.(answer);
      return { text: answer, provider: 'openai', model: 'gpt-4o-mini' };
    },
  };
  const sender = {
    endpoints: ['m:1'],
    allows: (endpoint) => endpoint === 'm:1',
    async send(endpoint, result) { sent.push(result); return delivered; },
    async sendChunk() { return true; },
  };
  const runner = new TaskRunner({
    settings: { workerId: 'w', simulatedWorkSeconds: simulated, publishTaskStatus: perTask, streamAnswers: true },
    providers: { choose: () => provider },
    sender,
    state: new WorkerState('w'),
    publishStatus: (status) => statuses.push([status.status, status.task_id]),
    stopping: stop.signal,
    metrics,
    log: quiet,
  });
  return { runner, stop, statuses, sent, asked, conversations, metrics };
}

const task = (taskId, extra = {}) => ({
  worker_id: 'w', session_id: `s-${taskId}`, query: 'q', api_key: '', grpc_endpoint: 'm:1',
  timestamp: 1000, task_id: taskId, attempt: 3, result_token: `token-${taskId}`, ...extra,
});
const delivery = (t) => ({ task: t, receivedAt: performance.now() / 1000 });
// How many tasks ended so: prom-client reads its values asynchronously.
const counted = async (metrics, outcome) => (await metrics.tasks.get()).values
  .find((value) => value.labels.outcome === outcome).value;

test('an answer goes back with the task\'s ids and token, between busy and idle', async () => {
  const h = harness({ answer: 'forty-two', simulated: 0.05 });
  assert.equal(await h.runner.process(delivery(task('t1'))), 'answered');
  const [result] = h.sent;
  assert.deepEqual([result.task_id, result.session_id, result.attempt, result.result_token, result.ai_response, result.error],
    ['t1', 's-t1', 3, 'token-t1', 'forty-two', '']);
  assert.ok(result.processing_time_ms >= 50 && result.processing_time_ms >= result.provider_time_ms);
  assert.deepEqual(h.statuses, [['busy', 't1'], ['idle', 't1']]);
  assert.equal(await counted(h.metrics, 'answered'), 1);
});

test('the task\'s conversation goes to the provider with its query', async () => {
  const h = harness({ answer: 'Ana.' });
  const history = [{ role: 'user', content: 'My name is Ana.' }, { role: 'assistant', content: 'Hello, Ana.' }];
  assert.equal(await h.runner.process(delivery(task('t2', { history }))), 'answered');
  assert.deepEqual(h.conversations, [history]);
});

test('a task for another endpoint is refused before the provider, reported idle with its id', async () => {
  const h = harness({ answer: 'x' });
  assert.equal(await h.runner.process(delivery(task('forged', { grpc_endpoint: 'evil:1', api_key: 'sk-user' }))), 'refused');
  assert.deepEqual([h.asked, h.sent, h.statuses], [[], [], [['idle', 'forged']]]);
});

test('a provider error is a result with its kind, at once (no simulated work)', async () => {
  const h = harness({ answer: new BadKeyError('openai rejected the API key (HTTP 401); check the key.'), simulated: 30 });
  assert.equal(await h.runner.process(delivery(task('bad', { api_key: 'sk-user' }))), 'provider_error');
  assert.deepEqual([h.sent[0].error_kind, h.sent[0].ai_response, h.sent[0].result_token], ['bad_key', '', 'token-bad']);
  assert.deepEqual(h.asked, ['sk-user']);
});

test('a surprise from the provider is an unexpected error, and the worker goes on', async () => {
  const h = harness({ answer: new SyntaxError('Unexpected token < in JSON') });
  assert.equal(await h.runner.process(delivery(task('odd'))), 'provider_error');
  assert.deepEqual([h.sent[0].error_kind, h.sent[0].error], ['unexpected', 'openai failed unexpectedly; try again later.']);
});

test('an undelivered result is reported idle even without per-task statuses', async () => {
  const h = harness({ answer: 'a', perTask: false, delivered: false });
  assert.equal(await h.runner.process(delivery(task('lost'))), 'undelivered');
  assert.deepEqual(h.statuses, [['idle', 'lost']]);
});

test('stopping during the simulated work abandons the task: no result, no idle', async () => {
  const h = harness({ answer: 'a', simulated: 30 });
  h.runner.start();
  h.runner.put(task('long'));
  while (!h.statuses.length) await new Promise((resolve) => setTimeout(resolve, 10));
  h.stop.abort();
  await h.runner.done;
  assert.deepEqual([h.sent, h.statuses, await counted(h.metrics, 'abandoned')], [[], [['busy', 'long']], 1]);
});

test('tasks are taken one at a time, in order', async () => {
  const h = harness({ answer: 'a', simulated: 0.01 });
  h.runner.start();
  for (const id of ['a', 'b', 'c']) h.runner.put(task(id));
  while (h.sent.length < 3) await new Promise((resolve) => setTimeout(resolve, 10));
  h.stop.abort();
  await h.runner.done;
  assert.deepEqual(h.statuses.map(([s, id]) => `${s}:${id}`), ['busy:a', 'idle:a', 'busy:b', 'idle:b', 'busy:c', 'idle:c']);
});

test('the served /metrics counts an answer and a provider error, with the key pool', async () => {
  const metrics = new WorkerMetrics();
  metrics.watchKeys('openai', new KeyPool(['k1', 'k2'], 60));
  await harness({ answer: 'a', metrics }).runner.process(delivery(task('ok')));
  await harness({ answer: new BadKeyError('openai rejected the API key (HTTP 401).'), metrics })
    .runner.process(delivery(task('bad')));
  const server = await metrics.serve('127.0.0.1', 0);
  try {
    const response = await fetch(`http://127.0.0.1:${server.address().port}/metrics`);
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /^ai_worker_tasks_total\{outcome="answered"\} 1$/m);
    assert.match(text, /^ai_worker_tasks_total\{outcome="provider_error"\} 1$/m);
    assert.match(text, /^ai_worker_provider_errors_total\{provider="openai",kind="bad_key"\} 1$/m);
    assert.match(text, /^ai_worker_task_seconds_count 2$/m);
    assert.match(text, /^ai_worker_provider_seconds_count\{provider="openai"\} 2$/m);
    assert.match(text, /^ai_worker_keys\{provider="openai"\} 2$/m);
    assert.match(text, /^ai_worker_busy 0$/m);
  } finally {
    server.close();
  }
});
