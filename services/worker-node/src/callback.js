'use strict';
// Returns task results to the master: the gRPC client of WorkerCallback.SendResult.
//
// Results go only to the endpoints of GRPC_ENDPOINTS: one long-lived channel each (TLS
// checked against GRPC_TLS_CA_FILE when that is set), a deadline on every call, grpc's own
// retry policy for a master that refuses connections for a moment, and a bounded outer loop
// with exponential backoff for one that is away for seconds. `close` ends every call in
// flight and refuses new ones, so nothing is sent after the worker said goodbye.

const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const { ORIGINAL_SEND_RESULT, SERVICE } = require('./contract');
const { sleep } = require('./sleep');

const RETRY_POLICY = {
  methodConfig: [{
    name: [{ service: SERVICE }],
    retryPolicy: {
      maxAttempts: 4,
      initialBackoff: '0.1s',
      maxBackoff: '1s',
      backoffMultiplier: 2,
      retryableStatusCodes: ['UNAVAILABLE'],
    },
  }],
};
const CHANNEL_OPTIONS = {
  'grpc.service_config': JSON.stringify(RETRY_POLICY),
  // The default reconnect backoff grows to 120 s; a restarted master is back sooner.
  'grpc.initial_reconnect_backoff_ms': 250,
  'grpc.min_reconnect_backoff_ms': 250,
  'grpc.max_reconnect_backoff_ms': 2000,
};
const RETRYABLE = [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED];
// A chunk late by more than this is not worth the wait: the final answer follows anyway.
const CHUNK_TIMEOUT_SECONDS = 2.0;
const STATUS_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([name, code]) => [code, name]));

class ResultSender {
  /** `stopping`: the worker's AbortSignal; once it aborts, no result leaves. */
  constructor(settings, contract, stopping, log) {
    this._timeout = settings.grpcTimeoutSeconds;
    this._backoffs = settings.resultBackoffs;
    this._stopping = stopping;
    this._log = log;
    this._service = contract.service;
    this.endpoints = settings.grpcEndpoints;
    const credentials = settings.grpcTlsCaFile
      ? grpc.credentials.createSsl(fs.readFileSync(settings.grpcTlsCaFile))
      : grpc.credentials.createInsecure();
    this._clients = new Map(this.endpoints.map((endpoint) => [
      endpoint, new contract.Client(settings.grpcConnectTo || endpoint, credentials, CHANNEL_OPTIONS)]));
    this._original = new Set(); // endpoints of masters of the original assignment
    this._noStreaming = new Set(); // endpoints that answered SendChunk UNIMPLEMENTED
    this._inFlight = new Set();
    this._closed = false;
  }

  /** Whether `endpoint` is one of GRPC_ENDPOINTS (results go nowhere else). */
  allows(endpoint) {
    return this._clients.has(endpoint);
  }

  /**
   * true once the master accepted the result; false if it refused, stayed away, or the
   * worker is stopping (the master then requeues the task). `endpoint` must be one `allows`.
   */
  async send(endpoint, result) {
    const attempts = this._backoffs.length + 1;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      let ack;
      try {
        ack = await this._sendResult(endpoint, result);
      } catch (error) {
        if (this._closed || this._stopping.aborted) return false;
        if (error.code === grpc.status.UNIMPLEMENTED && this._useOriginal(endpoint)) {
          attempt -= 1; // the same try again, by the other name
          continue;
        }
        const code = STATUS_NAMES[error.code] || error.code;
        if (!RETRYABLE.includes(error.code) || attempt === attempts) {
          this._log.error(`could not return the result of task ${result.task_id} to ${endpoint} after `
            + `${attempt} attempt(s): ${code} ${error.details || ''}`);
          return false;
        }
        const backoff = this._backoffs[attempt - 1];
        this._log.warning(`master at ${endpoint}: ${code}; retrying the result of task ${result.task_id} in ${backoff.toFixed(1)} s`);
        if (!(await sleep(backoff, this._stopping))) return false;
        continue;
      }
      if (!ack.success) {
        // success=false is final: the master no longer knows the task, or refused the token.
        this._log.warning(`master refused the result of task ${result.task_id}: ${ack.message}`);
      }
      return Boolean(ack.success);
    }
    return false;
  }

  /**
   * Part of an answer, best effort: one try, a short deadline. false means stop streaming
   * this task (refused, unreachable, or a master without SendChunk, not asked again).
   */
  async sendChunk(endpoint, chunk) {
    if (this._noStreaming.has(endpoint) || this._closed || this._stopping.aborted) return false;
    try {
      const ack = await this._call((options, done) => this._clients.get(endpoint).SendChunk(chunk, options, done),
        CHUNK_TIMEOUT_SECONDS);
      return Boolean(ack.success);
    } catch (error) {
      if (error.code === grpc.status.UNIMPLEMENTED) {
        this._log.info(`the master at ${endpoint} takes no streamed chunks; sending whole answers`);
        this._noStreaming.add(endpoint);
      }
      return false;
    }
  }

  /** Cancels the calls in flight and refuses new ones; closes the channels. */
  close() {
    this._closed = true;
    for (const call of this._inFlight) call.cancel();
    for (const client of this._clients.values()) client.close();
  }

  _useOriginal(endpoint) {
    if (this._original.has(endpoint)) return false;
    this._original.add(endpoint);
    this._log.info(`the master at ${endpoint} speaks the original assignment's worker.WorkerCallback: `
      + 'results go there by that name from now on');
    return true;
  }

  _sendResult(endpoint, result) {
    const client = this._clients.get(endpoint);
    if (this._original.has(endpoint)) {
      const method = this._service.SendResult;
      return this._call((options, done) => client.makeUnaryRequest(ORIGINAL_SEND_RESULT,
        method.requestSerialize, method.responseDeserialize, result, new grpc.Metadata(), options, done),
      this._timeout);
    }
    return this._call((options, done) => client.SendResult(result, options, done), this._timeout);
  }

  _call(start, timeoutSeconds) {
    if (this._closed || this._stopping.aborted) return Promise.reject(new Error('closed'));
    return new Promise((resolve, reject) => {
      const call = start({ deadline: Date.now() + timeoutSeconds * 1000 }, (error, ack) => {
        this._inFlight.delete(call);
        if (error) reject(error);
        else resolve(ack);
      });
      this._inFlight.add(call);
    });
  }
}

module.exports = { ResultSender };
