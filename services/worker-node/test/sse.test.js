'use strict';
const assert = require('node:assert/strict');
const { test } = require('node:test');
const { serverSentEvents } = require('../src/providers/http');

test('server-sent events split anywhere, comments and [DONE] skipped', async () => {
  const text = ': keep-alive\n\ndata: {"a":1}\n\ndata: {"b":\r\n\r\ndata: [DONE]\n\n';
  const fixed = text.replace('{"b":\r\n', '{"b":2}\r\n');
  const bytes = new TextEncoder().encode(`${fixed}data: {"ü":"☃"}`);
  // One byte at a time, so events and multi-byte characters straddle reads.
  const body = (async function* () { for (const byte of bytes) yield Uint8Array.of(byte); })();
  const events = [];
  for await (const event of serverSentEvents(body)) events.push(event);
  assert.deepEqual(events, [{ a: 1 }, { b: 2 }, { ü: '☃' }]);
});
