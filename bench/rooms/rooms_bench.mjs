#!/usr/bin/env node
// Room benchmark (issue 4): per strategy (nostr, mqtt, torrent, firebase, supabase) and per pair of peers
// (C++↔C++, JS↔JS in Node, C++↔Chromium), in one run and over the same local relay:
//   join     both joinRoom → both onPeerJoin: the larger of the two sides' joinRoom→onPeerJoin
//   bulk     one 64 MiB binary action, sender → receiver, generated inside the sender (byte i =
//            (i*31 + seed) & 0xff), checked by size + sha256 on the receiver; MB/s (10^6 bytes)
//            from the send call to the receive handler
//   json     10,000 sends of {"i": n}, n = 0..9999, sender → receiver; messages/s from the first
//            send call to the 10,000th receive; the receiver checks count and order
// Every cell is repeated (--reps, default 3) with fresh peer processes and a fresh room; the table
// shows medians. Peers are the ROOM_PROTOCOL.md programs (tests/interop/ROOM_PROTOCOL.md, the
// benchmark commands at its end); relays come from tests/interop/lib/relays.mjs.
//
// Run it through bench/rooms/run.sh (loopback-only network namespace). Direct use:
//   node bench/rooms/rooms_bench.mjs [--reps N] [--build DIR] [--out FILE]
//        [--strategies nostr,mqtt,torrent,firebase,supabase] [--pairs cpp-cpp,node-node,cpp-chromium]
//        [--bulk-bytes N] [--messages N] [--verbose]
// A pair is SENDER-RECEIVER with cpp | node | chromium on each side (also e.g. chromium-cpp,
// node-chromium). Every process started here is killed by its recorded PID, never by name.
import { spawnSync, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const interopDir = path.join(repoRoot, 'tests', 'interop');

const { appIdFor, relayUnavailable, startRelay } = await import(path.join(interopDir, 'lib', 'relays.mjs'));
const { LineProcess, killLivePids } = await import(path.join(interopDir, 'lib', 'line_process.mjs'));
const { CHROMIUM_PATH } = await import(path.join(interopDir, 'lib', 'browser.mjs'));
const { buildBrowserBundle } = await import(path.join(interopDir, 'peers', 'browser_peer.mjs'));
const { patternBytes } = await import(path.join(interopDir, 'peers', 'node_peer.mjs'));

// ---------------------------------------------------------------------------------------------
// Arguments

function parseArgs(argv) {
  const o = {
    reps: Number(process.env.BENCH_REPS ?? 3),
    build: process.env.BENCH_BUILD ?? process.env.BUILD_DIR ?? 'build',
    out: process.env.BENCH_OUT ?? path.join(here, 'results.json'),
    strategies: (process.env.BENCH_STRATEGIES ?? 'nostr,mqtt,torrent,firebase,supabase').split(','),
    pairs: (process.env.BENCH_PAIRS ?? 'cpp-cpp,node-node,cpp-chromium').split(','),
    bulkBytes: Number(process.env.BENCH_BULK_BYTES ?? 64 * 1024 * 1024),
    messages: Number(process.env.BENCH_MESSAGES ?? 10000),
    verbose: !!process.env.BENCH_VERBOSE,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--reps') o.reps = Number(v());
    else if (a === '--build') o.build = v();
    else if (a === '--out') o.out = v();
    else if (a === '--strategies') o.strategies = v().split(',');
    else if (a === '--pairs') o.pairs = v().split(',');
    else if (a === '--bulk-bytes') o.bulkBytes = Number(v());
    else if (a === '--messages') o.messages = Number(v());
    else if (a === '--verbose') o.verbose = true;
    else throw new Error(`unknown argument ${a} (see the top of ${path.relative(process.cwd(), fileURLToPath(import.meta.url))})`);
  }
  o.strategies = o.strategies.filter(Boolean);
  o.pairs = o.pairs.filter(Boolean);
  if (!(o.reps >= 1)) throw new Error('--reps must be >= 1');
  if (!path.isAbsolute(o.build)) {
    o.build = [path.resolve(process.cwd(), o.build), path.resolve(repoRoot, o.build)].find((p) => fs.existsSync(p)) ?? path.resolve(repoRoot, o.build);
  }
  o.out = path.resolve(process.cwd(), o.out);
  return o;
}

let opts;
try {
  opts = parseArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`rooms_bench: ${e.message}\n`);
  process.exit(2);
}
const log = (m) => process.stderr.write(`[rooms-bench] ${m}\n`);

const KINDS = {
  cpp: { label: 'C++' },
  node: { label: 'JS' },
  chromium: { label: 'Chromium' },
};
const ROOM_PEER = path.join(opts.build, 'tests', 'room_peer');
const PEER_SCRIPTS = {
  node: path.join(interopDir, 'peers', 'node_peer.mjs'),
  chromium: path.join(interopDir, 'peers', 'browser_peer.mjs'),
};

function parsePair(spec) {
  const [sender, receiver, ...rest] = spec.split('-');
  if (rest.length || !KINDS[sender] || !KINDS[receiver]) throw new Error(`bad pair ${spec}: want SENDER-RECEIVER with cpp|node|chromium`);
  // Same kind on both sides: ↔; otherwise → shows the direction of the data.
  const label = sender === receiver
    ? `${KINDS[sender].label}↔${KINDS[receiver].label}${sender === 'node' ? ' (Node)' : ''}`
    : `${KINDS[sender].label}→${KINDS[receiver].label}`;
  return { spec, sender, receiver, label };
}

// ---------------------------------------------------------------------------------------------
// Processes: every PID recorded (lib/line_process.mjs), killed by PID on exit

const epochMs = () => performance.timeOrigin + performance.now();

let CLK_TCK = 100;
try { CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { /* default */ }

/** CPU ms (user + system) of pid and all its descendants (a browser peer's Chromium included). */
function treeCpuMs(rootPid) {
  const stats = new Map();   // pid -> {ppid, ticks}
  let entries = [];
  try { entries = fs.readdirSync('/proc'); } catch { return null; }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let text;
    try { text = fs.readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state ppid ... utime(14th overall = index 11 here) stime(12)
    stats.set(Number(name), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
  }
  const children = new Map();
  for (const [pid, s] of stats) {
    if (!children.has(s.ppid)) children.set(s.ppid, []);
    children.get(s.ppid).push(pid);
  }
  let ticks = 0;
  const stack = [rootPid];
  const seen = new Set();
  while (stack.length) {
    const pid = stack.pop();
    if (seen.has(pid)) continue;
    seen.add(pid);
    ticks += stats.get(pid)?.ticks ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return (ticks * 1000) / CLK_TCK;
}

class Peer extends LineProcess {
  constructor(kind, { strategy, appId, roomId, relays }, label) {
    const args = ['--strategy', strategy, '--app-id', appId, '--room', roomId, ...relays.flatMap((r) => ['--relay', r]), '--defer-join'];
    const argv = kind === 'cpp' ? [ROOM_PEER, ...args] : [process.execPath, PEER_SCRIPTS[kind], ...args];
    // Lines are timed on the wall clock: the peers' `at` fields are compared with it.
    super(argv, { label, verbose: opts.verbose, stderrLines: 60, clock: epochMs });
    this.kind = kind;
  }

  cpuMs() { return treeCpuMs(this.pid); }
}

// ---------------------------------------------------------------------------------------------
// One measurement: fresh peers, fresh room

const uid = () => Math.random().toString(36).slice(2, 10);
const SEED = 7;
// Per transfer (bulk, json): generous, a stuck transfer fails its run instead of the whole bench.
const TIMEOUT_MS = Number(process.env.BENCH_TIMEOUT_MS ?? 90000);
let expectedSha = null;

async function runOnce(strategy, pair, relay) {
  // firebase and supabase: the local server's URL is the appId (the database / project).
  const common = {
    strategy,
    appId: appIdFor(strategy, relay, 'trystero-cpp-bench'),
    roomId: `bench-${uid()}`,
    relays: strategy === 'firebase' ? [] : relay.urls,
  };
  const a = new Peer(pair.sender, common, `${pair.sender}-send`);
  const b = new Peer(pair.receiver, common, `${pair.receiver}-recv`);
  const result = {};
  try {
    // Start both processes, joined to nothing yet (--defer-join).
    const [sa, sb] = await Promise.all([a.waitEvent('standby', 90000), b.waitEvent('standby', 90000)]);
    // Clock check: the receiver's wall clock against the sender's is what bulk/json rely on;
    // each `at` is compared with this process's clock when the line arrived (≥ 0 expected).
    result.clockLagMs = { [a.label]: +(a.timeOf(sa) - sa.at).toFixed(2), [b.label]: +(b.timeOf(sb) - sb.at).toFixed(2) };

    // Join: both joins sent back to back.
    a.send({ cmd: 'join' });
    b.send({ cmd: 'join' });
    await Promise.all([a.waitEvent('ready', 15000), b.waitEvent('ready', 15000)]);
    await Promise.all([a.request({ cmd: 'make-action', types: ['bulk', 'many'] }), b.request({ cmd: 'make-action', types: ['bulk', 'many'] })]);
    await Promise.all([
      a.waitEvent('peer-join', 60000, (o) => o.peerId === sb.selfId),
      b.waitEvent('peer-join', 60000, (o) => o.peerId === sa.selfId),
    ]);
    const [ja, jb] = await Promise.all([a.request({ cmd: 'join-times' }), b.request({ cmd: 'join-times' })]);
    const sides = [ja.peers[sb.selfId], jb.peers[sa.selfId]];
    result.joinMs = Math.max(...sides);
    result.joinSidesMs = sides.map((x) => +x.toFixed(1));
    // The later onPeerJoin counted from the earlier joinRoom (both clocks are the wall clock).
    result.joinSpanMs = +(Math.max(ja.joinAt + sides[0], jb.joinAt + sides[1]) - Math.min(ja.joinAt, jb.joinAt)).toFixed(1);

    // Bulk: 64 MiB one way, generated in the sender.
    {
      const expect = await b.request({ cmd: 'expect-bulk', type: 'bulk' });
      if (expect.event !== 'expecting') throw new Error(`expect-bulk: ${JSON.stringify(expect)}`);
      const cpu0 = [a.cpuMs(), b.cpuMs(), performance.now()];
      const sentP = a.request({ cmd: 'send-bulk', type: 'bulk', size: opts.bulkBytes, seed: SEED, targets: [sb.selfId] }, TIMEOUT_MS);
      const rcvP = b.waitFor((o) => o.id === expect.id && o.event === 'received-bulk', TIMEOUT_MS, 'received-bulk');
      rcvP.catch(() => {});
      const sent = await sentP;
      if (sent.event !== 'bulk-sent') throw new Error(`send-bulk: ${JSON.stringify(sent)}`);
      // Once the sender's promise resolved, at most a few MB are still buffered: the receive
      // follows at once unless the receiver dropped the transmission.
      let timer;
      const rcv = await Promise.race([rcvP, new Promise((r) => { timer = setTimeout(r, Math.max(15000, sent.ms), null); })])
        .finally(() => clearTimeout(timer));
      const cpu1 = [a.cpuMs(), b.cpuMs(), performance.now()];
      if (!rcv) {
        const st = await b.request({ cmd: 'stats' }).catch(() => ({}));
        throw new Error(`bulk: sent (${sent.ms.toFixed(0)} ms) but not received ${Math.max(15000, sent.ms).toFixed(0)} ms later; receiver room stats ${JSON.stringify(st)}`);
      }
      if (rcv.size !== opts.bulkBytes || rcv.sha256 !== expectedSha) {
        throw new Error(`bulk mismatch: got ${rcv.size} bytes sha256 ${rcv.sha256}, want ${opts.bulkBytes} ${expectedSha}`);
      }
      const ms = rcv.at - sent.startAt;
      result.bulkMs = +ms.toFixed(1);
      result.bulkMBps = opts.bulkBytes / 1e6 / (ms / 1000);
      result.bulkSendCallMs = +sent.ms.toFixed(1);
      result.bulkCpuPct = cpuPct(cpu0, cpu1, a, b);
    }

    // JSON: 10,000 {"i": n} one way.
    {
      const expect = await b.request({ cmd: 'expect-many', type: 'many', count: opts.messages });
      if (expect.event !== 'expecting') throw new Error(`expect-many: ${JSON.stringify(expect)}`);
      const cpu0 = [a.cpuMs(), b.cpuMs(), performance.now()];
      const sentP = a.request({ cmd: 'send-many', type: 'many', count: opts.messages, targets: [sb.selfId] }, TIMEOUT_MS);
      const rcv = await b.waitFor((o) => o.id === expect.id && o.event === 'received-many', TIMEOUT_MS, 'received-many');
      const cpu1 = [a.cpuMs(), b.cpuMs(), performance.now()];
      const sent = await sentP;
      if (sent.event !== 'sent-many' || sent.failed) throw new Error(`send-many: ${JSON.stringify(sent)}`);
      if (rcv.count !== opts.messages || rcv.outOfOrder || rcv.bad) throw new Error(`json check failed: ${JSON.stringify(rcv)}`);
      const ms = rcv.lastAt - sent.startAt;
      result.jsonMs = +ms.toFixed(1);
      result.jsonMsgPerS = opts.messages / (ms / 1000);
      result.jsonSendLoopMs = +sent.ms.toFixed(1);
      result.jsonFirstMs = +(rcv.firstAt - sent.startAt).toFixed(1);
      result.jsonCpuPct = cpuPct(cpu0, cpu1, a, b);
    }
  } catch (e) {
    result.error = String(e?.message ?? e).split('\n')[0];
    result.detail = String(e?.message ?? e);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  return result;
}

/**
 * CPU use of each side (process tree, % of one core) between two samples taken here: from just
 * before the send command to just after the summary line. Approximate: it also covers the
 * sender generating the data and the receiver hashing it. Near 100 % marks the limiting side.
 */
function cpuPct(before, after, a, b) {
  if (before.includes(null) || after.includes(null)) return null;
  const ms = after[2] - before[2];
  return { [a.label]: Math.round(((after[0] - before[0]) / ms) * 100), [b.label]: Math.round(((after[1] - before[1]) / ms) * 100) };
}

// ---------------------------------------------------------------------------------------------
// Main

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((p, q) => p - q);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

function nativeStrategies() {
  if (!fs.existsSync(ROOM_PEER)) return { reason: `${ROOM_PEER} not built (cmake --build ${opts.build} --target room_peer)` };
  const r = spawnSync(ROOM_PEER, ['--list-strategies'], { encoding: 'utf8', timeout: 10000 });
  try { return { list: JSON.parse(r.stdout).strategies }; } catch { return { reason: `room_peer --list-strategies failed: ${r.stderr || r.error}` }; }
}

async function main() {
  const started = performance.now();
  const pairs = opts.pairs.map(parsePair);
  const native = nativeStrategies();
  const needsCpp = pairs.some((p) => p.sender === 'cpp' || p.receiver === 'cpp');
  const needsChromium = pairs.some((p) => p.sender === 'chromium' || p.receiver === 'chromium');
  if (needsChromium) {
    if (!fs.existsSync(CHROMIUM_PATH)) throw new Error(`${CHROMIUM_PATH} not installed`);
    await buildBrowserBundle();   // once, before any browser peer starts
  }
  expectedSha = createHash('sha256').update(patternBytes(opts.bulkBytes, SEED)).digest('hex');

  const cells = [];
  const skipped = {};
  for (const strategy of opts.strategies) {
    const why = relayUnavailable(strategy) ?? (needsCpp && (native.reason ?? (!native.list.includes(strategy) ? `room_peer was built without ${strategy}` : null)));
    if (why) { skipped[strategy] = why; log(`${strategy}: skipped (${why})`); continue; }
    const relay = await startRelay(strategy);
    log(`${strategy}: relay ${relay.name} pid ${relay.pid} at ${relay.urls.join(' ')}`);
    const byPair = new Map(pairs.map((p) => [p.spec, { strategy, pair: p.spec, label: p.label, sender: p.sender, receiver: p.receiver, runs: [] }]));
    try {
      // Repetition-major: the pairs of one strategy take turns, so drift hits them alike.
      for (let rep = 1; rep <= opts.reps; rep++) {
        for (const pair of pairs) {
          const r = await runOnce(strategy, pair, relay);
          byPair.get(pair.spec).runs.push(r);
          log(`${strategy} ${pair.label} #${rep}: ${r.error ? `FAILED: ${r.detail}` : `join ${r.joinMs.toFixed(0)} ms, ${r.bulkMBps.toFixed(1)} MB/s, ${Math.round(r.jsonMsgPerS)} msg/s  cpu bulk ${JSON.stringify(r.bulkCpuPct)} json ${JSON.stringify(r.jsonCpuPct)}`}`);
        }
      }
    } finally {
      await relay.dispose();
    }
    for (const cell of byPair.values()) {
      const ok = cell.runs.filter((r) => !r.error);
      cell.ok = ok.length;
      cell.failed = cell.runs.length - ok.length;
      cell.median = {
        joinMs: median(ok.map((r) => r.joinMs)),
        bulkMBps: median(ok.map((r) => r.bulkMBps)),
        jsonMsgPerS: median(ok.map((r) => r.jsonMsgPerS)),
      };
      cells.push(cell);
    }
  }

  // Ratios C++↔C++ ÷ JS↔JS per strategy (join: < 1 is faster; MB/s, msg/s: > 1 is faster).
  const ratios = {};
  for (const strategy of opts.strategies) {
    const cpp = cells.find((c) => c.strategy === strategy && c.pair === 'cpp-cpp')?.median;
    const js = cells.find((c) => c.strategy === strategy && c.pair === 'node-node')?.median;
    if (!cpp || !js) continue;
    const r = (k) => (cpp[k] != null && js[k] ? cpp[k] / js[k] : null);
    ratios[strategy] = { joinMs: r('joinMs'), bulkMBps: r('bulkMBps'), jsonMsgPerS: r('jsonMsgPerS') };
  }

  const chromiumVersion = needsChromium ? spawnSync(CHROMIUM_PATH, ['--version'], { encoding: 'utf8' }).stdout?.trim() : null;
  const results = {
    benchmark: 'rooms',
    date: new Date().toISOString(),
    durationS: Math.round((performance.now() - started) / 1000),
    settings: { reps: opts.reps, bulkBytes: opts.bulkBytes, messages: opts.messages, strategies: opts.strategies, pairs: opts.pairs, build: opts.build },
    host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, chromium: chromiumVersion, loadavg: os.loadavg() },
    units: { joinMs: 'ms, max of both sides joinRoom→onPeerJoin', bulkMBps: '10^6 bytes/s, send call → receive handler', jsonMsgPerS: 'messages/s, first send call → last receive handler' },
    skipped,
    cells,
    ratios,
  };
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, JSON.stringify(results, null, 2) + '\n');
  printTable(results);
  log(`results: ${opts.out} (${results.durationS} s)`);
  if (cells.some((c) => c.failed)) process.exitCode = 1;
}

function printTable({ cells, ratios, settings, skipped }) {
  const mib = settings.bulkBytes / (1024 * 1024);
  const bulkHead = Number.isInteger(mib) ? `${mib} MiB MB/s` : `${settings.bulkBytes} B MB/s`;
  const jsonHead = `${settings.messages} JSON msg/s`;
  const cols = ['strategy', 'pair', 'join ms', bulkHead, jsonHead, 'runs'];
  const rows = [];
  const f = (x, d = 0) => (x == null ? '—' : x.toFixed(d));
  const fx = (x) => (x == null ? '—' : `×${x.toFixed(2)}`);
  for (const strategy of settings.strategies) {
    if (skipped[strategy]) { rows.push([strategy, `skipped: ${skipped[strategy]}`, '', '', '', '']); continue; }
    for (const c of cells.filter((x) => x.strategy === strategy)) {
      rows.push([strategy, c.label, f(c.median.joinMs), f(c.median.bulkMBps, 1), f(c.median.jsonMsgPerS), `${c.ok}/${c.runs.length}`]);
    }
    const r = ratios[strategy];
    if (r) rows.push([strategy, 'C++↔C++ ÷ JS↔JS', fx(r.joinMs), fx(r.bulkMBps), fx(r.jsonMsgPerS), '']);
  }
  const widths = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => [...row[i]].length)));
  const pad = (s, w, i) => (i < 2 ? s + ' '.repeat(w - [...s].length) : ' '.repeat(w - [...s].length) + s);
  const line = (row) => row.map((s, i) => pad(s, widths[i], i)).join('  ');
  console.log(`medians of ${settings.reps} run(s); ratio rows: join < 1 is faster, MB/s and msg/s > 1 are faster`);
  console.log(line(cols));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

process.on('SIGINT', () => { killLivePids(); process.exit(130); });
process.on('SIGTERM', () => { killLivePids(); process.exit(143); });
try {
  await main();
} catch (e) {
  log(`failed: ${e?.stack ?? e}`);
  process.exitCode = 1;
}
