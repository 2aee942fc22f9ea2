'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { test } = require('node:test');
const config = require('../src/config');

const base = { GRPC_ENDPOINTS: 'master:50051' };

test('defaults match the Python worker and auto picks offline without keys', () => {
  const s = config.load({});
  assert.equal(s.provider, 'offline');
  assert.equal(s.model, 'offline-echo');
  assert.equal(s.workerId, `node-worker-${os.hostname()}`);
  assert.deepEqual(s.grpcEndpoints, ['master:50051']);
  assert.equal(s.mqtt.port, 1883);
  assert.equal(s.mqtt.topicPrefix, 'upb');
  assert.equal(s.simulatedWorkSeconds, 10);
  assert.deepEqual(s.resultBackoffs, [0.5, 1, 2, 4]);
  assert.equal(config.worstCaseSeconds(s), 97.5);
});

test('auto takes the first provider with keys; keys and password come from _FILE too', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  t.after(() => fs.rmSync(dir, { recursive: true }));
  fs.writeFileSync(path.join(dir, 'keys'), 'sk-one\nsk-two, sk-three\n');
  fs.writeFileSync(path.join(dir, 'password'), 'hunter2\n');
  const s = config.load({
    ...base, OPENAI_API_KEYS_FILE: path.join(dir, 'keys'), OPENAI_API_KEYS: 'ignored',
    MQTT_PASSWORD_FILE: path.join(dir, 'password'), MQTT_USERNAME: 'worker-node',
  });
  assert.equal(s.provider, 'openai');
  assert.equal(s.model, 'gpt-4o-mini');
  assert.equal(s.baseUrl, 'https://api.openai.com/v1');
  assert.deepEqual([...s.apiKeys], ['sk-one', 'sk-two', 'sk-three']);
  assert.equal(s.mqtt.password, 'hunter2');
  // Printing the settings shows neither the keys nor the password.
  const shown = JSON.stringify(s) + require('node:util').inspect(s);
  for (const secret of ['sk-one', 'sk-two', 'hunter2']) assert.ok(!shown.includes(secret), secret);
});

test('a bad value stops the worker with a message naming the variable', () => {
  const cases = {
    LLM_PROVIDER: ['claude', /LLM_PROVIDER must be one of auto, offline, gemini, deepseek, openai/],
    GRPC_ENDPOINTS: ['master', /GRPC_ENDPOINTS must be host:port items/],
    MQTT_PORT: ['eighty', /MQTT_PORT must be a whole number, got 'eighty'/],
    MQTT_KEEPALIVE_SECONDS: ['2', /MQTT_KEEPALIVE_SECONDS must be at least 5/],
    PUBLISH_TASK_STATUS: ['maybe', /PUBLISH_TASK_STATUS must be true or false/],
    MQTT_PASSWORD_FILE: ['/nonexistent/password', /MQTT_PASSWORD_FILE points to '\/nonexistent\/password', which cannot be read: ENOENT/],
    MQTT_TLS_CA_FILE: [path.join(__dirname, 'support', 'stand-in.js'), /MQTT_TLS_CA_FILE .* PEM CA certificates: no certificate in it/],
    LOG_LEVEL: ['LOUD', /LOG_LEVEL must be one of DEBUG/],
  };
  for (const [name, [value, message]] of Object.entries(cases)) {
    assert.throws(() => config.load({ ...base, [name]: value }), (error) => error instanceof config.ConfigError && message.test(error.message), name);
  }
});

test('a worst case beyond the master\'s deadline is refused at start', () => {
  assert.throws(() => config.load({ SIMULATED_WORK_SECONDS: '60' }),
    /worst case of one task.*= 147.5 s, exceeds TASK_TIMEOUT_SECONDS \(120/);
  assert.equal(config.load({ SIMULATED_WORK_SECONDS: '60', TASK_TIMEOUT_SECONDS: '160' }).simulatedWorkSeconds, 60);
});

test('the TLS listener is the default port with a CA file', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  t.after(() => fs.rmSync(dir, { recursive: true }));
  const ca = path.join(dir, 'ca.crt');
  fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  assert.equal(config.load({ MQTT_TLS_CA_FILE: ca }).mqtt.port, 8883);
});
