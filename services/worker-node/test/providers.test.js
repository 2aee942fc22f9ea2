'use strict';
// Each provider against the Python tests' wire-format stand-in: answers, streamed answers,
// the conversation before the query, rejected keys, 429 and rotation, 5xx (JSON or a proxy's HTML), timeouts, refused
// connections, each with the error kind the master acts on, and never a key in a message.
const assert = require('node:assert/strict');
const net = require('node:net');
const { after, before, describe, test } = require('node:test');
const { Providers } = require('../src/providers');
const { Stopped } = require('../src/providers/errors');
const { StandIn } = require('./support/stand-in');

function settings(provider, baseUrl, keys, extra = {}) {
  return {
    provider, model: provider === 'gemini' ? 'gemini-2.5-flash' : 'gpt-4o-mini', baseUrl,
    apiKeys: keys, keyCooldownSeconds: 60, llmTimeoutSeconds: 5, userKeyProvider: 'gemini',
    offlineWordSeconds: 0, ...extra,
  };
}

async function failure(promise) {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the provider to fail');
}

for (const dialect of ['openai', 'gemini']) {
  describe(`${dialect} against its stand-in`, () => {
    let llm;
    before(async () => { llm = await StandIn.start(dialect); });
    after(async () => { await llm.stop(); });

    const provider = (keys, extra) => new Providers(settings(dialect, llm.baseUrl, keys, extra)).default;

    test('answers, whole and streamed word by word', async () => {
      const whole = await provider(['sk-ok']).ask('What is MQTT?');
      assert.deepEqual(whole, { text: 'stand-in answer: What is MQTT?', provider: dialect, model: provider(['x']).model });
      const pieces = [];
      const streamed = await provider(['sk-ok']).ask('What is MQTT?', '', (text) => pieces.push(text));
      assert.equal(streamed.text, 'stand-in answer: What is MQTT?');
      assert.deepEqual(pieces, ['stand-in ', 'answer: ', 'What ', 'is ', 'MQTT?']);
      const seen = await llm.seen();
      assert.deepEqual(seen.map((s) => s.key), ['sk-ok', 'sk-ok']);
      if (dialect === 'openai') {
        assert.match(seen[0].path, /\/v1\/chat\/completions$/);
        assert.equal(seen[1].body.stream, true);
      } else {
        assert.match(seen[0].path, /^\/v1beta\/models\/gemini-2\.5-flash:generateContent$/);
        assert.match(seen[1].path, /:streamGenerateContent\?alt=sse$/);
      }
    });

    test('the conversation goes first, then the query, in the provider\'s own form, whole or streamed', async () => {
      const history = [
        { role: 'user', content: 'My name is Ana.' },
        { role: 'assistant', content: 'Nice to meet you, Ana.' },
      ];
      const whole = await provider(['sk-ok']).ask('What is my name?', '', null, undefined, history);
      // The stand-in answers from the conversation it received, as a model would.
      assert.equal(whole.text, 'stand-in answer: What is my name? (you said before: "My name is Ana.")');
      await provider(['sk-ok']).ask('What is my name?', '', () => {}, undefined, history);
      const expected = dialect === 'openai'
        ? [...history, { role: 'user', content: 'What is my name?' }]
        : [
          { role: 'user', parts: [{ text: 'My name is Ana.' }] },
          { role: 'model', parts: [{ text: 'Nice to meet you, Ana.' }] },
          { role: 'user', parts: [{ text: 'What is my name?' }] },
        ];
      const field = dialect === 'openai' ? 'messages' : 'contents';
      const seen = await llm.seen();
      assert.deepEqual(seen.map((s) => s.body[field]), [expected, expected]);
      // No history: the query alone, as before.
      await provider(['sk-ok']).ask('What is MQTT?');
      const [alone] = await llm.seen();
      assert.deepEqual(alone.body[field], dialect === 'openai'
        ? [{ role: 'user', content: 'What is MQTT?' }]
        : [{ role: 'user', parts: [{ text: 'What is MQTT?' }] }]);
    });

    test('a rate-limited key rests and the next one answers; all resting is rate_limited', async () => {
      await llm.behave({ 'sk-limited': 429 });
      const p = provider(['sk-limited', 'sk-fine']);
      assert.equal((await p.ask('q')).text, 'stand-in answer: q');
      assert.equal((await p.ask('q')).text, 'stand-in answer: q'); // the rested key is skipped
      assert.deepEqual((await llm.seen()).map((s) => s.key), ['sk-limited', 'sk-fine', 'sk-fine']);
      const error = await failure(provider(['sk-limited']).ask('q'));
      assert.equal(error.kind, 'rate_limited');
      assert.match(error.message, /^All 1 \w+ API keys of this worker are rate-limited/);
      const user = await failure(provider([]).ask('q', 'sk-limited'));
      assert.equal(user.message, `Your ${dialect} API key is rate-limited or out of quota (HTTP 429); try again later or use another key.`);
      await llm.seen();
    });

    test('a rejected key is bad_key, and no configured key is too', async () => {
      await llm.behave({ 'sk-rejected': 403 });
      const error = await failure(provider(['sk-rejected']).ask('q'));
      assert.equal(error.kind, 'bad_key');
      assert.equal(error.message, `${dialect} rejected the API key (HTTP 403); check the key.`);
      const none = await failure(provider([]).ask('q'));
      assert.equal(none.kind, 'bad_key');
      assert.match(none.message, /^No \w+ API key is configured on this worker/);
      await llm.seen();
    });

    test('server errors are upstream, and the key an upstream message quotes is redacted', async () => {
      await llm.behave({ 'sk-quoted-secret': 500, 'sk-proxy': 'html-502', 'sk-busy': 503 });
      const quoted = await failure(provider(['sk-quoted-secret']).ask('q'));
      assert.equal(quoted.kind, 'upstream');
      assert.match(quoted.message, new RegExp(`^${dialect} failed with HTTP 500: .*\\[redacted\\]`));
      assert.ok(!quoted.message.includes('sk-quoted-secret'));
      const proxy = await failure(provider(['sk-proxy']).ask('q'));
      assert.equal(proxy.kind, 'upstream');
      assert.match(proxy.message, /HTTP 502: <html>/);
      assert.equal((await failure(provider(['sk-busy']).ask('q', '', () => {}))).kind, 'upstream');
      await llm.seen();
    });

    test('a slow answer is a timeout, streamed or not; the worker stopping abandons the call', async () => {
      await llm.command({ behaviour: { 'sk-slow': 'slow', 'sk-trickle': 'trickle' }, slow_seconds: 2 });
      const slow = await failure(provider(['sk-slow'], { llmTimeoutSeconds: 0.3 }).ask('q'));
      assert.equal(slow.kind, 'timeout');
      assert.equal(slow.message, `${dialect} did not answer within 0.3 s; try again later.`);
      // Each byte comes quickly, the whole never: the deadline is for the whole call.
      const trickle = await failure(provider(['sk-trickle'], { llmTimeoutSeconds: 0.5 }).ask('q', '', () => {}));
      assert.equal(trickle.kind, 'timeout');
      const stop = new AbortController();
      setTimeout(() => stop.abort(), 200);
      assert.ok(await failure(provider(['sk-slow']).ask('q', '', null, stop.signal)) instanceof Stopped);
      await llm.seen();
    });
  });
}

test('gemini\'s 400 API_KEY_INVALID is a bad key', async (t) => {
  const llm = await StandIn.start('gemini');
  t.after(() => llm.stop());
  await llm.behave({ 'AIza-bad': 400 });
  const p = new Providers(settings('gemini', llm.baseUrl, ['AIza-bad'])).default;
  assert.equal((await failure(p.ask('q'))).kind, 'bad_key');
});

test('an unreachable provider is upstream', async () => {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve)); // nobody listens there now
  const p = new Providers(settings('openai', `http://127.0.0.1:${port}/v1`, ['sk'])).default;
  const error = await failure(p.ask('q'));
  assert.equal(error.kind, 'upstream');
  assert.equal(error.message, 'openai could not be reached; try again later.');
});

test('offline answers without network, whole or word by word, and says how to get real ones', async () => {
  const p = new Providers(settings('offline', '', [], { model: 'offline-echo' })).default;
  const pieces = [];
  const answer = await p.ask('Wie spät ist es? ☃', '', (text) => pieces.push(text));
  assert.equal(answer.provider, 'offline');
  assert.equal(pieces.join(''), answer.text);
  assert.match(answer.text, /^\[offline answer, no LLM was asked\] Your question has 5 words and 18 characters: "Wie spät ist es\? ☃"\. /);
  assert.match(answer.text, /type your own gemini API key in the chat\.$/);
});

test('offline says how many earlier questions the conversation holds, after the excerpt', async () => {
  const p = new Providers(settings('offline', '', [], { model: 'offline-echo' })).default;
  const plain = (await p.ask('What is my name?')).text;
  assert.equal((await p.ask('What is my name?', '', null, undefined, [])).text, plain);
  const one = [{ role: 'user', content: 'My name is Ana.' }, { role: 'assistant', content: 'Hello, Ana.' }];
  const two = [...one, { role: 'user', content: 'And yours?' }, { role: 'assistant', content: 'Offline.' }];
  const start = '[offline answer, no LLM was asked] Your question has 4 words and 16 characters: "What is my name?".';
  assert.ok(plain.startsWith(`${start} This worker runs the offline provider `));
  const expected = (sentence) => plain.replace(start, `${start} ${sentence}`);
  assert.equal((await p.ask('What is my name?', '', null, undefined, one)).text,
    expected('This conversation holds 1 earlier question.'));
  const pieces = [];
  const streamed = await p.ask('What is my name?', '', (text) => pieces.push(text), undefined, two);
  assert.equal(streamed.text, expected('This conversation holds 2 earlier questions.'));
  assert.equal(pieces.join(''), streamed.text);
});

test('an offline worker sends a user\'s key to USER_KEY_PROVIDER with its default model', () => {
  const providers = new Providers(settings('offline', '', [], { model: 'offline-echo', userKeyProvider: 'openai' }));
  assert.equal(providers.choose('').name, 'offline');
  const keyed = providers.choose('sk-user');
  assert.deepEqual([keyed.name, keyed.model, keyed.endpoint.baseUrl], ['openai', 'gpt-4o-mini', 'https://api.openai.com/v1']);
});
