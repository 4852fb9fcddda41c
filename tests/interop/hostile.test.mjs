// A stranger must not be able to crash or exhaust a native peer (tests/programs/room_peer.cpp):
//  - a hostile relay (here: anyone who can post to the room's topic on a relay) floods valid,
//    signed announces from invented peer ids and announces with huge peer ids;
//  - a hostile trystero@0.22.0 peer in Node writes chunks trystero itself never makes (an
//    action nested a million levels deep, a flood of garbage).
// Each time the native process stays up, its descriptors and memory stay within the documented
// bounds (README "Limits"), the refusals are counted in Room::stats(), and an honest peer still
// meets it and exchanges messages afterwards.
//   tests/interop/run.sh BUILD_DIR   (INTEROP_FILES=hostile)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { peerScope, strategyUnavailable } from './lib/room_peers.mjs';
import { startRelay } from './lib/relays.mjs';

const uid = () => Math.random().toString(36).slice(2, 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Open descriptors and resident memory (MB) of a process. */
function usage(pid) {
  const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssMb = Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
  return { fds, rssMb };
}

/** Samples usage every 100 ms until stopped; returns the peak. */
function watch(pid) {
  const peak = { fds: 0, rssMb: 0 };
  const sample = () => {
    try {
      const u = usage(pid);
      peak.fds = Math.max(peak.fds, u.fds);
      peak.rssMb = Math.max(peak.rssMb, u.rssMb);
    } catch { /* exited: the assertions below say so */ }
  };
  sample();
  const timer = setInterval(sample, 100);
  return { peak, stop: () => { clearInterval(timer); sample(); return peak; } };
}

async function stats(p) {
  const r = await p.request({ cmd: 'stats' });
  assert.equal(r.event, 'stats', JSON.stringify(r));
  return r;
}

async function until(what, f, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** Both see each other, and a greeting sent from each onPeerJoin arrives on the other side. */
async function meetAndGreet(a, b, timeoutMs = 60000) {
  await Promise.all([[a, b], [b, a]].map(async ([x, y]) => {
    await x.waitEvent('peer-join', timeoutMs, (o) => o.peerId === y.selfId, `${x.label} sees ${y.label}`);
    const sent = await x.waitEvent('greet-sent', timeoutMs, (o) => o.peerId === y.selfId, `${x.label} greets ${y.label}`);
    await y.waitEvent('greet', timeoutMs, (o) => o.peerId === x.selfId && o.text === sent.text, `${y.label} gets "${sent.text}"`);
  }));
}

// trystero's topic hash (strategy.js: sha1 of the topic path, bytes in base 36).
const topicHash = (text) => Array.from(createHash('sha1').update(text).digest()).map((b) => b.toString(36)).join('');

// Chunks of one action message as room.js lays them out (see src/room/chunk_codec.hpp).
function chunksOf(type, nonce, tag, payload) {
  const size = 16384 - 15;
  const total = Math.max(1, Math.ceil(payload.length / size));
  const out = [];
  for (let i = 0; i < total; i++) {
    const part = payload.subarray(i * size, (i + 1) * size);
    const chunk = new Uint8Array(15 + part.length);
    chunk.set(new TextEncoder().encode(type));
    chunk[12] = nonce;
    chunk[13] = tag | (i === total - 1 ? 1 : 0);
    chunk[14] = Math.round((255 * (i + 1)) / total);
    chunk.set(part, 15);
    out.push(Buffer.from(chunk).toString('base64'));
  }
  return out;
}

const unavailable = strategyUnavailable('nostr');
let relay = null;
before(async () => { if (!unavailable) relay = await startRelay('nostr'); });
after(async () => { await relay?.dispose(); });

const cell = (name, body) => test(name, { timeout: 10 * 60000 }, async (t) => {
  if (unavailable && process.env.INTEROP_REQUIRED) throw new Error(`required but unavailable: ${unavailable}`);
  if (unavailable) { t.skip(unavailable); return; }
  await body(t);
});

cell('hostile relay traffic: 3,000 announces from invented peers and 300 with 200 KB ids; the room still works', async (t) => {
  const appId = `hostile-${uid()}`;
  const roomId = `r-${uid()}`;
  const scope = peerScope(t, { strategy: 'nostr', appId, roomId, relays: relay.urls, greet: true });
  const [c] = await scope.start(['native']);
  await sleep(500);  // its relay subscription is up (the announces must reach it)
  const base = usage(c.pid);
  const watcher = watch(c.pid);

  // The attacker: valid events, signed by trystero's own nostr code, on the room's topic.
  const { createEvent } = await import('trystero/nostr');
  const { WebSocket } = await import('ws');
  const ws = new WebSocket(relay.urls[0]);
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  const rootTopic = topicHash(`Trystero@${appId}@${roomId}`);
  const FAKES = 3000;
  const LONG = 300;
  for (let i = 0; i < FAKES; i++) ws.send(await createEvent(rootTopic, JSON.stringify({ peerId: `fake${i}`.padEnd(20, 'x') })));
  const huge = 'y'.repeat(200 * 1024);
  for (let i = 0; i < LONG; i++) ws.send(await createEvent(rootTopic, JSON.stringify({ peerId: `${huge}${i}` })));

  const counted = await until('the flood to be counted', async () => {
    const s = await stats(c);
    return s.droppedSignals >= LONG && s.refusedConnections > 0 ? s : null;
  });
  const peak = watcher.stop();
  ws.close();
  console.log(`[hostile] relay flood: base ${base.fds} fds / ${base.rssMb.toFixed(0)} MB, peak ${peak.fds} fds / ${peak.rssMb.toFixed(0)} MB; ` +
    `refused ${counted.refusedConnections} connections, dropped ${counted.droppedSignals} signals`);
  // At most 256 connections being set up, about eight descriptors each (README "Limits").
  assert.ok(peak.fds - base.fds <= 256 * 8 + 64, `descriptors grew from ${base.fds} to ${peak.fds}`);
  assert.ok(peak.rssMb - base.rssMb <= 400, `memory grew from ${base.rssMb} MB to ${peak.rssMb} MB`);

  // The refused offers are pruned with the announce interval; an honest peer then meets it.
  const j = scope.spawn('node');
  await j.ready();
  await meetAndGreet(c, j);
  const after = usage(c.pid);
  console.log(`[hostile] after the flood and an honest join: ${after.fds} fds / ${after.rssMb.toFixed(0)} MB`);
});

cell('hostile peer: an action nested 1,000,000 levels deep and 10,000 garbage chunks are dropped; pings still answered', async (t) => {
  const scope = peerScope(t, { strategy: 'nostr', appId: `hostile-${uid()}`, roomId: `r-${uid()}`, relays: relay.urls, greet: true });
  const [c, j] = await scope.start(['native', 'node']);
  await meetAndGreet(c, j);
  for (const p of [c, j]) {
    const r = await p.request({ cmd: 'make-action', types: ['deep', 'hello'] });
    assert.equal(r.event, 'actions');
  }
  const base = usage(c.pid);
  const watcher = watch(c.pid);

  const depth = 1_000_000;
  const deep = Buffer.from('['.repeat(depth) + ']'.repeat(depth));
  const deepChunks = chunksOf('deep', 7, 8, deep);
  let r = await j.request({ cmd: 'raw-send', peerId: c.selfId, chunks: deepChunks }, 60000);
  assert.equal(r.event, 'raw-sent', JSON.stringify(r));
  // Garbage: chunks too short, unknown types, every tag, non-final chunks of endless messages.
  const garbage = [];
  for (let i = 0; i < 100; i++) {
    const bytes = Buffer.alloc(i % 20);
    for (let k = 0; k < bytes.length; k++) bytes[k] = (i * 31 + k * 7) & 0xff;
    garbage.push(bytes.toString('base64'));
  }
  r = await j.request({ cmd: 'raw-send', peerId: c.selfId, chunks: garbage, repeat: 100 }, 60000);
  assert.equal(r.event, 'raw-sent', JSON.stringify(r));

  const s = await until('the deep message to be dropped', async () => {
    const st = await stats(c);
    return st.droppedDeepJson >= 1 ? st : null;
  });
  const ping = await j.request({ cmd: 'ping', peerId: c.selfId }, 15000);
  assert.equal(ping.event, 'ping', JSON.stringify(ping));
  // The room still carries messages both ways.
  for (const [x, y] of [[c, j], [j, c]]) {
    const sent = await x.request({ cmd: 'send', type: 'hello', kind: 'text', value: `still here ${x.label}`, targets: [y.selfId] }, 15000);
    assert.equal(sent.event, 'sent', JSON.stringify(sent));
    await y.waitEvent('receive', 15000, (o) => o.type === 'hello' && o.value === `still here ${x.label}`);
  }
  assert.equal(c.seen((o) => o.event === 'receive' && o.type === 'deep').length, 0, 'the deep message reached the application');
  const peak = watcher.stop();
  console.log(`[hostile] hostile peer: dropped ${s.droppedDeepJson} deep message(s), ${s.droppedChunks} chunks; ` +
    `base ${base.rssMb.toFixed(0)} MB, peak ${peak.rssMb.toFixed(0)} MB; ping ${ping.rtt.toFixed(1)} ms`);
  assert.ok(peak.rssMb - base.rssMb <= 200, `memory grew from ${base.rssMb} MB to ${peak.rssMb} MB`);
});
