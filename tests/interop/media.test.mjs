// Every describe runs once per browser: Debian's Chromium and Firefox ESR (over WebDriver BiDi;
// its stats have the same fields, keyFramesDecoded included).
//
// Media from a browser, on a live connection: trystero@0.22.0 in the browser adds a stream (canvas
// video and a tone) toward the native room peer, which renegotiates over @_signal and answers the
// audio and video sections recvonly (Firefox offers those of a renegotiation bundle-only, with
// port 0). The browser's connection must go back from have-local-offer to stable sending both; the
// native peer must report onPeerTrack for each track (with the stream's metadata on the first
// onPeerStream only, as the JS) and receive frames of both (VP8 with keyframes, Opus); the data
// channel must carry on (1 MB binaries both ways after each renegotiation), and neither side may
// see the other leave. Twice, so that a second renegotiation on the same connection works too.
// Loss: the native peer drops one video packet in eight on the way in (a test hook before SRTP);
// it must ask for each (RTCP NACK), the browser must resend them (its outbound-rtp nackCount and
// retransmittedPacketsSent), and no frame may be lost. Then a burst of 80 is dropped: frames are
// lost for good, and the native peer must ask for a keyframe (the browser's pliCount), which comes.
//
// The baseline for media into a browser: one browser adds the same stream toward another, which
// must report onPeerStream (with the metadata) and onPeerTrack for both kinds, decode video frames
// (keyframes among them) and audio samples with energy, and have understood the sender's RTCP
// sender reports (remote-outbound-rtp of both kinds).
//
//   tests/interop/run.sh BUILD_DIR   (INTEROP_FILES=media)
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { hostUnavailable, peerScope, strategyUnavailable } from './lib/room_peers.mjs';
import { appIdFor, relayUnavailable, startRelay } from './lib/relays.mjs';
import { patternBytes } from './peers/node_peer.mjs';
import { buildBrowserBundle } from './peers/browser_peer.mjs';

const STRATEGY = 'nostr';
const BIN_SIZE = 1_000_000;
// Glare rounds per browser (a fresh native peer and browser each). A Firefox round takes about
// 8 s and a Chromium round 4 s; GLARE_ROUNDS=20 is the stress run (20 of 20 passed with each).
const GLARE_ROUNDS = { chromium: 12, firefox: 8 };
if (process.env.GLARE_ROUNDS) for (const k of Object.keys(GLARE_ROUNDS)) GLARE_ROUNDS[k] = Number(process.env.GLARE_ROUNDS);
const uid = () => Math.random().toString(36).slice(2, 10);
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
// The browser peer's add-stream canvas (peers/node_peer.mjs): red, green, blue and white
// quadrants, as Y, U, V in the matrix each browser converts a canvas with: Firefox BT.601 studio
// range, Chromium BT.709 full range.
const KNOWN_QUADRANTS = {
  firefox: [[81, 90, 240], [145, 54, 34], [41, 240, 110], [235, 128, 128]],
  chromium: [[54, 99, 255], [182, 30, 12], [18, 255, 116], [255, 128, 128]],
};

// The relay (and the browser bundle) a describe's tests share, started when they can run here.
function sharedRelay(unavailable) {
  const shared = { unavailable, relay: null };
  before(async () => {
    if (unavailable) return;
    await buildBrowserBundle();
    shared.relay = await startRelay(STRATEGY);
  });
  after(async () => { await shared.relay?.dispose(); });
  return shared;
}

// Two peers of the given kinds in a fresh room, once each has seen the other join; null when
// the test is skipped here.
async function meetingPeers(t, { unavailable, relay }, kinds, label) {
  if (unavailable && process.env.INTEROP_REQUIRED) throw new Error(`required but unavailable: ${unavailable}`);
  if (unavailable) { t.skip(unavailable); return null; }
  const scope = peerScope(t, { strategy: STRATEGY, appId: appIdFor(STRATEGY, relay, `${label}-${uid()}`), roomId: `r-${uid()}`, relays: relay.urls });
  const [x, y] = await scope.start(kinds);
  await Promise.all([
    x.waitEvent('peer-join', 30000, (o) => o.peerId === y.selfId, `${x.label} sees ${y.label}`),
    y.waitEvent('peer-join', 30000, (o) => o.peerId === x.selfId, `${y.label} sees ${x.label}`),
  ]);
  for (const p of [x, y]) {
    const r = await p.request({ cmd: 'make-action', types: ['bin'] });
    assert.equal(r.event, 'actions', `${p.label}: ${JSON.stringify(r)}`);
  }
  return [x, y];
}

// 1 MB (or `size` bytes) on the 'bin' action from one peer to the other, byte for byte.
async function transfer(from, to, seed, size = BIN_SIZE) {
  const [sent, got] = await Promise.all([
    from.request({ cmd: 'send', type: 'bin', kind: 'binary', binary: { size, seed }, targets: [to.selfId] }, 120000),
    to.waitEvent('receive', 120000, (o) => o.type === 'bin' && o.peerId === from.selfId, `${from.label} → ${to.label} ${size} bytes`),
  ]);
  assert.equal(sent.event, 'sent', JSON.stringify(sent));
  assert.equal(got.sha256, sha256(patternBytes(size, seed)), `${from.label} → ${to.label}: bytes`);
}

// The native peer's generated picture (room_peer add-stream) as the browser shows it: red, green,
// blue and white quadrants.
const NATIVE_PICTURE_RGB = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]];

// Polls the picture `browser` shows of `peer`'s video until it has the size and the native
// quadrants (each channel within 48); fails after 20 s.
async function waitForNativePicture(browser, peer, width, height) {
  let picture;
  for (const deadline = Date.now() + 20000; ;) {
    picture = await browser.request({ cmd: 'video-picture', peerId: peer.selfId });
    const near = picture.width === width && picture.height === height && picture.quadrants.length === 4
      && picture.quadrants.every((rgb, q) => rgb.every((x, c) => Math.abs(x - NATIVE_PICTURE_RGB[q][c]) <= 48));
    if (near) return picture;
    if (Date.now() > deadline) assert.fail(`${browser.label} does not show the native ${width}x${height} picture: ${JSON.stringify(picture)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

// Polls what `receiver` (a browser) decoded of `sender`'s media until video frames (a keyframe
// among them) and audio samples with energy are decoded and the sender's RTCP sender reports of
// both kinds were understood (remote-outbound-rtp); fails after 20 s. Returns the last stats and
// the time from `sentAt` to the first poll that saw a decoded frame.
async function waitForDecodedMedia(receiver, sender, sentAt) {
  let stats;
  let firstFrameMs = null;
  const deadline = Date.now() + 20000;
  for (;;) {
    stats = await receiver.request({ cmd: 'receive-stats', peerId: sender.selfId });
    assert.equal(stats.event, 'receive-stats', JSON.stringify(stats));
    const video = stats.inbound.find((x) => x.kind === 'video');
    const audio = stats.inbound.find((x) => x.kind === 'audio');
    const reported = new Set(stats.remoteOutbound.map((x) => x.kind));
    if (firstFrameMs === null && video?.framesDecoded > 0) firstFrameMs = receiver.timeOf(stats) - sentAt;
    // Sender reports come later than the first decoded media (libwebrtc: audio's every ~5 s).
    if (video?.framesDecoded > 0 && video?.keyFramesDecoded > 0 && audio?.totalSamplesReceived > 0 && audio?.totalAudioEnergy > 0
      && reported.has('audio') && reported.has('video')) break;
    if (Date.now() > deadline) assert.fail(`${sender.label} → ${receiver.label}: not decoded and reported in 20 s: ${JSON.stringify(stats)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const video = stats.inbound.find((x) => x.kind === 'video');
  const audio = stats.inbound.find((x) => x.kind === 'audio');
  assert.ok(video.framesDecoded > 0 && video.keyFramesDecoded > 0, JSON.stringify(video));
  assert.ok(audio.totalSamplesReceived > 0 && audio.totalAudioEnergy > 0, JSON.stringify(audio));
  assert.deepEqual([...new Set(stats.remoteOutbound.map((x) => x.kind))].sort(), ['audio', 'video'],
    `sender reports of both kinds: ${JSON.stringify(stats.remoteOutbound)}`);
  const summary = `time from add-stream to first decoded frame ${firstFrameMs.toFixed(0)} ms, `
    + `frames ${video.framesDecoded} (${video.keyFramesDecoded} key, ${video.frameWidth}x${video.frameHeight}, ${video.codec}), `
    + `audio samples ${audio.totalSamplesReceived}, energy ${audio.totalAudioEnergy.toFixed(4)} (${audio.codec})`;
  return { stats, firstFrameMs, summary };
}

// Polls `browser`'s stats on what it sends to `peer` until the peer's receiver reports on both
// kinds were understood (remote-inbound-rtp with a round trip); fails after 15 s.
async function waitForReceiverReports(browser, peer) {
  const deadline = Date.now() + 15000;
  for (;;) {
    const stats = await browser.request({ cmd: 'receive-stats', peerId: peer.selfId });
    const reported = stats.remoteInbound.filter((x) => typeof x.roundTripTime === 'number');
    if (new Set(reported.map((x) => x.kind)).size === 2) return reported;
    if (Date.now() > deadline) assert.fail(`${peer.label}'s receiver reports not seen by ${browser.label} in 15 s: ${JSON.stringify(stats.remoteInbound)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

for (const BROWSER of ['chromium', 'firefox']) {
  describe(`media from a browser (${BROWSER})`, () => {
    const shared = sharedRelay(strategyUnavailable(STRATEGY) ?? hostUnavailable(BROWSER));

    test(`${BROWSER} adds a stream toward the native peer: onPeerTrack/onPeerStream with metadata, VP8 and Opus frames arrive, the data channel carries on`, { timeout: 5 * 60000 }, async (t) => {
      const peers = await meetingPeers(t, shared, ['native', BROWSER], 'reneg');
      if (!peers) return;
      const [native, browser] = peers;
      for (let round = 1; round <= 2; round++) {
        const added = await browser.request({ cmd: 'add-stream', peerId: native.selfId, meta: { round } }, 30000);
        assert.equal(added.event, 'stream-added', JSON.stringify(added));
        assert.equal(added.signalingState, 'stable', `round ${round}: ${JSON.stringify(added)}`);
        assert.equal(added.connectionState, 'connected', `round ${round}: ${JSON.stringify(added)}`);
        assert.deepEqual([...added.sendersAdded].sort(), ['audio', 'video'], `round ${round}: ${JSON.stringify(added)}`);
        assert.deepEqual(added.states, ['have-local-offer', 'stable'], `round ${round}: the offer went out and our answer came back`);
        assert.equal(added.media.length, 2 * round, `round ${round}: ${JSON.stringify(added.media)}`);
        for (const m of added.media) {
          assert.equal(m.currentDirection, 'sendonly', `round ${round}: media section answered: ${JSON.stringify(added.media)}`);
        }
        const tracks = [];
        for (let i = 0; i < 2; i++) {
          tracks.push(await native.waitEvent('peer-track', 15000, (o) => o.peerId === browser.selfId, `round ${round}: onPeerTrack ${i + 1}`));
        }
        assert.deepEqual(tracks.map((x) => x.kind).sort(), ['audio', 'video']);
        assert.deepEqual(tracks.map((x) => x.codec.toLowerCase()).sort(), ['opus', 'vp8']);
        const streams = [];
        for (let i = 0; i < 2; i++) {
          streams.push(await native.waitEvent('peer-stream', 15000, (o) => o.peerId === browser.selfId, `round ${round}: onPeerStream ${i + 1}`));
        }
        assert.deepEqual(streams.map((x) => x.meta), [{ round }, null], 'the stream metadata comes with the first onPeerStream only');
        assert.ok(streams.every((x) => x.streamId && x.streamId === tracks[0].streamId), 'both tracks in one stream');
        // Frames: wait until this round's tracks have delivered some of both kinds.
        let stats;
        const deadline = Date.now() + 20000;
        for (;;) {
          stats = await native.request({ cmd: 'media-stats' });
          const mine = stats.tracks.slice(-2);
          const video = mine.find((x) => x.kind === 'video');
          const audio = mine.find((x) => x.kind === 'audio');
          if (video?.frames >= 10 && video?.keyframes >= 1 && audio?.frames >= 50
            && video.decoded?.frames >= 5 && audio.decoded?.packets >= 20) break;
          if (Date.now() > deadline) assert.fail(`round ${round}: too few frames (decoded): ${JSON.stringify(stats.tracks)}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        // libvpx in the native peer finds the browser's picture: its four coloured quadrants.
        const { decoded: picture } = stats.tracks.slice(-2).find((x) => x.kind === 'video');
        assert.deepEqual([picture.width, picture.height], [160, 120], JSON.stringify(picture));
        picture.quadrants.forEach((yuv, q) => {
          const known = KNOWN_QUADRANTS[BROWSER][q];
          yuv.forEach((value, i) => assert.ok(Math.abs(value - known[i]) <= 24,
            `round ${round}: quadrant ${q} is ${JSON.stringify(yuv)}, not near ${JSON.stringify(known)}: ${JSON.stringify(picture)}`));
        });
        const { decoded: sound } = stats.tracks.slice(-2).find((x) => x.kind === 'audio');
        assert.ok(sound.rms > 50, `round ${round}: the tone decodes to silence: ${JSON.stringify(sound)}`);
        await transfer(browser, native, round);
        await transfer(native, browser, round + 10);
        console.log(`[media] ${BROWSER} round ${round}: tracks ${JSON.stringify(stats.tracks.slice(-2))}; 1 MB each way after it`);
      }

      // replaceTrack (a camera switch): no renegotiation; the native peer's video track of round 2
      // carries on with the new source's frames (320x240 keyframes), no onPeerTrack, nothing ends.
      const mediaStats = async () => (await native.request({ cmd: 'media-stats' })).tracks;
      const replaced = await browser.request({ cmd: 'replace-track', peerId: native.selfId }, 30000);
      assert.equal(replaced.event, 'track-replaced', JSON.stringify(replaced));
      assert.equal(replaced.signalingState, 'stable', JSON.stringify(replaced));
      let tracks;
      const roundTwoVideo = (list) => list.slice(2).find((x) => x.kind === 'video');
      for (const deadline = Date.now() + 20000; ;) {
        tracks = await mediaStats();
        if (roundTwoVideo(tracks).width === 320 && roundTwoVideo(tracks).height === 240) break;
        if (Date.now() > deadline) assert.fail(`no 320x240 keyframe after replaceTrack: ${JSON.stringify(tracks)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(native.seen((o) => o.event === 'peer-track').length, 4, 'replaceTrack made no new track');
      assert.equal(native.seen((o) => o.event === 'track-ended').length, 0, 'a track ended on replaceTrack');

      // removeStream: the browser renegotiates its round-2 sections away; those two native tracks
      // end, round 1's go on, and the data channel carries on.
      const removed = await browser.request({ cmd: 'remove-stream', peerId: native.selfId }, 30000);
      assert.equal(removed.event, 'stream-removed', JSON.stringify(removed));
      const ended = [];
      for (let i = 0; i < 2; i++) ended.push(await native.waitEvent('track-ended', 20000, (o) => o.peerId === browser.selfId, `track-ended ${i + 1}`));
      assert.deepEqual(ended.map((x) => x.kind).sort(), ['audio', 'video']);
      tracks = await mediaStats();
      assert.deepEqual(tracks.map((x) => x.ended), [false, false, true, true], JSON.stringify(tracks));
      const framesBefore = tracks[0].frames + tracks[1].frames;
      for (const deadline = Date.now() + 10000; (await mediaStats()).slice(0, 2).reduce((n, x) => n + x.frames, 0) < framesBefore + 20;) {
        if (Date.now() > deadline) assert.fail('round 1 tracks stopped after removeStream of round 2');
        await new Promise((r) => setTimeout(r, 200));
      }
      await transfer(browser, native, 21);
      await transfer(native, browser, 22);
      console.log(`[media] ${BROWSER} replaceTrack: 320x240 keyframes on the same native track; removeStream: ${ended.map((x) => x.kind).join(' and ')} ended`);
      assert.equal(native.consume((o) => o.event === 'peer-leave').length, 0, 'native saw the browser leave');
      assert.equal(browser.consume((o) => o.event === 'peer-leave').length, 0, 'the browser saw native leave');
    });

    test(`${BROWSER} resends the video packets the native peer lost (RTCP NACK): no frame is lost`, { timeout: 3 * 60000 }, async (t) => {
      const peers = await meetingPeers(t, shared, ['native', BROWSER], 'nack');
      if (!peers) return;
      const [native, browser] = peers;
      const added = await browser.request({ cmd: 'add-stream', peerId: native.selfId }, 30000);
      assert.equal(added.event, 'stream-added', JSON.stringify(added));
      const nativeVideo = async () => {
        const stats = await native.request({ cmd: 'media-stats' });
        return { stats, video: stats.tracks.find((x) => x.kind === 'video') };
      };
      // Video flows first (its start, before a packet to count from, cannot be asked for).
      let before;
      for (const deadline = Date.now() + 20000; ;) {
        before = await nativeVideo();
        if (before.video?.frames >= 10) break;
        if (Date.now() > deadline) assert.fail(`no video: ${JSON.stringify(before.stats)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      // Then one packet in eight is lost on the way in.
      const hooked = await native.request({ cmd: 'drop-incoming-rtp', peerId: browser.selfId, kind: 'video', every: 8 });
      assert.equal(hooked.event, 'dropping-incoming-rtp', JSON.stringify(hooked));
      let after;
      for (const deadline = Date.now() + 40000; ;) {
        after = await nativeVideo();
        if (after.stats.droppedIncoming >= 15 && after.video.frames >= before.video.frames + 60) break;
        if (Date.now() > deadline) assert.fail(`too few drops or frames: ${JSON.stringify(after.stats)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const sent = await browser.request({ cmd: 'receive-stats', peerId: native.selfId });
      const video = sent.outbound.find((x) => x.kind === 'video');
      assert.ok(video?.nackCount > 0, `${BROWSER} saw no NACK: ${JSON.stringify(sent.outbound)}`);
      assert.ok(video.retransmittedPacketsSent > 0, `${BROWSER} resent nothing: ${JSON.stringify(sent.outbound)}`);
      assert.equal(after.video.lost, before.video.lost,
        `frames lost although ${after.stats.droppedIncoming} dropped packets were asked for: ${JSON.stringify(after.video)}`);
      if (after.video.decoded) assert.equal(after.video.decoded.failed ?? 0, before.video.decoded?.failed ?? 0, JSON.stringify(after.video));
      console.log(`[media] ${BROWSER} NACK: ${after.stats.droppedIncoming} of its video packets dropped on the way in; `
        + `${BROWSER} got ${video.nackCount} NACKs and resent ${video.retransmittedPacketsSent} packets; `
        + `${after.video.frames - before.video.frames} frames since, ${after.video.lost - before.video.lost} lost`);

      // A burst too long to ask for packet by packet: frames are lost for good, the native peer
      // asks for a keyframe (PLI), the browser sends one, and decoding goes on from it.
      const burst = await native.request({ cmd: 'drop-incoming-rtp', peerId: browser.selfId, kind: 'video', burst: 80 });
      assert.equal(burst.event, 'dropping-incoming-rtp', JSON.stringify(burst));
      let recovered;
      let plis;
      for (const deadline = Date.now() + 40000; ;) {
        recovered = await nativeVideo();
        plis = (await browser.request({ cmd: 'receive-stats', peerId: native.selfId })).outbound.find((x) => x.kind === 'video')?.pliCount ?? 0;
        if (recovered.video.lost > after.video.lost && plis > (video.pliCount ?? 0)
          && recovered.video.keyframes > after.video.keyframes && recovered.video.frames >= after.video.frames + 20) break;
        if (Date.now() > deadline) assert.fail(`no keyframe asked for and sent after the burst (PLIs ${plis}): ${JSON.stringify(recovered.video)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      if (recovered.video.decoded) assert.ok(recovered.video.decoded.frames > (after.video.decoded?.frames ?? 0), JSON.stringify(recovered.video));
      console.log(`[media] ${BROWSER} PLI: 80 packets dropped in a row; ${recovered.video.lost - after.video.lost} frames lost, `
        + `${plis - (video.pliCount ?? 0)} PLIs, ${recovered.video.keyframes - after.video.keyframes} keyframes since`);
    });
  });

  describe(`media between browsers (${BROWSER} baseline)`, () => {
    const shared = sharedRelay(relayUnavailable(STRATEGY) ?? hostUnavailable(BROWSER));

    test(`${BROWSER} adds a stream toward ${BROWSER}: onPeerStream/onPeerTrack, video frames and audio samples decoded, sender reports understood`, { timeout: 3 * 60000 }, async (t) => {
      const peers = await meetingPeers(t, shared, [BROWSER, BROWSER], 'b2b');
      if (!peers) return;
      const [a, b] = peers;
      const sentAt = performance.now();
      const added = await a.request({ cmd: 'add-stream', peerId: b.selfId, meta: { hello: 1 } }, 30000);
      assert.equal(added.event, 'stream-added', JSON.stringify(added));
      assert.equal(added.signalingState, 'stable', JSON.stringify(added));
      assert.deepEqual([...added.sendersAdded].sort(), ['audio', 'video'], JSON.stringify(added));
      const fromA = (o) => o.peerId === a.selfId;
      const stream = await b.waitEvent('peer-stream', 15000, (o) => fromA(o) && o.meta?.hello === 1, 'onPeerStream with the metadata');
      assert.deepEqual(stream.meta, { hello: 1 });
      const tracks = [];
      for (let i = 0; i < 2; i++) tracks.push(await b.waitEvent('peer-track', 15000, fromA, `onPeerTrack ${i + 1}`));
      assert.deepEqual(tracks.map((x) => x.kind).sort(), ['audio', 'video']);
      assert.ok(tracks.every((x) => x.streamId === stream.streamId), `both tracks in the stream: ${JSON.stringify(tracks)}`);

      const { summary } = await waitForDecodedMedia(b, a, sentAt);
      assert.equal(b.consume((o) => o.event === 'track-ended').length, 0, 'a received track ended');
      console.log(`[media] ${BROWSER}→${BROWSER}: ${summary}`);
    });
  });

  // The native peer sends media: an echo bot (room_peer's echo-media) adds a stream of its own
  // toward the browser with each track the browser sends it, forwarding the browser's frames from
  // the next keyframe on (asking the browser for one when its own receiver asks). The browser must
  // decode the native peer's VP8 and Opus, with the native metadata on onPeerStream, understand
  // its sender reports, and the data channel carry on (1 MB both ways while media runs).
  describe(`media from the native peer (${BROWSER})`, () => {
    const shared = sharedRelay(strategyUnavailable(STRATEGY) ?? hostUnavailable(BROWSER));

    test(`a native echo bot sends ${BROWSER}'s stream back: ${BROWSER} decodes VP8 and Opus from it, with its metadata and sender reports`, { timeout: 3 * 60000 }, async (t) => {
      const peers = await meetingPeers(t, shared, ['native', BROWSER], 'echo');
      if (!peers) return;
      const [native, browser] = peers;
      assert.equal((await native.request({ cmd: 'echo-media' })).event, 'echoing');
      const sentAt = performance.now();
      const added = await browser.request({ cmd: 'add-stream', peerId: native.selfId, meta: { round: 1 } }, 30000);
      assert.equal(added.event, 'stream-added', JSON.stringify(added));
      const fromNative = (o) => o.peerId === native.selfId;
      const tracks = [];
      for (let i = 0; i < 2; i++) tracks.push(await browser.waitEvent('peer-track', 20000, fromNative, `onPeerTrack ${i + 1} from native`));
      assert.deepEqual(tracks.map((x) => x.kind).sort(), ['audio', 'video'], JSON.stringify(tracks));
      const streams = browser.seen((o) => o.event === 'peer-stream' && fromNative(o));
      assert.ok(streams.some((o) => o.meta?.echo), `the native metadata on onPeerStream: ${JSON.stringify(streams)}`);
      assert.ok(tracks.every((x) => x.streamId === tracks[0].streamId && x.streamId.startsWith('echo-')), JSON.stringify(tracks));

      const { stats, summary } = await waitForDecodedMedia(browser, native, sentAt);
      assert.equal(stats.connectionState, 'connected', JSON.stringify(stats));
      // The native receiver's reports on the browser's own stream: loss and a round trip.
      const receiverReports = await waitForReceiverReports(browser, native);
      assert.ok(receiverReports.every((x) => x.packetsLost === 0 && x.roundTripTime < 1), JSON.stringify(receiverReports));
      await transfer(native, browser, 7);
      await transfer(browser, native, 8);
      const echoed = await native.request({ cmd: 'media-stats' });
      assert.ok(echoed.echoes.length === 2 && echoed.echoes.every((e) => e.framesSent > 0), JSON.stringify(echoed));
      assert.equal(browser.consume((o) => o.event === 'track-ended').length, 0, 'a received track ended');
      assert.equal(browser.seen((o) => o.event === 'peer-leave').length + native.seen((o) => o.event === 'peer-leave').length, 0);
      console.log(`[media] native echo → ${BROWSER}: ${summary}; echoed frames ${echoed.echoes.map((e) => `${e.kind} ${e.framesSent}`).join(', ')}; `
        + `round trip from the native receiver reports ${receiverReports.map((x) => `${x.kind} ${(x.roundTripTime * 1000).toFixed(1)} ms`).join(', ')}`);
    });
  });

  // H.264 where the browser has it (Debian's Chromium: RTCRtpSender.getCapabilities lists H.264
  // with packetization-mode 1, profiles 42001f, 42e01f and 4d001f): the browser offers its video
  // as H.264 only; the native peer receives H.264 access units (keyframes among them) and its echo
  // bot sends them back in a section of its own, which the browser decodes.
  describe(`H.264 with the native peer (${BROWSER})`, () => {
    const shared = sharedRelay(strategyUnavailable(STRATEGY) ?? hostUnavailable(BROWSER));

    test(`${BROWSER} sends H.264, the native echo bot sends it back, ${BROWSER} decodes it`, { timeout: 3 * 60000 }, async (t) => {
      if (BROWSER !== 'chromium') { t.skip('H.264 is checked with Chromium, whose Debian build offers it'); return; }
      const peers = await meetingPeers(t, shared, ['native', BROWSER], 'h264');
      if (!peers) return;
      const [native, browser] = peers;
      assert.equal((await native.request({ cmd: 'echo-media' })).event, 'echoing');
      const sentAt = performance.now();
      const added = await browser.request({ cmd: 'add-stream', peerId: native.selfId, meta: { codec: 'h264' }, videoCodec: 'video/H264' }, 30000);
      assert.equal(added.event, 'stream-added', JSON.stringify(added));
      const video = await native.waitEvent('peer-track', 15000, (o) => o.peerId === browser.selfId && o.kind === 'video', 'onPeerTrack for the video');
      assert.equal(video.codec, 'H264', JSON.stringify(video));
      const { stats, summary } = await waitForDecodedMedia(browser, native, sentAt);
      const decoded = stats.inbound.find((x) => x.kind === 'video');
      assert.equal(decoded.codec, 'video/H264', JSON.stringify(decoded));
      // The browser may decode the echo before the native peer has counted ten access units.
      let received;
      for (const deadline = Date.now() + 20000; ;) {
        received = (await native.request({ cmd: 'media-stats' })).tracks.find((x) => x.kind === 'video');
        if (received.frames >= 10 && received.keyframes >= 1) break;
        if (Date.now() > deadline) assert.fail(`too few H.264 access units: ${JSON.stringify(received)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(received.lost, 0, JSON.stringify(received));
      await transfer(native, browser, 51);
      console.log(`[media] H.264 ${BROWSER} → native → ${BROWSER}: native received ${received.frames} access units (${received.keyframes} key); ${summary}`);
    });
  });

  // The native peer's own media (VP8 and Opus it encodes, trystero_codecs): the browser shows its
  // picture (the quadrants, read back from the <video>), decodes its sound, understands its RTCP;
  // a 16 MiB action completes while the video runs; the native replaceTrack puts a 320x240
  // picture on the same browser track (no new onPeerTrack); removeStream mutes or ends it.
  describe(`media made by the native peer (${BROWSER})`, () => {
    const shared = sharedRelay(strategyUnavailable(STRATEGY) ?? hostUnavailable(BROWSER));

    test(`the native peer adds, replaces and removes a stream of its own toward ${BROWSER}`, { timeout: 4 * 60000 }, async (t) => {
      const peers = await meetingPeers(t, shared, ['native', BROWSER], 'made');
      if (!peers) return;
      const [native, browser] = peers;
      const sentAt = performance.now();
      const added = await native.request({ cmd: 'add-stream', peerId: browser.selfId, meta: { made: 'native' } }, 30000);
      assert.equal(added.event, 'stream-added', JSON.stringify(added));
      const fromNative = (o) => o.peerId === native.selfId;
      const stream = await browser.waitEvent('peer-stream', 20000, (o) => fromNative(o) && o.meta, 'onPeerStream with the metadata');
      assert.deepEqual(stream.meta, { made: 'native' });
      assert.equal(stream.streamId, added.streamId);
      const { summary } = await waitForDecodedMedia(browser, native, sentAt);
      const picture = await waitForNativePicture(browser, native, 160, 120);
      await transfer(native, browser, 31, 16 * 1024 * 1024);
      const afterTransfer = (await browser.request({ cmd: 'receive-stats', peerId: native.selfId })).inbound.find((x) => x.kind === 'video');

      const replaced = await native.request({ cmd: 'replace-track', peerId: browser.selfId, width: 320, height: 240 });
      assert.equal(replaced.event, 'track-replaced', JSON.stringify(replaced));
      await waitForNativePicture(browser, native, 320, 240);
      assert.equal(browser.seen((o) => o.event === 'peer-track' && fromNative(o)).length, 2, 'replaceTrack made no new track');

      const removed = await native.request({ cmd: 'remove-stream', peerId: browser.selfId });
      assert.equal(removed.event, 'stream-removed', JSON.stringify(removed));
      const stopped = (o) => fromNative(o) && (o.event === 'track-muted' || o.event === 'track-ended');
      await browser.waitFor((o) => stopped(o) && o.kind === 'video', 20000, 'the video track muted or ended');
      await transfer(browser, native, 32);
      assert.equal(browser.seen((o) => o.event === 'peer-leave').length + native.seen((o) => o.event === 'peer-leave').length, 0);
      console.log(`[media] native-made → ${BROWSER}: ${summary}; shown ${JSON.stringify(picture.quadrants)}; `
        + `16 MiB action during video (frames ${afterTransfer.framesDecoded} decoded by then); replaceTrack shows 320x240`);
    });

    // addTrack / removeTrack after join, each way: the receiver gets onPeerTrack with the track's
    // metadata (@_track) and decodes the picture; removeTrack ends (native) or mutes/ends (browser)
    // the receiver's track; the data channel carries on.
    test(`addTrack and removeTrack both ways with ${BROWSER}`, { timeout: 3 * 60000 }, async (t) => {
      const peers = await meetingPeers(t, shared, ['native', BROWSER], 'tracks');
      if (!peers) return;
      const [native, browser] = peers;
      const fromNative = (o) => o.peerId === native.selfId;
      const fromBrowser = (o) => o.peerId === browser.selfId;

      const added = await browser.request({ cmd: 'add-track', peerId: native.selfId, meta: { track: 'browser' } }, 30000);
      assert.equal(added.event, 'track-added', JSON.stringify(added));
      assert.equal(added.signalingState, 'stable', JSON.stringify(added));
      assert.deepEqual(added.sendersAdded, ['video'], JSON.stringify(added));
      const track = await native.waitEvent('peer-track', 15000, fromBrowser, 'onPeerTrack for the browser\'s track');
      assert.equal(track.kind, 'video');
      assert.deepEqual(track.meta, { track: 'browser' }, 'the track metadata on onPeerTrack');
      let picture;
      for (const deadline = Date.now() + 20000; ;) {
        const [mine] = (await native.request({ cmd: 'media-stats' })).tracks;
        picture = mine?.decoded;
        if (picture?.frames >= 5) break;
        if (Date.now() > deadline) assert.fail(`the browser's track is not decoded: ${JSON.stringify(mine)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      picture.quadrants.forEach((yuv, q) => yuv.forEach((value, i) => assert.ok(Math.abs(value - KNOWN_QUADRANTS[BROWSER][q][i]) <= 24,
        `quadrant ${q} is ${JSON.stringify(yuv)}: ${JSON.stringify(picture)}`)));

      const nativeAdded = await native.request({ cmd: 'add-track', peerId: browser.selfId, meta: { track: 'native' } }, 30000);
      assert.equal(nativeAdded.event, 'track-added', JSON.stringify(nativeAdded));
      const theirs = await browser.waitEvent('peer-track', 20000, fromNative, 'onPeerTrack for the native track');
      assert.equal(theirs.kind, 'video');
      assert.deepEqual(theirs.meta, { track: 'native' }, 'the track metadata on onPeerTrack');
      assert.equal(theirs.streamId, nativeAdded.streamId);
      const shown = await waitForNativePicture(browser, native, 160, 120);

      const removed = await browser.request({ cmd: 'remove-track', peerId: native.selfId });
      assert.equal(removed.event, 'track-removed', JSON.stringify(removed));
      const ended = await native.waitEvent('track-ended', 20000, fromBrowser, 'the native track from the browser ends');
      assert.equal(ended.kind, 'video');
      const nativeRemoved = await native.request({ cmd: 'remove-track', peerId: browser.selfId });
      assert.equal(nativeRemoved.event, 'track-removed', JSON.stringify(nativeRemoved));
      await browser.waitFor((o) => fromNative(o) && (o.event === 'track-muted' || o.event === 'track-ended'), 20000, 'the browser\'s track from native muted or ended');
      await transfer(browser, native, 41);
      await transfer(native, browser, 42);
      assert.equal(browser.seen((o) => o.event === 'peer-leave').length + native.seen((o) => o.event === 'peer-leave').length, 0);
      console.log(`[media] addTrack/removeTrack with ${BROWSER}: native decoded ${picture.frames} frames of the browser's track, `
        + `${BROWSER} shows ${JSON.stringify(shown.quadrants)}; both removed tracks stopped`);
    });

    // trystero's own test: both sides addStream at the same moment, each must receive the other's
    // stream. In fresh rooms, GLARE_ROUNDS times.
    test(`glare: the native peer and ${BROWSER} add streams at the same moment, ${GLARE_ROUNDS[BROWSER]} times`, { timeout: 10 * 60000 }, async (t) => {
      if (shared.unavailable) { await meetingPeers(t, shared, [], 'glare'); return; }
      const times = [];
      for (let round = 1; round <= GLARE_ROUNDS[BROWSER]; round++) {
        const started = performance.now();
        await t.test(`round ${round}`, async (tr) => {
          const [native, browser] = await meetingPeers(tr, shared, ['native', BROWSER], `glare${round}`);
          const [a, b] = await Promise.all([
            native.request({ cmd: 'add-stream', peerId: browser.selfId, meta: { side: 'native' } }, 30000),
            browser.request({ cmd: 'add-stream', peerId: native.selfId, meta: { side: 'browser' } }, 30000),
          ]);
          assert.equal(a.event, 'stream-added', JSON.stringify(a));
          assert.equal(b.event, 'stream-added', JSON.stringify(b));
          for (const [receiver, sender] of [[native, browser], [browser, native]]) {
            const tracks = [];
            for (let i = 0; i < 2; i++) {
              tracks.push(await receiver.waitEvent('peer-track', 20000, (o) => o.peerId === sender.selfId && !tracks.includes(o),
                `round ${round}: ${receiver.label} onPeerTrack ${i + 1} (the browser's add-stream: ${JSON.stringify(b)})`));
            }
            assert.deepEqual(tracks.map((x) => x.kind).sort(), ['audio', 'video'], `round ${round}`);
          }
          // Media flows both ways on the connection both kept.
          for (const deadline = Date.now() + 20000; ;) {
            const mine = (await native.request({ cmd: 'media-stats' })).tracks;
            const theirs = (await browser.request({ cmd: 'receive-stats', peerId: native.selfId })).inbound;
            if (mine.some((x) => x.kind === 'video' && x.frames > 0) && theirs.some((x) => x.kind === 'video' && x.framesDecoded > 0)) break;
            if (Date.now() > deadline) assert.fail(`round ${round}: no video both ways: ${JSON.stringify({ mine, theirs })}`);
            await new Promise((r) => setTimeout(r, 200));
          }
          await transfer(native, browser, round);
          times.push(performance.now() - started);
        });
      }
      console.log(`[media] glare native ↔ ${BROWSER}: ${times.length} of ${GLARE_ROUNDS[BROWSER]} rounds passed, `
        + `${Math.round(times.reduce((x, y) => x + y, 0) / Math.max(times.length, 1))} ms a round`);
    });
  });
}
