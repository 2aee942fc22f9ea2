'use strict';
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { WorkerBus } = require('../src/bus');
const config = require('../src/config');
const protocol = require('../src/protocol');
const { WorkerState } = require('../src/state');

const task = {
  worker_id: 'w', session_id: 's', query: 'q', grpc_endpoint: 'm:1', timestamp: 5,
  task_id: 't', attempt: 2, result_token: 'tok', api_key: '',
};

test('a task parses with its documented fields and defaults', () => {
  assert.deepEqual(protocol.parseTask(JSON.stringify(task)), { ...task, history: [] });
  const original = protocol.parseTask(Buffer.from(JSON.stringify({
    worker_id: 'w', session_id: 's', query: 'q', grpc_endpoint: 'm:1', attempt: 0, timestamp: 7.9,
  })));
  // The original protocol: the session and the time name the task, so a session's second
  // question is not taken for a repeat of its first.
  assert.equal(original.task_id, 's@7');
  assert.equal(original.attempt, 1);
  assert.equal(original.timestamp, 7);
  assert.equal(original.result_token, '');
  assert.deepEqual(original.history, []); // no history: a new conversation
});

test('a task carries its conversation, oldest first, as {role, content} messages', () => {
  const history = [
    { role: 'user', content: 'My name is Ana.' },
    { role: 'assistant', content: 'Nice to meet you, Ana.', extra: 1 },
  ];
  assert.deepEqual(protocol.parseTask(JSON.stringify({ ...task, history })).history, [
    { role: 'user', content: 'My name is Ana.' },
    { role: 'assistant', content: 'Nice to meet you, Ana.' },
  ]);
  assert.deepEqual(protocol.parseTask(JSON.stringify({ ...task, history: [] })).history, []);
  assert.deepEqual(protocol.parseTask(JSON.stringify({ ...task, history: null })).history, []);
});

test('malformed tasks are refused with the same reasons as the Python worker', () => {
  const cases = [
    ['not json', /^payload is not JSON/],
    [Buffer.from([0xff, 0xfe]), /^payload is not JSON/],
    ['[1]', /^payload must be a JSON object, got list$/],
    ['null', /^payload must be a JSON object, got NoneType$/],
    [JSON.stringify({ worker_id: 'w' }), /^missing field 'session_id'$/],
    [JSON.stringify({ ...task, query: '' }), /^field 'query' must not be empty$/],
    [JSON.stringify({ ...task, session_id: 7 }), /^field 'session_id' must be a string$/],
    [JSON.stringify({ ...task, attempt: '2' }), /^field 'attempt' must be a number$/],
    [JSON.stringify({ ...task, timestamp: true }), /^field 'timestamp' must be a number$/],
    [JSON.stringify({ ...task, api_key: 1 }), /^field 'api_key' must be a string$/],
    [JSON.stringify({ ...task, history: 'hi' }), /^field 'history' must be a list$/],
    [JSON.stringify({ ...task, history: { role: 'user', content: 'x' } }), /^field 'history' must be a list$/],
  ];
  const message = /^each message of 'history' must be \{role: user\|assistant, content: text\}$/;
  for (const bad of ['x', null, [], { role: 'system', content: 'x' }, { role: 'user' }, { content: 'x' },
    { role: 'assistant', content: 7 }, { role: 'user', content: null }]) {
    cases.push([JSON.stringify({ ...task, history: [{ role: 'user', content: 'ok' }, bad] }), message]);
  }
  for (const [payload, reason] of cases) {
    assert.throws(() => protocol.parseTask(payload), (e) => e instanceof protocol.ProtocolError && reason.test(e.message), String(payload));
  }
});

test('master status, worker status and registration', () => {
  assert.equal(protocol.parseMasterStatus('{"status": "online"}').status, 'online');
  assert.throws(() => protocol.parseMasterStatus('{"status": "away"}'), protocol.ProtocolError);
  const status = protocol.workerStatus('w', 'idle');
  assert.deepEqual(Object.keys(status), ['worker_id', 'status', 'task_id', 'timestamp']);
  assert.equal(status.task_id, null);
  const registration = protocol.registration({
    workerId: 'w', hostname: 'h', node: 'n', provider: 'offline', status: 'idle', instanceId: 'i', userKeyProvider: 'gemini',
  });
  assert.deepEqual(Object.keys(registration), [
    'worker_id', 'language', 'hostname', 'node', 'provider', 'status', 'timestamp', 'instance_id', 'user_key_provider',
  ]);
  assert.equal(registration.language, 'node');
  assert.equal(registration.user_key_provider, 'gemini');
  assert.deepEqual(protocol.topics('lab').tasks('w'), 'lab/workers/w/tasks');
});

test('a registration names the provider a key typed in the chat goes to: the worker\'s own, or USER_KEY_PROVIDER offline', () => {
  const registered = (env) => {
    const settings = config.load({ WORKER_ID: 'w', ...env });
    const bus = new WorkerBus({ settings, state: new WorkerState('w') });
    const published = [];
    bus.client = { publish: (topic, payload) => published.push([topic, JSON.parse(payload)]) };
    bus._register();
    const [topic, registration] = published[0];
    assert.equal(topic, 'upb/workers/register');
    return [registration.provider, registration.user_key_provider];
  };
  assert.deepEqual(registered({ OPENAI_API_KEYS: 'sk-x' }), ['openai', 'openai']);
  // A keyed worker sends a user's key to its own provider, whatever USER_KEY_PROVIDER says.
  assert.deepEqual(registered({ LLM_PROVIDER: 'deepseek', DEEPSEEK_API_KEYS: 'sk-x', USER_KEY_PROVIDER: 'openai' }), ['deepseek', 'deepseek']);
  assert.deepEqual(registered({}), ['offline', 'gemini']);
  assert.deepEqual(registered({ LLM_PROVIDER: 'offline', USER_KEY_PROVIDER: 'OpenAI' }), ['offline', 'openai']);
});
