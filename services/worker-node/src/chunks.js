'use strict';
// Streams an answer to the master while the LLM writes it, at most about ten chunks a
// second. Best effort: the first refused or failed chunk ends the stream of that task (the
// master refuses chunks of an attempt that is no longer current), and the final SendResult
// carries the whole answer whatever happened to the chunks. One chunk is in flight at a
// time, so they arrive in order; the provider's reading never waits for them.

// Coalescing: a chunk per delta of a fast LLM would be a gRPC call per word.
const MIN_INTERVAL_SECONDS = 0.1;

class ChunkStream {
  constructor(sender, task, workerId, clock = () => performance.now() / 1000) {
    this._sender = sender;
    this._task = task;
    this._workerId = workerId;
    this._clock = clock;
    this._pending = [];
    this._seq = 0;
    this._sentAt = clock();
    this._inFlight = null;
    this.open = true;
  }

  /** The answer grew by `text` (the provider's onText). */
  add(text) {
    if (!this.open) return;
    this._pending.push(text);
    if (!this._inFlight && this._clock() - this._sentAt >= MIN_INTERVAL_SECONDS) {
      this._inFlight = this._send().finally(() => { this._inFlight = null; });
    }
  }

  /** Send what has not been sent yet; resolves once it is acknowledged (or given up). */
  async flush() {
    if (this._inFlight) await this._inFlight;
    if (this.open && this._pending.length) await this._send();
  }

  async _send() {
    const chunk = {
      task_id: this._task.task_id,
      worker_id: this._workerId,
      result_token: this._task.result_token,
      attempt: this._task.attempt,
      seq: this._seq,
      text: this._pending.join(''),
    };
    this._pending = [];
    this._sentAt = this._clock();
    if (await this._sender.sendChunk(this._task.grpc_endpoint, chunk)) this._seq += 1;
    else this.open = false;
  }
}

module.exports = { ChunkStream, MIN_INTERVAL_SECONDS };
