'use strict';
// The gRPC contract, loaded at run time from protos/ (no generated code to keep in step):
// the repository's protos/ folder, or PROTOS_DIR where an image puts a copy of it.

const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_FILE = 'ai_system/rpc/worker_callback.proto';
const SERVICE = 'ai_system.rpc.WorkerCallback';
// The original assignment's name of SendResult (package worker); its TaskResult has our
// field numbers 1-8, so the same message serves.
const ORIGINAL_SEND_RESULT = '/worker.WorkerCallback/SendResult';

function protosDir(env = process.env) {
  return (env.PROTOS_DIR || '').trim() || path.resolve(__dirname, '..', '..', '..', 'protos');
}

/** {Client: the WorkerCallback client class, definition: the loaded package definition}. */
function loadContract(env = process.env) {
  const definition = protoLoader.loadSync(PROTO_FILE, {
    includeDirs: [protosDir(env)],
    keepCase: true, // the proto's field names, as protos/README.md spells them
    longs: Number, // ms timestamps fit in a double
    defaults: true,
  });
  const Client = grpc.makeClientConstructor(definition[SERVICE], SERVICE);
  return { Client, definition, service: definition[SERVICE] };
}

module.exports = { ORIGINAL_SEND_RESULT, PROTO_FILE, SERVICE, loadContract, protosDir };
