// Renegotiation on a live connection: trystero@0.22.0 in Chromium adds a stream (canvas video and
// oscillator audio) toward the native room peer, which renegotiates over @_signal. Until media
// lands the native answer rejects the audio and video sections: the browser's connection must
// go back from have-local-offer to stable with those transceivers stopped, the data channel must
// carry on (1 MB binaries both ways after each renegotiation), and neither side may see the
// other leave. Twice, so that a second renegotiation on the same connection works too.
//
//   tests/interop/run.sh BUILD_DIR   (INTEROP_FILES=renegotiation)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hostUnavailable, peerScope, strategyUnavailable } from './lib/room_peers.mjs';
import { appIdFor, startRelay } from './lib/relays.mjs';
import { patternBytes } from './peers/node_peer.mjs';
import { buildBrowserBundle } from './peers/browser_peer.mjs';

const STRATEGY = 'nostr';
const BIN_SIZE = 1_000_000;
const uid = () => Math.random().toString(36).slice(2, 10);
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

describe('renegotiation', () => {
  let relay;
  const unavailable = strategyUnavailable(STRATEGY) ?? hostUnavailable('chromium');
  before(async () => {
    if (unavailable) return;
    await buildBrowserBundle();
    relay = await startRelay(STRATEGY);
  });
  after(async () => { await relay?.dispose(); });

  test('a browser adding a stream toward the native peer renegotiates; the data channel carries on', { timeout: 5 * 60000 }, async (t) => {
    if (unavailable && process.env.INTEROP_REQUIRED) throw new Error(`required but unavailable: ${unavailable}`);
    if (unavailable) { t.skip(unavailable); return; }
    const scope = peerScope(t, { strategy: STRATEGY, appId: appIdFor(STRATEGY, relay, `reneg-${uid()}`), roomId: `r-${uid()}`, relays: relay.urls });
    const [native, browser] = await scope.start(['native', 'chromium']);
    await Promise.all([
      native.waitEvent('peer-join', 30000, (o) => o.peerId === browser.selfId, 'native sees the browser'),
      browser.waitEvent('peer-join', 30000, (o) => o.peerId === native.selfId, 'the browser sees native'),
    ]);
    for (const p of [native, browser]) {
      const r = await p.request({ cmd: 'make-action', types: ['bin'] });
      assert.equal(r.event, 'actions', `${p.label}: ${JSON.stringify(r)}`);
    }
    const transfer = async (from, to, seed) => {
      const [sent, got] = await Promise.all([
        from.request({ cmd: 'send', type: 'bin', kind: 'binary', binary: { size: BIN_SIZE, seed }, targets: [to.selfId] }, 60000),
        to.waitEvent('receive', 60000, (o) => o.type === 'bin' && o.peerId === from.selfId, `${from.label} → ${to.label} 1 MB`),
      ]);
      assert.equal(sent.event, 'sent', JSON.stringify(sent));
      assert.equal(got.sha256, sha256(patternBytes(BIN_SIZE, seed)), `${from.label} → ${to.label}: bytes`);
    };
    for (let round = 1; round <= 2; round++) {
      const added = await browser.request({ cmd: 'add-stream', peerId: native.selfId, meta: { round } }, 30000);
      assert.equal(added.event, 'stream-added', JSON.stringify(added));
      assert.equal(added.signalingState, 'stable', `round ${round}: ${JSON.stringify(added)}`);
      assert.equal(added.connectionState, 'connected', `round ${round}: ${JSON.stringify(added)}`);
      assert.deepEqual([...added.sendersAdded].sort(), ['audio', 'video'], `round ${round}: ${JSON.stringify(added)}`);
      assert.deepEqual(added.states, ['have-local-offer', 'stable'], `round ${round}: the offer went out and our answer came back`);
      // The answer rejected both sections: their transceivers stopped (and are dropped).
      for (const m of added.media) {
        assert.ok(['stopped', 'inactive'].includes(m.currentDirection), `round ${round}: media section answered as ${m.currentDirection}: ${JSON.stringify(added.media)}`);
      }
      await transfer(browser, native, round);
      await transfer(native, browser, round + 10);
      console.log(`[renegotiation] round ${round}: ${JSON.stringify(added.media)}; 1 MB each way after it`);
    }
    assert.equal(native.consume((o) => o.event === 'peer-leave').length, 0, 'native saw the browser leave');
    assert.equal(browser.consume((o) => o.event === 'peer-leave').length, 0, 'the browser saw native leave');
  });
});
