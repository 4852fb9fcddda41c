#!/usr/bin/env node
// Media latency benchmark (issue 10): the time from a browser's room.addStream (trystero@0.22.0
// in Chromium: canvas video and a tone, toward one peer) to the receiver's first decoded video
// frame, with the native room_peer as the receiver (libvpx, media-stats "decoded") beside
// another Chromium as the receiver (getStats framesDecoded), in one run over one local Nostr
// relay. Each receiver is polled every 20 ms; the figure is the time from writing the
// add-stream command to the first poll answer that shows a decoded frame, so both sides include
// the sender's own set-up (its tone, its offer) alike. Fresh peers and a fresh room per run,
// kinds alternating. Medians of N runs, then one JSON line.
//
//   bench/media/run.sh [N=5] [BUILD_DIR=build]
// Needs BUILD_DIR/tests/room_peer built with trystero_codecs, npm ci --prefix tests/interop,
// /usr/bin/chromium. Every process started here is stopped by its recorded PID.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const interopDir = path.resolve(here, '..', '..', 'tests', 'interop');
const reps = Number(process.argv[2] ?? 5);
const build = path.resolve(process.argv[3] ?? 'build');
process.env.PC_PEER = path.join(build, 'tests', 'pc_peer');  // room_peer is found beside it

const { peerScope } = await import(path.join(interopDir, 'lib', 'room_peers.mjs'));
const { appIdFor, startRelay } = await import(path.join(interopDir, 'lib', 'relays.mjs'));
const { buildBrowserBundle } = await import(path.join(interopDir, 'peers', 'browser_peer.mjs'));

const uid = () => Math.random().toString(36).slice(2, 10);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// One run: a fresh receiver of `kind` and a fresh Chromium sender meet; ms to the first decoded frame.
async function once(relay, kind) {
  const cleanups = [];
  try {
    const scope = peerScope({ after: (f) => cleanups.push(f) }, {
      strategy: 'nostr', appId: appIdFor('nostr', relay, `latency-${uid()}`), roomId: `r-${uid()}`, relays: relay.urls,
    });
    const [receiver, sender] = await scope.start([kind, 'chromium']);
    await Promise.all([
      receiver.waitEvent('peer-join', 30000, (o) => o.peerId === sender.selfId, 'receiver sees sender'),
      sender.waitEvent('peer-join', 30000, (o) => o.peerId === receiver.selfId, 'sender sees receiver'),
    ]);
    const decoded = async () => {
      if (kind === 'native') {
        const { tracks } = await receiver.request({ cmd: 'media-stats' });
        return tracks.some((x) => x.kind === 'video' && x.decoded?.frames > 0);
      }
      const { inbound } = await receiver.request({ cmd: 'receive-stats', peerId: sender.selfId });
      return inbound.some((x) => x.kind === 'video' && x.framesDecoded > 0);
    };
    const start = performance.now();
    const added = sender.request({ cmd: 'add-stream', peerId: receiver.selfId }, 30000);
    for (const deadline = start + 30000; !(await decoded());) {
      if (performance.now() > deadline) throw new Error(`${kind}: nothing decoded in 30 s`);
      await sleep(20);
    }
    const ms = performance.now() - start;
    const reply = await added;
    if (reply.event !== 'stream-added') throw new Error(`add-stream: ${JSON.stringify(reply)}`);
    return ms;
  } finally {
    for (const f of cleanups) await f();
  }
}

await buildBrowserBundle();
const relay = await startRelay('nostr');
const times = { native: [], chromium: [] };
try {
  for (let i = 0; i < reps; i++) {
    for (const kind of i % 2 ? ['chromium', 'native'] : ['native', 'chromium']) {
      const ms = await once(relay, kind);
      times[kind].push(ms);
      console.error(`run ${i + 1} ${kind}: ${ms.toFixed(0)} ms`);
    }
  }
} finally {
  await relay.dispose();
}
const n = median(times.native);
const c = median(times.chromium);
console.log(`${''.padEnd(44)} ${'native'.padStart(8)} ${'chromium'.padStart(8)}   advantage`);
console.log(`${'addStream → first decoded frame, ms (median)'.padEnd(44)} ${n.toFixed(0).padStart(8)} ${c.toFixed(0).padStart(8)}   x${(c / n).toFixed(2)}`);
console.log(JSON.stringify({ runs: reps, native_ms: times.native.map(Math.round), chromium_ms: times.chromium.map(Math.round), native_median_ms: Math.round(n), chromium_median_ms: Math.round(c) }));
process.exit(0);
