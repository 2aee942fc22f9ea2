#!/usr/bin/env node
'use strict';
// `npm start` (or `node src/main.js`): one ai-system worker in Node.js, written against
// protos/README.md. Settings are the Python worker's environment variables
// (services/README.md); the gRPC contract is loaded from protos/ at start.

const config = require('./config');
const { WorkerBus } = require('./bus');
const { ResultSender } = require('./callback');
const { loadContract } = require('./contract');
const { HealthFile } = require('./health');
const { Logger } = require('./log');
const { WorkerMetrics } = require('./metrics');
const { Providers } = require('./providers');
const { TaskRunner } = require('./runner');
const { sleep } = require('./sleep');
const { WorkerState } = require('./state');
const { version } = require('../package.json');

const PROGRAM = 'ai-worker-node';
// A result already on its way may finish within this; then no result leaves.
const RUNNER_GRACE_SECONDS = 2.0;
const HELP = `usage: ${PROGRAM} [-h] [--version]

One ai-system worker in Node.js: takes tasks from MQTT one at a time, asks its LLM
provider, returns the results to the master over gRPC.

options:
  -h, --help  show this help message and exit
  --version   show program's version number and exit

Every setting is an environment variable (secrets may come from a file named by
<NAME>_FILE); services/README.md lists them with their defaults.
`;

/** Exit code, or null to run: --help and --version answer, anything else is refused. */
function parseArgs(argv) {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  if (argv.includes('--version')) {
    process.stdout.write(`${PROGRAM} ${version}\n`);
    return 0;
  }
  if (argv.length) {
    process.stderr.write(`usage: ${PROGRAM} [-h] [--version]\n${PROGRAM}: error: unrecognized arguments: ${argv.join(' ')}\n`);
    return 2;
  }
  return null;
}

async function main(argv = process.argv.slice(2)) {
  const early = parseArgs(argv);
  if (early !== null) return early;
  let settings;
  try {
    settings = config.load();
  } catch (error) {
    if (!(error instanceof config.ConfigError)) throw error;
    process.stderr.write(`${PROGRAM}: ${error.message}\n`);
    return 2;
  }
  const root = new Logger(`worker:${settings.workerId}`, settings.logLevel);
  const log = root.child('worker-node');

  const stop = new AbortController();
  const stopping = stop.signal;
  const stopped = new Promise((resolve) => stopping.addEventListener('abort', resolve, { once: true }));
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => stop.abort());

  const contract = loadContract();
  const metrics = new WorkerMetrics();
  const providers = new Providers(settings);
  metrics.watchKeys(providers.forUserKeys.name, providers.pool);
  const sender = new ResultSender(settings, contract, stopping, root.child('worker-node.callback'));
  const state = new WorkerState(settings.workerId);
  const health = new HealthFile(settings.healthFile);
  let bus = null;
  const runner = new TaskRunner({
    settings, providers, sender, state, stopping, metrics,
    publishStatus: (status) => bus.publishStatus(status),
    log: root.child('worker-node.runner'),
  });
  bus = new WorkerBus({ settings, runner, state, health, log: root.child('worker-node.bus') });
  if (settings.metricsPort) {
    try {
      await metrics.serve(settings.metricsHost, settings.metricsPort);
    } catch (error) {
      log.error(`cannot serve metrics on port ${settings.metricsPort} (METRICS_PORT): ${error.code || error.message}`);
      return 1;
    }
  }
  root.addSink(settings.mqttLogLevel, (record) => bus.publishLog(record));

  log.info(`worker ${settings.workerId} (instance ${bus.instanceId}) on node ${settings.node}: provider `
    + `${settings.provider}, model ${settings.model}, ${settings.apiKeys.length} configured key(s), simulated `
    + `work ${settings.simulatedWorkSeconds} s, results to ${settings.grpcEndpoints.join(', ')}`
    + `${settings.grpcTlsCaFile ? ' over TLS' : ''}`);
  runner.start();
  bus.start();
  await stopped;
  log.info('stopping');
  await Promise.race([runner.done, sleep(RUNNER_GRACE_SECONDS)]);
  sender.close();
  await bus.stop();
  log.info('stopped');
  return 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (error) => {
    process.stderr.write(`${PROGRAM}: ${error?.stack || error}\n`);
    process.exit(1);
  });
}

module.exports = { main, parseArgs };
