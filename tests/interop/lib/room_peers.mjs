// The room peers of the interop suites behind one interface: the native room_peer
// (tests/programs/room_peer.cpp), trystero@0.22.0 in Node (peers/node_peer.mjs) and in Chromium or
// Firefox ESR (peers/browser_peer.mjs), all speaking ROOM_PROTOCOL.md; plus which of them can run
// here.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { interopDir, repoRoot, resolveArg, testsDirFromPcPeer } from './native.mjs';
import { LineProcess } from './line_process.mjs';
import { CHROMIUM_PATH, FIREFOX_PATH } from './browser.mjs';
import { relayUnavailable } from './relays.mjs';

const verbose = !!process.env.INTEROP_VERBOSE;
// ---------------------------------------------------------------------------------------------
// Which native peer, and what it can do

function nativeCommand() {
  const spec = (process.env.ROOM_PEER ?? '').trim();
  if (spec) return { argv: spec.split(/\s+/).map(resolveArg), standIn: true };
  return { argv: [path.join(testsDirFromPcPeer() ?? path.join(repoRoot, 'build', 'tests'), 'room_peer')], standIn: false };
}
export const NATIVE = nativeCommand();

// Strategies compiled into room_peer (it says with --list-strategies), or a reason it can't run.
const nativeStrategies = (() => {
  if (NATIVE.standIn) return { list: (process.env.ROOMS_STRATEGIES ?? 'nostr,mqtt,torrent,firebase').split(',') };
  const bin = NATIVE.argv[0];
  if (!fs.existsSync(bin)) return { reason: `${bin} not built` };
  const r = spawnSync(bin, ['--list-strategies'], { encoding: 'utf8', timeout: 10000 });
  try { return { list: JSON.parse(r.stdout).strategies }; } catch { return { reason: `${bin} --list-strategies failed: ${r.stderr || r.error}` }; }
})();

export function strategyUnavailable(strategy) {
  if (!NATIVE.standIn && !fs.existsSync(path.join(repoRoot, 'include', 'trystero', `${strategy}.hpp`))) {
    return `include/trystero/${strategy}.hpp does not exist yet`;
  }
  const relay = relayUnavailable(strategy);
  if (relay) return relay;
  if (nativeStrategies.reason) return nativeStrategies.reason;
  if (!nativeStrategies.list.includes(strategy)) return `room_peer was built without ${strategy} (rebuild it)`;
  return null;
}

export function hostUnavailable(host) {
  if (host === 'chromium' && !fs.existsSync(CHROMIUM_PATH)) return `${CHROMIUM_PATH} not installed`;
  if (host === 'firefox' && !fs.existsSync(FIREFOX_PATH)) return `${FIREFOX_PATH} not installed`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// Peer processes (native, node, chromium, firefox) behind one interface

const PEER_SCRIPTS = {
  node: [path.join(interopDir, 'peers', 'node_peer.mjs')],
  chromium: [path.join(interopDir, 'peers', 'browser_peer.mjs')],
  firefox: [path.join(interopDir, 'peers', 'browser_peer.mjs'), '--browser', 'firefox'],
};

export class PeerProcess extends LineProcess {
  constructor(kind, { strategy, appId, roomId, password, relays, greet }, label = kind) {
    const args = ['--strategy', strategy, '--app-id', appId, '--room', roomId,
      ...(password !== undefined ? ['--password', password] : []),
      ...(greet ? ['--greet'] : []),
      ...relays.flatMap((r) => ['--relay', r])];
    const argv = kind === 'native' ? [...NATIVE.argv, ...args] : [process.execPath, ...PEER_SCRIPTS[kind], ...args];
    super(argv, { label, verbose });
    this.kind = kind;
    this.password = password;
  }

  title() { return `${this.label} (${this.kind}, pid ${this.pid}${this.selfId ? `, ${this.selfId}` : ''})`; }

  /** Lines seen so far (consumed or not) matching pred. */
  seen(pred) { return this.lines.filter(pred); }

  /** Marks every line so far matching pred as consumed; returns them. */
  consume(pred) {
    const out = [];
    this.lines.forEach((o, i) => { if (!this.consumed.has(i) && pred(o)) { this.consumed.add(i); out.push(o); } });
    return out;
  }

  async ready(timeoutMs = 60000) {
    const r = await this.waitEvent('ready', timeoutMs);
    this.selfId = r.selfId;
    this.impl = r.impl;
    this.readyAt = this.timeOf(r);
    return this;
  }
}

/** Per-test set of peers, all stopped when the test ends (pass or fail). */
export function peerScope(t, common) {
  const peers = [];
  let n = 0;
  t.after(() => Promise.all(peers.map((p) => p.stop())));
  return {
    spawn(kind, extra = {}) {
      const p = new PeerProcess(kind, { ...common, ...extra }, `${kind}-${++n}`);
      peers.push(p);
      return p;
    },
    async start(specs) {
      const ps = specs.map((s) => (typeof s === 'string' ? this.spawn(s) : this.spawn(s.kind, s)));
      await Promise.all(ps.map((p) => p.ready()));
      return ps;
    },
  };
}

