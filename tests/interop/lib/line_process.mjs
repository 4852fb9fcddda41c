// A child process speaking JSON lines on stdout (pc_peer, room_peer, the peers in peers/, the relay
// runner, the `trystero` command line): spawn, collect the lines, wait for one matching a predicate
// with a timeout, and stop it. Processes are only ever killed by their recorded PID (and the PIDs
// they report in a {"event":"pids"} line), never by name.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';

// PIDs of every child still alive (and of the browsers they reported), killed synchronously if
// this process exits early.
export const livePids = new Set();
export function killLivePids() {
  for (const pid of livePids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', killLivePids);

/** Rejection of a wait (or a send) because the process is gone. */
export class ProcessExitError extends Error {}

const clip = (line) => (line.length > 300 ? line.slice(0, 300) + '…' : line);
const delay = (ms, value) => new Promise((r) => setTimeout(r, ms, value));

export class LineProcess {
  /**
   * @param {string[]} argv
   * @param {object} [o]
   * @param {string} [o.label] name in logs and errors
   * @param {boolean} [o.verbose] echo every line both ways to stderr
   * @param {'pipe'|'ignore'} [o.stdin]
   * @param {number} [o.stderrLines] how many stderr lines to keep for describe()
   * @param {boolean} [o.textLines] keep non-JSON stdout lines as {text} (else: an error event)
   * @param {boolean} [o.rejectOnError] waitFor rejects on an {"event":"error"} line
   * @param {'quit'|'eof'|'SIGTERM'} [o.stopBy] how stop() asks first: {"cmd":"quit"} and EOF,
   *   EOF on stdin, or SIGTERM to the recorded PID
   * @param {number} [o.stopGraceMs] how long stop() waits before SIGKILL
   * @param {() => number} [o.clock] the time recorded for each line (timeOf)
   */
  constructor(argv, {
    label = path.basename(argv[0]),
    verbose = !!process.env.INTEROP_VERBOSE,
    stdin = 'pipe',
    stderrLines = 100,
    textLines = false,
    rejectOnError = true,
    stopBy = 'quit',
    stopGraceMs = 8000,
    clock = () => performance.now(),
  } = {}) {
    this.label = label;
    this.verbose = verbose;
    this.stderrLines = stderrLines;
    this.textLines = textLines;
    this.rejectOnError = rejectOnError;
    this.stopBy = stopBy;
    this.stopGraceMs = stopGraceMs;
    this.clock = clock;
    this.lines = [];            // every stdout object, in order
    this.times = new WeakMap(); // object -> clock() when its line arrived
    this.consumed = new Set();  // indices already returned by waitFor/consume
    this.waiters = new Set();
    this.stderrTail = [];
    this.errors = [];           // {"event":"error"} lines
    this.extraPids = [];        // from {"event":"pids"} lines (a browser peer's Chromium)
    this.exited = null;         // {code, signal} (or {error}) once the process is gone
    this.nextId = 1;
    this.child = spawn(argv[0], argv.slice(1), { stdio: [stdin, 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    if (this.pid) livePids.add(this.pid);
    this.exitPromise = new Promise((resolve) => {
      const done = (e) => { livePids.delete(this.pid); this.exited = e; this.#wake(); resolve(e); };
      this.child.on('exit', (code, signal) => done({ code, signal }));
      this.child.on('error', (error) => done({ code: null, signal: null, error: String(error) }));
    });
    this.child.stdin?.on('error', () => { /* EPIPE after exit: reported through exit */ });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.#onLine(line));
    createInterface({ input: this.child.stderr }).on('line', (line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > this.stderrLines) this.stderrTail.shift();
      if (this.verbose) process.stderr.write(`[${this.label} stderr] ${line}\n`);
    });
  }

  #onLine(line) {
    if (!line.trim() && !this.textLines) return;
    let obj = null;
    try { obj = JSON.parse(line); } catch { /* not JSON */ }
    if (obj === null || typeof obj !== 'object') {
      obj = this.textLines ? { text: line } : { event: 'error', message: `stdout line is not a JSON object: ${line.slice(0, 200)}` };
    }
    if (this.verbose) process.stderr.write(`[${this.label} >] ${clip(line)}\n`);
    if (obj.event === 'error') this.errors.push(obj);
    if (obj.event === 'pids' && Array.isArray(obj.pids)) {
      for (const pid of obj.pids) { this.extraPids.push(pid); livePids.add(pid); }
    }
    this.times.set(obj, this.clock());
    this.lines.push(obj);
    this.#wake();
  }

  #wake() { for (const w of [...this.waiters]) w(); }

  /** First line of describe(): subclasses add what identifies them. */
  title() { return `${this.label} (pid ${this.pid})`; }

  describe() {
    const lines = this.lines.slice(-15).map((o) => JSON.stringify(o).slice(0, 200));
    return `${this.title()}\n--- last protocol lines:\n${lines.join('\n')}\n--- last stderr:\n${this.stderrTail.slice(-25).join('\n')}`;
  }

  /**
   * Resolves with the first stdout object (received earlier or later) that matches `predicate`
   * (a function, or an object whose fields must all be equal) and was not already returned by
   * another waitFor. Rejects on timeout, on exit, and (with rejectOnError, unless the predicate
   * accepts it) on an error event.
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
          if (this.rejectOnError && o.event === 'error') {
            return done(reject, new Error(`${this.label}: error event while waiting for ${what}: ${o.message}\n${this.describe()}`));
          }
        }
        if (this.exited) {
          return done(reject, new ProcessExitError(`${this.label} exited (${JSON.stringify(this.exited)}) while waiting for ${what}\n${this.describe()}`));
        }
      };
      timer = setTimeout(() => done(reject, new Error(`${this.label}: timeout after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  waitEvent(event, timeoutMs, extra = () => true, what = event) {
    return this.waitFor((o) => o.event === event && extra(o), timeoutMs, what);
  }

  /** clock() at which the line carrying `obj` was read. */
  timeOf(obj) { return this.times.get(obj); }

  /** Writes obj as a JSON line (a string as it is). */
  send(obj) {
    if (this.exited) throw new ProcessExitError(`${this.label} already exited (${JSON.stringify(this.exited)})`);
    const line = typeof obj === 'string' ? obj : JSON.stringify(obj);
    if (this.verbose) process.stderr.write(`[${this.label} <] ${clip(line)}\n`);
    this.child.stdin.write(line + '\n');
  }

  /** Sends cmd with a fresh id; resolves with the reply carrying that id (any event). */
  request(cmd, timeoutMs = 15000) {
    const id = `${this.label}-${this.nextId++}`;
    this.send({ ...cmd, id });
    return this.waitFor((o) => o.id === id, timeoutMs, `reply to ${JSON.stringify(cmd).slice(0, 120)}`);
  }

  /** Resolves with the exit ({code, signal}), or null if still running after ms. */
  waitExit(ms) {
    let timer;
    return Promise.race([this.exitPromise, new Promise((r) => { timer = setTimeout(r, ms, null); })]).finally(() => clearTimeout(timer));
  }

  /**
   * Asks the process to end (stopBy), SIGKILLs the recorded PID after graceMs, then SIGKILLs
   * the PIDs it reported. Never throws; resolves with the exit.
   */
  async stop(graceMs = this.stopGraceMs) {
    if (!this.exited) {
      try {
        if (this.stopBy === 'SIGTERM') process.kill(this.pid, 'SIGTERM');
        else {
          if (this.stopBy === 'quit') this.send({ cmd: 'quit' });
          this.child.stdin?.end();
        }
      } catch { /* gone */ }
      if ((await Promise.race([this.exitPromise, delay(graceMs, 'timeout')])) === 'timeout') {
        try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
        await Promise.race([this.exitPromise, delay(2000)]);
      }
    }
    for (const pid of this.extraPids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      livePids.delete(pid);
    }
    return this.exited;
  }
}
