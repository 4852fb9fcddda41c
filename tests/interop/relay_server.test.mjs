// The native Nostr relay (trystero::nostr::RelayServer, run by BUILD_DIR/tests/relay/
// nostr_relay_server) with real trystero@0.22.0 peers on it:
//   - events signed in JavaScript (@noble/secp256k1, ids over JSON.stringify) are verified and
//     forwarded intact, forgeries refused: the relay hashes exactly what JS clients hash;
//   - two Node peers (peers/node_peer.mjs) meet through it and exchange an action;
//   - the native room peer (tests/programs/room_peer.cpp) and a Node peer do the same.
// Everything on 127.0.0.1 (run.sh puts the suite in a loopback-only network namespace); child
// processes are killed by their recorded PID only.
//
//   tests/interop/run.sh BUILD_DIR --test-name-pattern='^relay server'
//
// Env: RELAY_SERVER (the relay program; default: relay/nostr_relay_server next to $PC_PEER, else
// build/tests/relay/nostr_relay_server), ROOM_PEER (native room peer, split on spaces; default
// room_peer next to $PC_PEER), INTEROP_REQUIRED=1 (missing programs fail instead of skipping),
// INTEROP_VERBOSE=1.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { interopDir, repoRoot, resolveArg, testsDirFromPcPeer } from './lib/native.mjs';
import { LineProcess } from './lib/line_process.mjs';

const verbose = !!process.env.INTEROP_VERBOSE;
const NODE_PEER = path.join(interopDir, 'peers', 'node_peer.mjs');

// BUILD_DIR/tests, from $PC_PEER (run.sh sets it to BUILD_DIR/tests/pc_peer).
const testsDir = testsDirFromPcPeer() ?? path.join(repoRoot, 'build', 'tests');
const RELAY_BIN = resolveArg(process.env.RELAY_SERVER?.trim() || path.join(testsDir, 'relay', 'nostr_relay_server'));
const ROOM_PEER = (process.env.ROOM_PEER?.trim() || path.join(testsDir, 'room_peer')).split(/\s+/).map(resolveArg);

const missing = (file) => (fs.existsSync(file) ? null : `${file.startsWith(repoRoot) ? path.relative(repoRoot, file) : file} not built`);
const relayMissing = missing(RELAY_BIN);

/** A child speaking JSON lines on stdout (the relay runner, or a room peer); both exit on EOF. */
const lineProcess = (label, argv) => new LineProcess(argv, { label, verbose, stderrLines: 60, stopBy: 'eof', stopGraceMs: 5000 });

async function startRelay() {
  const relay = lineProcess('cpp-relay', [RELAY_BIN, '--port', '0', ...(verbose ? ['--verbose'] : [])]);
  const listening = await relay.waitEvent('listening', 15000);
  assert.match(listening.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
  relay.url = listening.url;
  return relay;
}

/** Runs body unless a program is missing: then skips, or fails under INTEROP_REQUIRED=1. */
const cell = (name, reasons, body, timeout = 120000) => test(name, { timeout }, async (t) => {
  const reason = reasons.find(Boolean);
  if (reason && process.env.INTEROP_REQUIRED) throw new Error(`required but unavailable: ${reason}`);
  if (reason) { t.skip(reason); return; }
  await body(t);
});

const uid = () => Math.random().toString(36).slice(2, 10);

describe('relay server', () => {
  let relay = null;
  before(async () => { if (!relayMissing) relay = await startRelay(); });
  after(async () => {
    if (!relay) return;
    const exit = await relay.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, relay.describe());
  });

  cell('relay server: JS-signed events are verified and forwarded intact, forgeries refused', [relayMissing], async () => {
    const { WebSocket } = await import('ws');
    const { schnorr, hashes } = await import('@noble/secp256k1');
    const sha256 = (data) => new Uint8Array(createHash('sha256').update(data).digest());
    hashes.sha256 = sha256;
    const hex = (bytes) => Buffer.from(bytes).toString('hex');
    const { secretKey, publicKey } = schnorr.keygen();
    const pubkey = hex(publicKey);
    const sign = (kind, tags, content) => {
      const created_at = Math.floor(Date.now() / 1000);
      const id = sha256(new TextEncoder().encode(JSON.stringify([0, pubkey, created_at, kind, tags, content])));
      return { kind, tags, created_at, content, pubkey, id: hex(id), sig: hex(schnorr.sign(id, secretKey)) };
    };

    const open = async () => {
      const ws = new WebSocket(relay.url);
      const inbox = [];
      const waiters = [];
      ws.on('message', (data) => {
        inbox.push(JSON.parse(data.toString('utf8')));
        waiters.splice(0).forEach((w) => w());
      });
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      ws.next = async (timeoutMs = 5000) => {
        const deadline = Date.now() + timeoutMs;
        while (!inbox.length) {
          if (Date.now() > deadline) throw new Error('no message from the relay');
          await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
        }
        return inbox.shift();
      };
      ws.pending = () => inbox.length;
      return ws;
    };
    const sub = await open();
    const pub = await open();
    try {
      sub.send(JSON.stringify(['REQ', 'all', { kinds: [20100], '#x': ['t'] }]));
      assert.deepEqual(await sub.next(), ['EOSE', 'all']);
      const contents = ['', 'quotes " \\ / and </script>', 'line\nbreak\r\ttab\b\f\v', 'nul \0 \x01 \x1f \x7f',
        'é 日本語 🎉👩‍👩‍👧 \u2028\u2029\uFEFF', 'x'.repeat(30000), JSON.stringify({ peerId: 'abc', offer: { sdp: 'v=0\r\n' } })];
      for (const content of contents) {
        const event = sign(20100, [['x', 't'], ['y', content, '']], content);
        pub.send(JSON.stringify(['EVENT', event]));
        assert.deepEqual(await pub.next(), ['OK', event.id, true, ''], `content ${JSON.stringify(content).slice(0, 60)}`);
        const [verb, subId, forwarded] = await sub.next();
        assert.equal(verb, 'EVENT');
        assert.equal(subId, 'all');
        assert.deepEqual(forwarded, event);
      }
      // Not for this subscription: another tag.
      const other = sign(20100, [['x', 'u']], 'elsewhere');
      pub.send(JSON.stringify(['EVENT', other]));
      assert.deepEqual(await pub.next(), ['OK', other.id, true, '']);

      const tampered = { ...sign(20100, [['x', 't']], 'original'), content: 'changed' };
      pub.send(JSON.stringify(['EVENT', tampered]));
      assert.deepEqual(await pub.next(), ['OK', tampered.id, false, 'invalid: event id does not match']);
      const a = sign(20100, [['x', 't']], 'a');
      const b = sign(20100, [['x', 't']], 'b');
      pub.send(JSON.stringify(['EVENT', { ...a, sig: b.sig }]));
      assert.deepEqual(await pub.next(), ['OK', a.id, false, 'invalid: bad signature']);
      pub.send('["EVENT",');
      assert.deepEqual(await pub.next(), ['NOTICE', 'invalid: malformed JSON']);

      // Nothing but the valid events reached the subscriber.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(sub.pending(), 0);

      // NIP-11 on the same port.
      const info = await fetch(relay.url.replace(/^ws/, 'http'), { headers: { Accept: 'application/nostr+json' } });
      assert.equal(info.status, 200);
      assert.ok((await info.json()).supported_nips.includes(1));
    } finally {
      sub.close();
      pub.close();
    }
  });

  /** Two room peers on the relay: mutual join, an action each way (and a ping from the first). */
  async function pair(t, kinds) {
    const appId = `relay-server-${uid()}`;
    const roomId = `room-${uid()}`;
    const peers = kinds.map((kind, i) => {
      const args = ['--strategy', 'nostr', '--app-id', appId, '--room', roomId, '--relay', relay.url];
      const argv = kind === 'native' ? [...ROOM_PEER, ...args] : [process.execPath, NODE_PEER, ...args];
      return lineProcess(`${kind}-${i + 1}`, argv);
    });
    t.after(() => Promise.all(peers.map((p) => p.stop())));
    const ready = await Promise.all(peers.map((p) => p.waitEvent('ready', 60000)));
    ready.forEach((r, i) => { peers[i].selfId = r.selfId; });
    await Promise.all(peers.map((p, i) => p.waitEvent('peer-join', 30000, (o) => o.peerId === peers[1 - i].selfId, `peer-join of ${peers[1 - i].label}`)));
    for (const p of peers) {
      const r = await p.request({ cmd: 'make-action', types: ['hello'] });
      assert.equal(r.event, 'actions', JSON.stringify(r));
    }
    for (const [from, to] of [[peers[0], peers[1]], [peers[1], peers[0]]]) {
      const value = `hello from ${from.label} through the C++ relay`;
      const [sent, got] = await Promise.all([
        from.request({ cmd: 'send', type: 'hello', kind: 'text', value, targets: [to.selfId] }, 30000),
        to.waitEvent('receive', 30000, (o) => o.type === 'hello' && o.peerId === from.selfId, `hello from ${from.label}`),
      ]);
      assert.equal(sent.event, 'sent', JSON.stringify(sent));
      assert.equal(got.kind, 'text');
      assert.equal(got.value, value);
    }
    const ping = await peers[0].request({ cmd: 'ping', peerId: peers[1].selfId }, 10000);
    assert.equal(ping.event, 'ping', JSON.stringify(ping));
  }

  cell('relay server: two trystero@0.22.0 Node peers meet through it', [relayMissing], (t) => pair(t, ['node', 'node']));

  cell('relay server: native room peer ↔ trystero@0.22.0 Node peer', [relayMissing, missing(ROOM_PEER[0])],
    (t) => pair(t, ['native', 'node']));
});
