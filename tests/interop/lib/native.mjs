// Drives a native peer (pc_peer, or any program speaking tests/interop/PROTOCOL.md)
// over JSON lines on stdin/stdout. Processes are only ever killed by their recorded PID.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const interopDir = path.resolve(here, '..');
export const repoRoot = path.resolve(interopDir, '..', '..');

// PIDs of every child still alive, killed synchronously if this process exits early.
const livePids = new Set();
process.on('exit', () => {
  for (const pid of livePids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

// The command line for the native peer: $PC_PEER split on spaces (so
// `PC_PEER="node tests/interop/tools/fake_native_peer.mjs"` works), or the
// default build location. Relative paths are tried against the cwd first, then
// the repository root, so the tests run from either place.
export function nativeCommand(env = process.env) {
  const spec = (env.PC_PEER ?? '').trim();
  const argv = spec ? spec.split(/\s+/) : [path.join(repoRoot, 'build', 'tests', 'pc_peer')];
  return argv.map((arg) => {
    if (path.isAbsolute(arg) || !arg.includes('/') || arg.startsWith('-')) return arg;
    for (const base of [process.cwd(), repoRoot]) {
      const p = path.resolve(base, arg);
      if (fs.existsSync(p)) return p;
    }
    return arg;
  });
}

export class NativeExitError extends Error {}

export class NativePeer {
  /**
   * @param {object} o
   * @param {'offer'|'answer'} o.role
   * @param {string[]} [o.command] argv prefix (default nativeCommand()); `--role X` is appended
   * @param {string} [o.name] label used in logs
   */
  constructor({ role, command = nativeCommand(), name = `native-${role}`, verbose = !!process.env.INTEROP_VERBOSE }) {
    this.name = name;
    this.verbose = verbose;
    this.lines = [];          // every parsed stdout object, in order
    this.times = new WeakMap(); // object -> performance.now() when its line arrived
    this.consumed = new Set(); // indices already returned by waitFor
    this.waiters = new Set();
    this.stderrTail = [];
    this.errors = [];         // {"event":"error"} lines
    this.exited = null;       // {code, signal} once the process is gone
    const [cmd, ...args] = command;
    this.child = spawn(cmd, [...args, '--role', role], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    if (this.pid) livePids.add(this.pid);
    this.exitPromise = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        livePids.delete(this.pid);
        this.exited = { code, signal };
        this.#wake();
        resolve(this.exited);
      });
      this.child.on('error', (err) => {
        livePids.delete(this.pid);
        this.exited = { code: null, signal: null, error: err };
        this.#wake();
        resolve(this.exited);
      });
    });
    this.child.stdin.on('error', () => { /* EPIPE after exit: reported through exit */ });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.#onLine(line));
    createInterface({ input: this.child.stderr }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > 200) this.stderrTail.shift();
      if (this.verbose) process.stderr.write(`[${this.name} stderr] ${line}\n`);
    });
  }

  #onLine(line) {
    if (!line.trim()) return;
    let obj;
    try {
      obj = JSON.parse(line);
    } catch {
      obj = { event: 'error', message: `protocol: stdout line is not JSON: ${line.slice(0, 200)}` };
    }
    if (this.verbose) process.stderr.write(`[${this.name} >] ${line.length > 300 ? line.slice(0, 300) + '…' : line}\n`);
    if (obj.event === 'error') this.errors.push(obj);
    this.times.set(obj, performance.now());
    this.lines.push(obj);
    this.#wake();
  }

  #wake() {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Resolves with the first stdout object (received earlier or later) that matches
   * `predicate` and was not already returned by another waitFor. Rejects on timeout,
   * on process exit, and (unless the predicate accepts it) on an error event.
   */
  waitFor(predicate, timeoutMs = 10000, what = String(predicate)) {
    const pred = typeof predicate === 'function' ? predicate : (o) => Object.entries(predicate).every(([k, v]) => o[k] === v);
    return new Promise((resolve, reject) => {
      let timer;
      const done = (fn, v) => { clearTimeout(timer); this.waiters.delete(check); fn(v); };
      const check = () => {
        for (let i = 0; i < this.lines.length; i++) {
          if (this.consumed.has(i)) continue;
          const o = this.lines[i];
          if (pred(o)) { this.consumed.add(i); return done(resolve, o); }
          if (o.event === 'error') {
            return done(reject, new Error(`${this.name}: error event while waiting for ${what}: ${o.message}`));
          }
        }
        if (this.exited) {
          return done(reject, new NativeExitError(`${this.name} exited (${JSON.stringify(this.exited)}) while waiting for ${what}\n${this.describeStderr()}`));
        }
      };
      timer = setTimeout(() => done(reject, new Error(`${this.name}: timeout after ${timeoutMs} ms waiting for ${what}\n${this.describeStderr()}`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  waitEvent(event, timeoutMs, extra = () => true) {
    return this.waitFor((o) => o.event === event && extra(o), timeoutMs, `{"event":"${event}"}`);
  }

  /** performance.now() at which the line carrying `obj` was read. */
  timeOf(obj) {
    return this.times.get(obj);
  }

  send(obj) {
    if (this.exited) throw new NativeExitError(`${this.name} already exited (${JSON.stringify(this.exited)})`);
    const line = JSON.stringify(obj);
    if (this.verbose) process.stderr.write(`[${this.name} <] ${line.length > 300 ? line.slice(0, 300) + '…' : line}\n`);
    this.child.stdin.write(line + '\n');
  }

  describeStderr(n = 30) {
    return this.stderrTail.length ? `--- last ${Math.min(n, this.stderrTail.length)} stderr lines of ${this.name}:\n${this.stderrTail.slice(-n).join('\n')}` : `(${this.name}: no stderr)`;
  }

  /** Asks politely (quit), then SIGKILLs the recorded PID. Never throws. */
  async stop(graceMs = 2000) {
    if (this.exited) return this.exited;
    try { this.send({ cmd: 'quit' }); this.child.stdin.end(); } catch { /* gone */ }
    const t = new Promise((r) => setTimeout(r, graceMs, 'timeout'));
    if ((await Promise.race([this.exitPromise, t])) === 'timeout') {
      try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
      await Promise.race([this.exitPromise, new Promise((r) => setTimeout(r, 2000))]);
    }
    return this.exited;
  }
}
