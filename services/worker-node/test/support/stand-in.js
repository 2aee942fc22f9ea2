'use strict';
// The Python tests' LLM stand-in (services/tests/support/llm_stand_in.py, standard library
// only), run as a child process: the same wire formats for both workers' provider tests.

const { spawn } = require('node:child_process');
const path = require('node:path');
const readline = require('node:readline');

const SCRIPT = path.resolve(__dirname, '..', '..', '..', 'tests', 'support', 'llm_stand_in.py');

class StandIn {
  static async start(dialect) {
    const child = spawn(process.env.PYTHON || 'python3', [SCRIPT, dialect], { stdio: ['pipe', 'pipe', 'inherit'] });
    const standIn = new StandIn(child);
    standIn.baseUrl = (await standIn._reply()).base_url;
    return standIn;
  }

  constructor(child) {
    this._child = child;
    this._waiting = [];
    this._lines = [];
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const waiter = this._waiting.shift();
      if (waiter) waiter(JSON.parse(line));
      else this._lines.push(JSON.parse(line));
    });
  }

  _reply() {
    if (this._lines.length) return Promise.resolve(this._lines.shift());
    return new Promise((resolve) => this._waiting.push(resolve));
  }

  async command(command) {
    this._child.stdin.write(`${JSON.stringify(command)}\n`);
    return this._reply();
  }

  /** Each key's behaviour: "ok", "slow", "trickle", "html-502", an HTTP status, or a list. */
  behave(behaviour) { return this.command({ behaviour }); }

  /** The requests since the last call: [{path, key, body}]. */
  async seen() { return (await this.command({ seen: true })).seen; }

  async stop() {
    const exited = new Promise((resolve) => this._child.once('exit', resolve));
    this._child.stdin.end();
    await exited;
  }
}

module.exports = { StandIn };
