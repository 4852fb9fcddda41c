// Room-level interop: the native room peer (tests/programs/room_peer.cpp) against real
// trystero@0.22.0 in Node (peers/node_peer.mjs) and in Chromium (peers/browser_peer.mjs), over
// local relays (lib/relays.mjs), for every strategy whose C++ header and relay exist. All three
// peers speak ROOM_PROTOCOL.md, so each test body drives them identically.
//
//   tests/interop/run.sh BUILD_DIR --test-name-pattern=rooms     (inside a loopback-only netns)
//   ROOM_PEER="node tests/interop/peers/node_peer.mjs" tests/interop/run.sh   (JS stand-in for
//     the native peer: validates the harness JS↔JS)
//
// Env: ROOM_PEER (native peer command, split on spaces; default: room_peer next to $PC_PEER, else
// build/tests/room_peer), ROOMS_STRATEGIES=nostr,mqtt,torrent,firebase,supabase,
// ROOMS_HOSTS=node,chromium,
// INTEROP_RESULTS=FILE (figures as JSON lines), INTEROP_VERBOSE=1 (every protocol line).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { NATIVE, PeerProcess, hostUnavailable, peerScope, strategyUnavailable } from './lib/room_peers.mjs';
import { appIdFor, startRelay } from './lib/relays.mjs';
import { patternBytes } from './peers/node_peer.mjs';
import { buildBrowserBundle } from './peers/browser_peer.mjs';

const verbose = !!process.env.INTEROP_VERBOSE;
const STRATEGIES = (process.env.ROOMS_STRATEGIES ?? 'nostr,mqtt,torrent,firebase,supabase').split(',').filter(Boolean);
const HOSTS = (process.env.ROOMS_HOSTS ?? 'node,chromium').split(',').filter(Boolean);

// trystero@0.22.0 timings the expectations below are derived from.
const ANNOUNCE_MS = 5333;        // strategy.js announceIntervalMs (nostr, mqtt)
const RECONNECT_MS = 3333;       // utils.js makeSocket first retry (the Firebase SDK: 1000)
const TORRENT_ANNOUNCE_MS = 33333;
// torrent.js maxAnnounceMs: past the first tracker reply (the local tracker says 120 s, as
// public trackers do) both trystero and the native peer re-announce every 120 s, at most this.
const TORRENT_MAX_ANNOUNCE_MS = 120333;

// ---------------------------------------------------------------------------------------------
// Helpers

const uid = () => Math.random().toString(36).slice(2, 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const BIN_SIZE = 1_000_000;
const BIN_META = { name: 'x.bin' };
// 1,000,000 bytes in 16,369-byte chunks (16 KiB - 15 header bytes) = 62, plus the meta chunk.
const BIN_CHUNKS = Math.ceil(BIN_SIZE / (16 * 1024 - 15)) + 1;
const OBJECT = { a: 1, b: [true, null, 'x', 2.5], nested: { 'ü': 'é', empty: {}, list: [] }, s: 'a "quoted" \\ line\n' };
const TYPES = ['num', 'str', 'obj', 'bin', 'hello'];
const fmt = (ms) => `${Math.round(ms)} ms`;

/** Prints a figure line (console.log) and appends it to $INTEROP_RESULTS as JSON. */
function report(text, figures) {
  console.log(`[rooms] ${text}`);
  if (process.env.INTEROP_RESULTS) fs.appendFileSync(process.env.INTEROP_RESULTS, JSON.stringify({ suite: 'rooms', ...figures }) + '\n');
}
const joinText = (join) => Object.entries(join).map(([k, v]) => `${k} ${v} ms`).join(', ');

/**
 * Waits until every peer saw every other join. Returns {"a sees b": ms}, counted from the moment
 * the later of the two was ready (had called joinRoom).
 */
async function mutualJoin(peers, timeoutMs = 30000) {
  const out = {};
  await Promise.all(peers.flatMap((a) => peers.filter((b) => b !== a).map(async (b) => {
    const e = await a.waitEvent('peer-join', timeoutMs, (o) => o.peerId === b.selfId, `peer-join of ${b.label} (${b.selfId})`);
    out[`${a.label} sees ${b.label}`] = Math.round(a.timeOf(e) - Math.max(a.readyAt, b.readyAt));
  })));
  return out;
}

/**
 * With several relays trystero@0.22.0 makes one connection per relay and each side keeps the
 * first whose channel opens, destroying the others; when the two sides pick different ones both
 * are lost (peer-join then peer-leave at once) until the next announce connects them again. JS
 * peers do it among themselves too (about 1 join in 20 here); the native peer keeps the extra
 * connections as standbys instead (src/room/room_core.hpp), which should spare it and its JS
 * partner, but a pair that lost each other must still be given a re-announce: on a tracker that
 * can be two minutes away (settleTimeout). Waits until, for every pair, the last join/leave seen
 * is a join and nothing changed for quietMs; consumes those lines and returns how many flaps
 * there were.
 */
const settleTimeout = (strategy) => (strategy === 'torrent' ? TORRENT_MAX_ANNOUNCE_MS : 2 * ANNOUNCE_MS) + 10000;

async function settle(peers, strategy, quietMs = 1000, timeoutMs = settleTimeout(strategy)) {
  const deadline = performance.now() + timeoutMs;
  const pairs = peers.flatMap((a) => peers.filter((b) => b !== a).map((b) => [a, b]));
  const about = (b) => (o) => (o.event === 'peer-join' || o.event === 'peer-leave') && o.peerId === b.selfId;
  for (;;) {
    const last = pairs.map(([a, b]) => a.seen(about(b)).at(-1));
    const stable = last.every((o, i) => o?.event === 'peer-join' && performance.now() - pairs[i][0].timeOf(o) >= quietMs);
    if (stable) break;
    if (performance.now() > deadline) throw new Error(`peers did not settle: ${JSON.stringify(last)}`);
    await sleep(100);
  }
  let flaps = 0;
  for (const [a, b] of pairs) flaps += a.consume(about(b)).filter((o) => o.event === 'peer-leave').length;
  return flaps;
}

async function makeActions(peers, types = TYPES) {
  await Promise.all(peers.map(async (p) => {
    const r = await p.request({ cmd: 'make-action', types });
    assert.equal(r.event, 'actions', `${p.label}: ${JSON.stringify(r)}`);
  }));
}

/** One send, checked on the receiver; returns {ms (send command → receive line), sent}. */
async function transfer(from, to, { type, kind, value, binary, meta }, expect) {
  const started = performance.now();
  const sentP = from.request({ cmd: 'send', type, kind, value, binary, meta, targets: [to.selfId] }, 60000);
  const [sent, rcv, summary] = await Promise.all([
    sentP,
    to.waitEvent('receive', 60000, (o) => o.type === type && o.peerId === from.selfId, `receive ${type} from ${from.label}`),
    to.waitEvent('progress-summary', 60000, (o) => o.type === type && o.peerId === from.selfId, `progress-summary ${type} from ${from.label}`),
  ]);
  const ms = to.timeOf(rcv) - started;
  const where = `${from.label} → ${to.label} ${type}`;
  assert.equal(sent.event, 'sent', `${where}: ${JSON.stringify(sent)}`);
  assert.equal(rcv.kind, expect.kind, `${where}: kind`);
  if (expect.kind === 'binary') {
    assert.equal(rcv.size, expect.size, `${where}: size`);
    assert.equal(rcv.sha256, expect.sha256, `${where}: sha256`);
  } else {
    assert.deepEqual(rcv.value, expect.value, `${where}: value`);
  }
  assert.deepEqual(rcv.meta ?? null, expect.meta ?? null, `${where}: receiver's metadata`);
  // Progress: receiver side (per transmission) and sender side (per target).
  assert.deepEqual({ count: summary.count, last: summary.last }, { count: expect.chunks, last: 1 }, `${where}: receiver progress calls`);
  assert.deepEqual(sent.progress?.[to.selfId], { count: expect.chunks, last: 1 }, `${where}: sender progress calls ${JSON.stringify(sent.progress)}`);
  return { ms, sentMs: sent.ms };
}

/** number, empty string, object, 1 MB binary with metadata from `from` to `to`. */
async function exchange(from, to, number) {
  await transfer(from, to, { type: 'num', kind: 'json', value: number }, { kind: 'json', value: number, chunks: 1 });
  await transfer(from, to, { type: 'str', kind: 'text', value: '' }, { kind: 'text', value: '', chunks: 1 });
  await transfer(from, to, { type: 'obj', kind: 'json', value: OBJECT }, { kind: 'json', value: OBJECT, chunks: 1 });
  const seed = number & 0xff;
  return transfer(from, to, { type: 'bin', kind: 'binary', binary: { size: BIN_SIZE, seed }, meta: BIN_META },
    { kind: 'binary', size: BIN_SIZE, sha256: sha256(patternBytes(BIN_SIZE, seed)), meta: BIN_META, chunks: BIN_CHUNKS });
}

/** A small message each way (data channel only). */
async function hello(a, b, text) {
  for (const [x, y] of [[a, b], [b, a]]) {
    const value = `${text} from ${x.label}`;
    await transfer(x, y, { type: 'hello', kind: 'text', value }, { kind: 'text', value, chunks: 1 });
  }
}

async function ping(a, b) {
  const r = await a.request({ cmd: 'ping', peerId: b.selfId }, 10000);
  assert.equal(r.event, 'ping', `${a.label} ping ${b.label}: ${JSON.stringify(r)}`);
  assert.ok(typeof r.rtt === 'number' && r.rtt >= 0 && r.rtt < 5000, `${a.label} ping rtt ${r.rtt}`);
  return r.rtt;
}

async function peersOf(p) {
  const r = await p.request({ cmd: 'get-peers' });
  assert.equal(r.event, 'peers');
  return [...r.peers].sort();
}

async function relaySockets(p) {
  const r = await p.request({ cmd: 'get-relay-sockets' });
  assert.equal(r.event, 'relay-sockets');
  return r.sockets;
}

/**
 * Polls get-relay-sockets until every socket is open. trystero's mqtt getRelaySockets() keeps the
 * socket of the first connection (mqtt.js opens a new one on reconnect; in Node it is not even
 * reachable): for JS mqtt peers the state says nothing after a reconnect, so give mqtt.js its
 * reconnect period (1 s) plus a margin instead.
 */
async function waitRelayOpen(p, timeoutMs, { minOpens = 0, strategy } = {}) {
  if (strategy === 'mqtt' && p.impl !== 'cpp') { await sleep(2500); return null; }
  // trystero's firebase exports no getRelaySockets; the SDK retries after 1 s (x1.3).
  if (strategy === 'firebase' && p.impl !== 'cpp') { await sleep(2500); return null; }
  // trystero/supabase exports no getRelaySockets: nothing to wait for on a JS peer (the newcomer
  // test that follows shows whether it reconnected).
  if (strategy === 'supabase' && p.impl !== 'cpp') return null;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sockets = await relaySockets(p);
    if (sockets.length && sockets.every((s) => (s.state === 'open' || s.state === 'unknown') && (s.opens ?? minOpens) >= minOpens)) return sockets;
    if (Date.now() > deadline) throw new Error(`${p.label}: relay sockets not open after ${timeoutMs} ms: ${JSON.stringify(sockets)}`);
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// The matrix

before(async () => {
  if (HOSTS.includes('chromium') && !hostUnavailable('chromium')) await buildBrowserBundle();
});

for (const strategy of STRATEGIES) {
  const unavailable = strategyUnavailable(strategy);
  describe(`rooms ${strategy}`, () => {
    // Two relays: the pair test uses both (as trystero uses several by default), the others
    // only the first, which the relay-fault test kills and restarts.
    // Firebase and Supabase have no relay list: the database / project URL is the appId, and
    // one server is all a room uses (the pair test included).
    const firebase = strategy === 'firebase';
    const managed = firebase || strategy === 'supabase';
    let relay = null;
    let relay2 = null;
    const name = `interop-${strategy}-${uid()}`;
    // The database / project URL is the appId; the relay list means nothing to these.
    const appIdOf = () => appIdFor(strategy, relay, name);
    const common = () => ({ strategy, appId: appIdOf(), relays: firebase ? [] : relay.urls });
    // Relay sockets a peer reports: trystero's firebase and supabase export no getRelaySockets,
    // and a native peer has its one database / project connection.
    const socketCount = (p, relays) => (!managed ? relays.length : p.impl === 'cpp' ? 1 : 0);

    before(async () => {
      if (unavailable) return;
      relay = await startRelay(strategy);
      if (!managed) relay2 = await startRelay(strategy, strategy === 'mqtt' ? { path: '/mqtt-b' } : {});
    });
    after(async () => { await Promise.all([relay?.dispose(), relay2?.dispose()]); });

    // Runs body unless the strategy or a host is unavailable: then t.skip with the reason, or a
    // failure with INTEROP_REQUIRED=1 (scripts/test.sh), where missing prerequisites must fail.
    const cell = (name, hosts, body, timeout = 180000) => test(name, { timeout }, async (t) => {
      const reason = unavailable ?? hosts.map(hostUnavailable).find(Boolean);
      if (reason && process.env.INTEROP_REQUIRED) throw new Error(`required but unavailable: ${reason}`);
      if (reason) { t.skip(reason); return; }
      await body(t);
    });

    for (const host of HOSTS) {
      cell(`${strategy}: native ↔ ${host}: join, data, progress, ping, peers, relay sockets, leave, rejoin`, [host], async (t) => {
        const relays = firebase ? [] : strategy === 'supabase' ? relay.urls : [...relay.urls, ...relay2.urls];
        const scope = peerScope(t, { ...common(), relays, roomId: `pair-${uid()}` });
        const [c, j] = await scope.start(['native', host]);
        const join = await mutualJoin([c, j]);
        let flaps = await settle([c, j], strategy);
        await makeActions([c, j]);
        const cToJ = await exchange(c, j, 42);
        const jToC = await exchange(j, c, -7.25);
        const rtt = [await ping(c, j), await ping(j, c)];
        assert.deepEqual(await peersOf(c), [j.selfId]);
        assert.deepEqual(await peersOf(j), [c.selfId]);
        for (const p of [c, j]) {
          const sockets = await relaySockets(p);
          assert.equal(sockets.length, socketCount(p, relays), `${p.label} relay sockets ${JSON.stringify(sockets)}`);
          if (p.impl === 'cpp') assert.ok(sockets.every((s) => s.state === 'open'), `${p.label} relay sockets ${JSON.stringify(sockets)}`);
        }
        // One peer leaves (the other sees peer-leave) and joins the same room again with the same
        // selfId (the other takes it back); then the other leaves. Normally the native peer is the
        // one that comes back. Over supabase a JS peer can signal a given peer only once per room
        // (its channel to that peer's topic is subscribed once; later signals are dropped), so a
        // JS peer never takes back a peer it met before: there the JS peer is the one that comes
        // back, with fresh channels, and the native peer takes it back.
        const [r, s] = strategy === 'supabase' ? [j, c] : [c, j];
        const left = r.request({ cmd: 'leave' });
        await s.waitEvent('peer-leave', 10000, (o) => o.peerId === r.selfId, `peer-leave of ${r.label}`);
        assert.equal((await left).event, 'left');
        // (Like trystero, the leaver may report its own peers as left when it closes them.)
        r.consume((o) => o.event === 'peer-leave' && o.peerId === s.selfId);
        r.send({ cmd: 'join' });
        await r.ready();
        const rejoin = await mutualJoin([c, j]);
        flaps += await settle([c, j], strategy);
        await makeActions([r]);
        await hello(c, j, 'rejoined');
        // And leave() the other way.
        const sLeft = s.request({ cmd: 'leave' });
        await r.waitEvent('peer-leave', 10000, (o) => o.peerId === s.selfId, `peer-leave of ${s.label}`);
        assert.equal((await sLeft).event, 'left');
        assert.deepEqual(await peersOf(r), []);
        const mb1 = { [`${c.label}→${j.label}`]: Math.round(cToJ.ms), [`${j.label}→${c.label}`]: Math.round(jToC.ms) };
        report(`${strategy} ${c.impl}↔${j.impl} (${managed ? `1 ${firebase ? 'database' : 'project'}` : `${relays.length} relays`}): join ${joinText(join)}; rejoin ${joinText(rejoin)}; 1 MB ${Object.entries(mb1).map(([k, v]) => `${k} ${v} ms`).join(', ')}; ping ${rtt.map((x) => x.toFixed(1)).join(' / ')} ms${flaps ? `; duplicate-connection flaps ${flaps}` : ''}`,
          { strategy, pair: `${c.impl}↔${j.impl}`, join_ms: join, rejoin_ms: rejoin, mb1_ms: mb1, ping_ms: rtt, flaps });
      }, 140000 + 2 * settleTimeout(strategy));  // two settles at their worst, and the rest
    }

    for (const host of HOSTS) {
      cell(`${strategy}: native ↔ ${host}: wrong password`, [host], async (t) => {
        const scope = peerScope(t, { ...common(), roomId: `pw-${uid()}` });
        // The native peer joins first, then the JS peer with another password.
        const [first] = await scope.start([{ kind: 'native', password: 'native-secret' }]);
        await sleep(300);
        const [second] = await scope.start([{ kind: host, password: 'js-secret' }]);
        // trystero's rule: a peer that receives an offer it cannot decrypt reports it (and so
        // never answers). Over nostr/mqtt the first joiner hears the second's announce and offers
        // at once, so the second joiner reports within moments; later, every announce makes the
        // hearer offer again, and the peer with the lower id always decrypts those (the glare
        // rule only lets the higher id ignore an offer), so it reports within an announce
        // interval too. Over a tracker the second joiner's announce carries its offers, which
        // the tracker hands to the first joiner: the first joiner reports.
        // Over supabase the second joiner's own channel may not be subscribed yet when the first
        // joiner's offer comes (Realtime keeps no messages); a JS peer then offers back, and while
        // its own offer is pending (0.9 of an announce interval, then again at the next announce)
        // a JS peer with the higher id ignores every offer: seen once in CI, Chromium with the
        // higher id never reported in 15 s. Only the lower id is sure to decrypt, and report.
        const expected = new Set();
        if (strategy === 'torrent') {
          expected.add(first);
        } else if (strategy === 'supabase') {
          expected.add(first.selfId < second.selfId ? first : second);
        } else {
          expected.add(second);
          expected.add(first.selfId < second.selfId ? first : second);
        }
        await Promise.all([...expected].map((p) => p.waitEvent('join-error', 2 * ANNOUNCE_MS + 5000, () => true, `join-error on ${p.label}`)));
        await sleep(1000);
        for (const p of [first, second]) {
          const other = p === first ? second : first;
          for (const e of p.seen((o) => o.event === 'join-error')) {
            assert.deepEqual(e, {
              event: 'join-error',
              error: `incorrect password (${p.password}) when decrypting offer`,
              appId: appIdOf(),
              peerId: other.selfId,
              roomId: e.roomId,
            }, `${p.label} join-error`);
            assert.match(e.roomId, /^pw-/);
          }
          assert.deepEqual(p.seen((o) => o.event === 'peer-join'), [], `${p.label} must not join anyone`);
          assert.deepEqual(await peersOf(p), []);
        }
        const counts = Object.fromEntries([first, second].map((p) => [`${p.label} (${p.impl})`, p.seen((o) => o.event === 'join-error').length]));
        report(`${strategy} ${first.impl}↔${second.impl} wrong password: join-errors ${JSON.stringify(counts)}, no join`,
          { strategy, pair: `${first.impl}↔${second.impl}`, wrong_password: true, join_errors: counts });
      });
    }

    cell(`${strategy}: three peers (native, chromium, node) with a password, all connected; vanished peers leave`, ['chromium', 'node'], async (t) => {
      // Two JS peers over supabase hang in about 1 join of 3 (both offer and neither may answer:
      // managed-protocols.md 3.1), a trystero@0.22.0 rule this test cannot wait out.
      if (strategy === 'supabase') { t.skip('two trystero@0.22.0 peers over supabase may never meet (their offers cross)'); return; }
      const scope = peerScope(t, { ...common(), roomId: `three-${uid()}`, password: 'shared pässword 🔑' });
      const peers = await scope.start(['native', 'chromium', 'node']);
      const [c, b, n] = peers;
      const join = await mutualJoin(peers, 45000);
      await makeActions(peers);
      for (const p of peers) {
        assert.deepEqual(await peersOf(p), peers.filter((q) => q !== p).map((q) => q.selfId).sort(), `${p.label} peers`);
      }
      // A broadcast from each reaches both others.
      for (const p of peers) {
        const value = { from: p.selfId };
        const sent = await p.request({ cmd: 'send', type: 'obj', kind: 'json', value });
        assert.equal(sent.event, 'sent');
        await Promise.all(peers.filter((q) => q !== p).map(async (q) => {
          const r = await q.waitEvent('receive', 10000, (o) => o.type === 'obj' && o.peerId === p.selfId);
          assert.deepEqual(r.value, value);
        }));
      }
      // 1 MB from the native peer to both at once: 63 progress calls per target.
      const seed = 99;
      const expectSha = sha256(patternBytes(BIN_SIZE, seed));
      const [sent, ...got] = await Promise.all([
        c.request({ cmd: 'send', type: 'bin', kind: 'binary', binary: { size: BIN_SIZE, seed }, meta: BIN_META }, 60000),
        ...[b, n].map((q) => q.waitEvent('receive', 60000, (o) => o.type === 'bin' && o.peerId === c.selfId)),
      ]);
      assert.equal(sent.event, 'sent');
      for (const q of [b, n]) assert.deepEqual(sent.progress[q.selfId], { count: BIN_CHUNKS, last: 1 }, `sender progress for ${q.label}`);
      for (const r of got) {
        assert.equal(r.sha256, expectSha);
        assert.deepEqual(r.meta, BIN_META);
        assert.deepEqual(r.progress, { count: BIN_CHUNKS, last: 1 });
      }
      // A peer that vanishes (SIGKILL, no leave message) is reported gone once its connection
      // fails: first a JS peer (seen by the native one), then the native peer.
      const vanish = async (victim, watchers) => {
        const killedAt = performance.now();
        process.kill(victim.pid, 'SIGKILL');
        const ms = {};
        await Promise.all(watchers.map(async (w) => {
          const e = await w.waitEvent('peer-leave', 45000, (o) => o.peerId === victim.selfId, `peer-leave of vanished ${victim.label}`);
          ms[`${w.label} sees ${victim.label} gone`] = Math.round(w.timeOf(e) - killedAt);
        }));
        return ms;
      };
      const gone = { ...(await vanish(n, [c, b])), ...(await vanish(c, [b])) };
      report(`${strategy} three peers ${peers.map((p) => p.impl).join('+')}: join ${joinText(join)}; vanished: ${joinText(gone)}`,
        { strategy, three: peers.map((p) => p.impl).join('+'), join_ms: join, vanished_ms: gone });
    });

    for (const host of HOSTS) {
      cell(`${strategy}: native ↔ ${host}: relay killed and restarted on the same port`, [host], async (t) => {
        const scope = peerScope(t, { ...common(), roomId: `fault-${uid()}` });
        const [c, j] = await scope.start(['native', host]);
        await mutualJoin([c, j]);
        await makeActions([c, j]);
        await hello(c, j, 'before');

        await relay.kill();
        await hello(c, j, 'relay down');
        await ping(c, j);
        await ping(j, c);
        const downFor = performance.now();
        await relay.start();
        await hello(c, j, 'relay back');
        assert.deepEqual(await peersOf(c), [j.selfId]);
        assert.deepEqual(await peersOf(j), [c.selfId]);

        // Both reconnect after trystero's first retry delay (3333 ms after the close).
        await waitRelayOpen(c, RECONNECT_MS + 10000, { minOpens: 2, strategy });
        await waitRelayOpen(j, RECONNECT_MS + 10000, { strategy });
        const reconnectedMs = Math.round(performance.now() - downFor);
        await sleep(500);

        // A newcomer (a fresh JS peer) must be found by the native peer. The JS peers of
        // trystero@0.22.0 do not renew nostr subscriptions after a reconnect (mqtt.js does), and
        // a tracker only learns of an old peer at its next announce: whether the old JS peer
        // finds the newcomer is reported, and only asserted where trystero says it will.
        // (Firebase: after a firebase-server 1.1.0 restart old JS peers do not find the
        // newcomer, JS among themselves too; a bare SDK 12.19.0 onChildAdded listener misses the
        // children written after the restart as well: reported only. The native peer finds it.)
        const jsFinds = strategy === 'mqtt';
        const [n] = await scope.start([host]);
        const findTimeout = strategy === 'torrent' ? TORRENT_ANNOUNCE_MS + 10000 : 2 * ANNOUNCE_MS + 5000;
        const started = performance.now();
        let foundMs = null;
        try {
          await mutualJoin([c, n], findTimeout);
          foundMs = Math.round(performance.now() - started);
          await makeActions([n]);
          await hello(c, n, 'newcomer');
        } catch (e) {
          // With the JS stand-in as "native" peer, trystero's own rule applies.
          if (!NATIVE.standIn || jsFinds) throw e;
        }
        let jFound = false;
        try {
          await mutualJoin([j, n], jsFinds ? findTimeout : ANNOUNCE_MS + 1000);
          jFound = true;
        } catch (e) {
          if (jsFinds) throw e;
        }
        report(`${strategy} ${c.impl}↔${j.impl} relay restart: data channel kept; reconnected ${reconnectedMs} ms after the restart began; newcomer found by ${c.impl} ${foundMs === null ? 'no (trystero rule)' : `in ${foundMs} ms`}; by the old ${j.impl} peer: ${jFound ? 'yes' : 'no'}`,
          { strategy, pair: `${c.impl}↔${j.impl}`, relay_restart: true, reconnected_ms: reconnectedMs, newcomer_found_ms: foundMs, old_js_peer_found_newcomer: jFound });
      });
    }

    // getOccupants (firebase only in trystero@0.22.0): the peers present without joining. The
    // native one lists peer ids, trystero's lists the room node's keys (the peers' topics).
    // firebase-server never runs onDisconnect operations, so this counts on each leaver removing
    // its own presence (trystero and the native peer both do on leave; the real service would
    // also remove the presence of a peer that vanished without leaving).
    if (firebase) {
      cell(`${strategy}: getOccupants: a native and a node peer in, none once both left`, ['node'], async (t) => {
        const scope = peerScope(t, { ...common(), roomId: `occupants-${uid()}` });
        const [c, j] = await scope.start(['native', 'node']);
        await mutualJoin([c, j]);
        const both = [c.selfId, j.selfId].sort();
        const started = performance.now();
        const native = await occupantsUntil(c, (ids) => JSON.stringify([...ids].sort()) === JSON.stringify(both));
        const nativeMs = Math.round(performance.now() - started);
        const js = await occupantsUntil(j, (keys) => keys.length === 2);
        for (const p of [c, j]) assert.equal((await p.request({ cmd: 'leave' })).event, 'left', `${p.label} leave`);
        const after = await occupantsUntil(c, (ids) => ids.length === 0);
        const jsAfter = await occupantsUntil(j, (keys) => keys.length === 0);
        report(`${strategy} getOccupants: native ${JSON.stringify(native.length)} in ${nativeMs} ms, node ${js.length}; after both left: native ${after.length}, node ${jsAfter.length}`,
          { strategy, occupants: { native: native.length, node: js.length, nativeAfterLeave: after.length, nodeAfterLeave: jsAfter.length } });
      });
    }
  });
}

/**
 * get-occupants until the answer satisfies ok (an announce removes and rewrites a presence, so a
 * read may fall between the two), at most timeoutMs; returns the last answer's list.
 */
async function occupantsUntil(p, ok, timeoutMs = 10000) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await p.request({ cmd: 'get-occupants' }, 35000);
    assert.equal(r.event, 'occupants', `${p.label}: ${JSON.stringify(r)}`);
    if (ok(r.occupants)) return r.occupants;
    if (performance.now() > deadline) assert.fail(`${p.label} occupants ${JSON.stringify(r.occupants)} after ${timeoutMs} ms`);
    await sleep(200);
  }
}
