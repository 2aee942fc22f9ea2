'use strict';
// A gRPC server standing in for the master, in-process: records what it is sent, answers
// with `success`; `original` serves only the original assignment's worker.WorkerCallback.

const grpc = require('@grpc/grpc-js');
const { loadContract } = require('../../src/contract');

class FakeMaster {
  constructor({ success = true, original = false, chunks = true } = {}) {
    this.success = success;
    this.results = [];
    this.chunks = [];
    this._contract = loadContract();
    this._server = new grpc.Server();
    const service = this._contract.service;
    const sendResult = (call, done) => {
      this.results.push(call.request);
      done(null, { success: this.success, message: this.success ? 'result delivered' : 'unknown task' });
    };
    if (original) {
      const renamed = Object.fromEntries(Object.entries(service).map(([name, method]) => [name,
        { ...method, path: method.path.replace('/ai_system.rpc.WorkerCallback/', '/worker.WorkerCallback/') }]));
      this._server.addService({ SendResult: renamed.SendResult }, { SendResult: sendResult });
    } else {
      const handlers = { SendResult: sendResult };
      const methods = { SendResult: service.SendResult };
      if (chunks) {
        methods.SendChunk = service.SendChunk;
        handlers.SendChunk = (call, done) => {
          this.chunks.push(call.request);
          done(null, { success: this.success, message: '' });
        };
      }
      this._server.addService(methods, handlers);
    }
  }

  /** Listen on `port` (0: any free one); sets `endpoint`. */
  start(port = 0) {
    return new Promise((resolve, reject) => {
      this._server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => {
        if (error) {
          reject(error);
          return;
        }
        this.endpoint = `127.0.0.1:${bound}`;
        resolve(this);
      });
    });
  }

  stop() {
    return new Promise((resolve) => this._server.tryShutdown(resolve));
  }
}

/** A TCP port nobody listens on right now. */
function freePort() {
  const net = require('node:net');
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

module.exports = { FakeMaster, freePort };
