'use strict';
// The result sender against real gRPC servers in this process.
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { ResultSender } = require('../src/callback');
const { ChunkStream } = require('../src/chunks');
const { loadContract } = require('../src/contract');
const { FakeMaster, freePort } = require('./support/master');

const contract = loadContract();
const quiet = { info() {}, warning() {}, error() {}, debug() {} };
const recording = () => {
  const lines = [];
  const log = Object.fromEntries(['info', 'warning', 'error', 'debug'].map((level) => [level, (m) => lines.push(`${level} ${m}`)]));
  return { lines, log };
};
const result = (taskId) => ({
  worker_id: 'w', session_id: 's', original_query: 'q', ai_response: 'a', task_id: taskId,
  result_token: `token-${taskId}`, attempt: 1, processing_time_ms: 5, query_timestamp: Date.now(),
  completion_timestamp: Date.now(), provider: 'offline', model: 'offline-echo', error: '', error_kind: '', provider_time_ms: 1,
});

function sender(endpoints, { stopping = new AbortController().signal, log = quiet, maxAttempts = 5 } = {}) {
  const { resultBackoffs } = require('../src/config');
  return new ResultSender({
    grpcTimeoutSeconds: 2, resultBackoffs: resultBackoffs(maxAttempts), grpcEndpoints: endpoints,
    grpcTlsCaFile: '', grpcConnectTo: '',
  }, contract, stopping, log);
}

test('a result reaches the master with every field; only configured endpoints are allowed', async (t) => {
  const master = await new FakeMaster().start();
  t.after(() => master.stop());
  const s = sender([master.endpoint]);
  t.after(() => s.close());
  assert.equal(s.allows(master.endpoint), true);
  assert.equal(s.allows('127.0.0.1:1'), false);
  assert.equal(await s.send(master.endpoint, result('t1')), true);
  const got = master.results[0];
  assert.deepEqual({ ...got, query_timestamp: 0, completion_timestamp: 0 }, { ...result('t1'), query_timestamp: 0, completion_timestamp: 0 });
});

test('a master that is away is retried with backoff until it is back', async (t) => {
  const port = await freePort();
  const { lines, log } = recording();
  const s = sender([`127.0.0.1:${port}`], { log });
  t.after(() => s.close());
  const sending = s.send(`127.0.0.1:${port}`, result('late'));
  const master = new FakeMaster();
  t.after(() => master.stop());
  while (!lines.some((line) => line.includes('retrying the result of task late'))) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await master.start(port);
  assert.equal(await sending, true);
  assert.equal(master.results.length, 1);
});

test('success=false is final: one call, no retry', async (t) => {
  const master = await new FakeMaster({ success: false }).start();
  t.after(() => master.stop());
  const { lines, log } = recording();
  const s = sender([master.endpoint], { log });
  t.after(() => s.close());
  assert.equal(await s.send(master.endpoint, result('refused')), false);
  assert.equal(master.results.length, 1);
  assert.ok(lines.includes('warning master refused the result of task refused: unknown task'));
});

test('a master answering UNIMPLEMENTED gets the original assignment\'s name from then on', async (t) => {
  const master = await new FakeMaster({ original: true }).start();
  t.after(() => master.stop());
  const { lines, log } = recording();
  const s = sender([master.endpoint], { log });
  t.after(() => s.close());
  assert.equal(await s.send(master.endpoint, result('o1')), true);
  assert.equal(await s.send(master.endpoint, result('o2')), true);
  assert.deepEqual(master.results.map((r) => [r.task_id, r.result_token]), [['o1', 'token-o1'], ['o2', 'token-o2']]);
  assert.equal(lines.filter((line) => line.includes('worker.WorkerCallback')).length, 1);
});

test('once the worker stops, a result waiting to be retried is given up', async (t) => {
  const port = await freePort();
  const stop = new AbortController();
  const s = sender([`127.0.0.1:${port}`], { stopping: stop.signal });
  t.after(() => s.close());
  const sending = s.send(`127.0.0.1:${port}`, result('abandoned'));
  setTimeout(() => stop.abort(), 100);
  assert.equal(await sending, false);
});

test('chunks carry the token and count from 0; a master without SendChunk is not asked again', async (t) => {
  const master = await new FakeMaster().start();
  const old = await new FakeMaster({ chunks: false }).start();
  t.after(() => Promise.all([master.stop(), old.stop()]));
  const s = sender([master.endpoint, old.endpoint]);
  t.after(() => s.close());
  const task = { task_id: 'c', result_token: 'token-c', attempt: 2, grpc_endpoint: master.endpoint };
  let now = 0;
  const stream = new ChunkStream(s, task, 'w', () => now);
  stream.add('Hello ');
  stream.add('there, '); // within 0.1 s of the start: coalesced
  now = 0.2;
  stream.add('you.');
  await stream.flush();
  assert.deepEqual(master.chunks.map((c) => [c.seq, c.text, c.attempt, c.result_token, c.worker_id]),
    [[0, 'Hello there, you.', 2, 'token-c', 'w']]);
  const late = new ChunkStream(s, { ...task, grpc_endpoint: old.endpoint }, 'w', () => now);
  late.add('x');
  await late.flush();
  assert.equal(late.open, false);
  assert.equal(await s.sendChunk(old.endpoint, { task_id: 'c', seq: 0, text: 'y' }), false);
});
