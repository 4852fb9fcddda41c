// Local signalling relays for the room interop suite, on 127.0.0.1 only:
//   mqtt    Debian's /usr/sbin/mosquitto (temporary config: a plain listener + a websockets one)
//   nostr   tests/interop/relays/nostr_relay.mjs   (strict NIP-01; prints `listening <port>`)
//   torrent tests/interop/relays/tracker.mjs       (bittorrent-tracker; prints `listening <port>`)
//   firebase tests/interop/relays/firebase_server.mjs (npm firebase-server 1.1.0, an in-memory
//           Realtime Database; its URL http://127.0.0.1:PORT?ns=NAME is the peers' appId)
//   supabase tests/interop/relays/supabase_server.mjs (Realtime broadcast; prints `listening <port>`;
//           its url is the http:// project URL, which supabase peers take as their appId)
//
// Every relay is a child process started on a port chosen up front, so it can be killed and
// restarted on the same port (relay-fault tests). Processes are only ever killed by their
// recorded PID: stop() (graceful, then SIGKILL), kill() (SIGKILL, for fault injection), and a
// synchronous SIGKILL of whatever is still alive when this process exits.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { interopDir } from './native.mjs';

export const MOSQUITTO = process.env.MOSQUITTO || '/usr/sbin/mosquitto';
export const relayScripts = {
  nostr: path.join(interopDir, 'relays', 'nostr_relay.mjs'),
  torrent: path.join(interopDir, 'relays', 'tracker.mjs'),
  firebase: path.join(interopDir, 'relays', 'firebase_server.mjs'),
  supabase: path.join(interopDir, 'relays', 'supabase_server.mjs'),
};

const verbose = !!process.env.INTEROP_VERBOSE;

const livePids = new Set();
process.on('exit', () => {
  for (const pid of livePids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

/** Why the relay of `strategy` cannot run here, or null when it can. */
export function relayUnavailable(strategy) {
  if (strategy === 'mqtt') {
    try { fs.accessSync(MOSQUITTO, fs.constants.X_OK); return null; } catch { return `${MOSQUITTO} not installed`; }
  }
  const script = relayScripts[strategy];
  if (!script) return `no local relay for strategy ${strategy}`;
  if (strategy === 'firebase' && !fs.existsSync(path.join(interopDir, 'node_modules', 'firebase-server'))) {
    return 'node_modules/firebase-server missing (npm ci --prefix tests/interop)';
  }
  return fs.existsSync(script) ? null : `${path.relative(interopDir, script)} does not exist yet`;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort() {
  const server = net.createServer();
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port, timeoutMs, isDead) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (isDead()) throw new Error(`relay exited before listening on ${port}`);
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * One relay process on fixed ports. `command()` returns [cmd, ...args] for the current ports.
 * Readiness: a `listening <port>` stdout line when `announcesPort`, else a TCP connect to
 * `readyPort`.
 */
class RelayProcess {
  constructor({ name, command, readyPort, announcesPort, urls, cleanup = () => {} }) {
    Object.assign(this, { name, command, readyPort, announcesPort, cleanup });
    this.urls = urls;            // what peers are given (relayUrls)
    this.child = null;
    this.pid = null;
    this.starts = 0;
    this.stderrTail = [];
  }

  get url() { return this.urls[0]; }

  async start(timeoutMs = 15000) {
    if (this.child && !this.exited) throw new Error(`${this.name} already running (pid ${this.pid})`);
    const [cmd, ...args] = this.command();
    // stdin is a pipe we never close: relays that exit when it closes die with this process.
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    this.pid = child.pid;
    this.exited = null;
    this.starts++;
    if (this.pid) livePids.add(this.pid);
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => { livePids.delete(child.pid); if (this.child === child) this.exited = { code, signal }; resolve({ code, signal }); });
      child.on('error', (error) => { livePids.delete(child.pid); if (this.child === child) this.exited = { error }; resolve({ error }); });
    });
    const lines = [];
    let onLine = () => {};
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (verbose) process.stderr.write(`[${this.name} stdout] ${line}\n`);
      lines.push(line);
      onLine(line);
    });
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (verbose) process.stderr.write(`[${this.name} stderr] ${line}\n`);
      this.stderrTail.push(line);
      if (this.stderrTail.length > 50) this.stderrTail.shift();
    });
    try {
      if (this.announcesPort) {
        await new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`${this.name}: no "listening" line after ${timeoutMs} ms`)), timeoutMs);
          const check = (line) => {
            const m = /^listening (\d+)/.exec(line.trim());
            if (!m) return;
            clearTimeout(timer);
            if (Number(m[1]) !== this.readyPort) reject(new Error(`${this.name}: listening on ${m[1]}, wanted ${this.readyPort}`));
            else resolve();
          };
          lines.forEach(check);
          onLine = check;
          this.exitPromise.then((e) => { clearTimeout(timer); reject(new Error(`${this.name} exited at start: ${JSON.stringify(e)}\n${this.stderrTail.join('\n')}`)); });
        });
      } else {
        await waitForPort(this.readyPort, timeoutMs, () => !!this.exited);
      }
    } catch (e) {
      await this.kill();
      throw e;
    }
    return this;
  }

  /** SIGKILL by recorded PID (a crash, for fault injection); resolves once it is gone. */
  async kill() {
    if (!this.child || this.exited) return;
    try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
    await this.exitPromise;
  }

  /** SIGTERM by recorded PID, SIGKILL after graceMs. Never throws. */
  async stop(graceMs = 2000) {
    if (this.child && !this.exited) {
      try { process.kill(this.pid, 'SIGTERM'); } catch { /* gone */ }
      const t = new Promise((r) => setTimeout(r, graceMs, 'timeout'));
      if ((await Promise.race([this.exitPromise, t])) === 'timeout') await this.kill();
    }
  }

  /** Stops for good and removes temporary files. */
  async dispose() {
    await this.stop();
    try { this.cleanup(); } catch { /* best effort */ }
  }

  describe() {
    return `${this.name} pid ${this.pid} ${this.urls.join(' ')}${this.stderrTail.length ? `\n${this.stderrTail.slice(-10).join('\n')}` : ''}`;
  }
}

/**
 * mosquitto with a temporary config: a plain MQTT listener and a websockets listener, both on
 * 127.0.0.1 (socket_domain ipv4), anonymous access, no persistence. Files are world-readable:
 * mosquitto drops privileges to user `mosquitto` when started as root.
 */
export async function startMosquitto({ port, wsPort, path: urlPath = '/mqtt' } = {}) {
  port ??= await freePort();
  wsPort ??= await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'interop-mosquitto-'));
  fs.chmodSync(dir, 0o755);
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, [
    'per_listener_settings false',
    'allow_anonymous true',
    'persistence false',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    `listener ${port} 127.0.0.1`,
    'socket_domain ipv4',
    'protocol mqtt',
    `listener ${wsPort} 127.0.0.1`,
    'socket_domain ipv4',
    'protocol websockets',
    '',
  ].join('\n'));
  fs.chmodSync(conf, 0o644);
  const relay = new RelayProcess({
    name: 'mosquitto',
    command: () => [MOSQUITTO, '-c', conf],
    readyPort: wsPort,
    announcesPort: false,
    // mosquitto accepts any path. trystero's mqtt keys its brokers by host + path (no port):
    // give a second broker on 127.0.0.1 another path.
    urls: [`ws://127.0.0.1:${wsPort}${urlPath}`],
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  });
  relay.ports = { mqtt: port, websockets: wsPort };
  return relay.start();
}

/** A relay script from tests/interop/relays/ (prints `listening <port>`); portArgs(port) → argv. */
async function startScriptRelay(name, script, portArgs, { port, extraArgs = [], scheme = 'ws' } = {}) {
  port ??= await freePort();
  const relay = new RelayProcess({
    name,
    command: () => [process.execPath, script, ...portArgs(port), ...extraArgs],
    readyPort: port,
    announcesPort: true,
    urls: [`${scheme}://127.0.0.1:${port}`],
  });
  relay.ports = { websockets: port };
  return relay.start();
}

// nostr_relay.mjs [--port N]; tracker.mjs [N] [--interval SECONDS]. The tracker tells clients
// 120 s, as public trackers do (trystero then re-announces every 120,333 ms). --interval comes
// first: tracker.mjs ignores a port given as the very first argument when --interval is absent.
export const startNostrRelay = (o) => startScriptRelay('nostr-relay', relayScripts.nostr, (p) => ['--port', String(p)], o);
export const startTracker = (o) => startScriptRelay('tracker', relayScripts.torrent, (p) => ['--interval', '120', String(p)], o);
// supabase_server.mjs --port N [--reject-joins N]: url is the project URL (http://127.0.0.1:N).
export const startSupabaseServer = (o) => startScriptRelay('supabase-server', relayScripts.supabase, (p) => ['--port', String(p)], { ...o, scheme: 'http' });

/**
 * The appId peers of `strategy` use with `relay`: firebase takes the database URL, supabase the
 * project URL (the local server's http:// URL); the other strategies take `name`.
 */
export const appIdFor = (strategy, relay, name) =>
  (strategy === 'supabase' || strategy === 'firebase' ? relay.url : name);

/**
 * firebase_server.mjs --port N --name NS. The database URL (the appId of every peer) names the
 * namespace in the query, the Firebase SDK's emulator form, so the JS SDK connects to
 * ws://127.0.0.1:N/.ws?v=5&ns=NS as the native peer does.
 */
export async function startFirebaseServer({ port, name = 'trystero-interop' } = {}) {
  const relay = await startScriptRelay('firebase-server', relayScripts.firebase,
    (p) => ['--port', String(p), '--name', name], { port });
  relay.urls = [`http://127.0.0.1:${relay.ports.websockets}?ns=${name}`];
  return relay;
}

/** Starts the relay `strategy` uses. Returns a relay: {url, urls, pid, kill(), start(), stop(), dispose()}. */
export function startRelay(strategy, opts) {
  switch (strategy) {
    case 'mqtt': return startMosquitto(opts);
    case 'nostr': return startNostrRelay(opts);
    case 'torrent': return startTracker(opts);
    case 'firebase': return startFirebaseServer(opts);
    case 'supabase': return startSupabaseServer(opts);
    default: throw new Error(`no local relay for strategy ${strategy}`);
  }
}
