'use strict';
// The worker's one processing loop: takes tasks one at a time and returns their results.
//
// Per task: check that its result may go where the task says, report busy, ask the provider
// (with STREAM_ANSWERS, passing the answer on in chunks as it is written), simulate the work,
// send the result over gRPC, report idle. The two reports go out only with
// PUBLISH_TASK_STATUS, except an idle after a task that was refused or whose result could
// not be delivered: it makes the master requeue the task at once. A provider failure
// becomes a result with `error` and `error_kind`, so the user hears about it (or the master
// tries again) and the worker carries on. Once the worker is stopping, a task is abandoned:
// no result, no idle (its goodbye names the task). Per-task logs are DEBUG.

const { ChunkStream } = require('./chunks');
const { nowMs } = require('./protocol');
const { ProviderError, Stopped } = require('./providers/errors');
const { sleep } = require('./sleep');

const seconds = () => performance.now() / 1000;

class TaskRunner {
  constructor({ settings, providers, sender, state, publishStatus, stopping, metrics, log }) {
    this._workerId = settings.workerId;
    this._simulatedSeconds = settings.simulatedWorkSeconds;
    this._perTaskStatus = settings.publishTaskStatus;
    this._streamAnswers = settings.streamAnswers;
    this._providers = providers;
    this._sender = sender;
    this._state = state;
    this._publishStatus = publishStatus;
    this._stopping = stopping;
    this._metrics = metrics;
    this._log = log;
    this._queue = [];
    this._wake = null;
    this.done = null; // the loop's promise, settled once it has stopped
  }

  /** A task as it came off the bus, with its receipt time. */
  put(task, receivedAt = seconds()) {
    this._queue.push({ task, receivedAt });
    if (this._wake) this._wake();
  }

  start() {
    this._stopping.addEventListener('abort', () => this._wake?.(), { once: true });
    this.done = this._run();
    return this;
  }

  async _run() {
    while (!this._stopping.aborted) {
      const delivery = this._queue.shift();
      if (!delivery) {
        await new Promise((resolve) => { this._wake = resolve; });
        this._wake = null;
        continue;
      }
      try {
        await this.process(delivery);
      } catch (error) {
        // A bug must not end the only processing loop; the master requeues the task.
        this._log.error(`task ${delivery.task.task_id} failed in the worker (${error?.name || typeof error})`);
        this._publishStatus(this._state.finish());
      }
    }
  }

  async process(delivery) {
    this._metrics.busy.set(1);
    let outcome;
    try {
      outcome = await this._process(delivery);
    } finally {
      this._metrics.busy.set(0);
    }
    this._metrics.tasks.inc({ outcome });
    return outcome;
  }

  async _process({ task, receivedAt }) {
    if (!this._sender.allows(task.grpc_endpoint)) {
      // A forged task, or a master advertising an endpoint we were not told about: neither
      // gets the provider's answer (nor the key's quota).
      this._log.warning(`refused task ${task.task_id}: its result would go to '${task.grpc_endpoint}', `
        + `which is not one of GRPC_ENDPOINTS (${this._sender.endpoints.join(', ')})`);
      this._publishStatus(this._state.refuse(task.task_id));
      return 'refused';
    }
    const busy = this._state.start(task.task_id);
    if (this._perTaskStatus) this._publishStatus(busy);
    const provider = this._providers.choose(task.api_key);
    const chunks = this._streamAnswers ? new ChunkStream(this._sender, task, this._workerId) : null;
    const askedAt = seconds();
    let text = '';
    let error = '';
    let errorKind = '';
    let { model } = provider;
    try {
      const answer = await provider.ask(task.query, task.api_key, chunks ? (t) => chunks.add(t) : null,
        this._stopping, task.history);
      if (chunks) await chunks.flush();
      ({ text, model } = answer);
    } catch (failure) {
      if (failure instanceof Stopped || this._stopping.aborted) return 'abandoned';
      if (failure instanceof ProviderError) {
        error = failure.message;
        errorKind = failure.kind;
        this._log.warning(`task ${task.task_id}: ${error}`);
      } else {
        // A surprise (say, a malformed response) is still an answer to the user. Only the
        // type is logged: messages and stacks may quote request details.
        this._log.error(`task ${task.task_id}: ${provider.name} failed unexpectedly (${failure?.name || typeof failure})`);
        error = `${provider.name} failed unexpectedly; try again later.`;
        errorKind = 'unexpected';
      }
    }
    const providerSeconds = seconds() - askedAt;
    this._metrics.observeProvider(provider.name, providerSeconds, errorKind);
    // Only an answer is worth the simulated work; an error reaches the user at once.
    if (!error && this._simulatedSeconds) await sleep(this._simulatedSeconds, this._stopping);
    if (this._stopping.aborted) return 'abandoned'; // the goodbye names the task
    const processingSeconds = seconds() - receivedAt;
    this._metrics.taskSeconds.observe(processingSeconds);
    const result = {
      worker_id: this._workerId,
      session_id: task.session_id,
      original_query: task.query,
      ai_response: text,
      processing_time_ms: Math.trunc(processingSeconds * 1000),
      query_timestamp: task.timestamp,
      completion_timestamp: nowMs(),
      task_id: task.task_id,
      provider: provider.name,
      model,
      error,
      attempt: task.attempt,
      provider_time_ms: Math.trunc(providerSeconds * 1000),
      result_token: task.result_token,
      error_kind: errorKind,
    };
    const delivered = await this._sender.send(task.grpc_endpoint, result);
    if (delivered) this._log.debug(`task ${task.task_id} done in ${result.processing_time_ms} ms`);
    else if (this._stopping.aborted) return 'abandoned';
    const idle = this._state.finish();
    // A delivered result already frees us at the master; an undelivered one must not wait
    // for the task's deadline there.
    if (this._perTaskStatus || !delivered) this._publishStatus(idle);
    if (!delivered) return 'undelivered';
    return error ? 'provider_error' : 'answered';
  }
}

module.exports = { TaskRunner };
