// Shared body of rtc_<browser>.test.mjs: the native WebRTC transport (pc_peer, see
// ../PROTOCOL.md) against a real browser, both roles.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { NativePeer, nativeCommand } from './native.mjs';
import { launchBrowser, startHttpServer, openPage, withTimeout } from './browser.mjs';

const BULK = Number(process.env.INTEROP_BULK_BYTES || 8 * 1024 * 1024);
const STEP_MS = 30000;          // any single step (signalling, open, one bulk transfer, close)
const TEST_MS = 120000;         // a whole test, cleanup included
const CHUNK = 16384;
const HIGH_WATER = 1 << 20;     // must match page/rtc_page.js

const mbps = (bytes, ms) => (ms > 0 ? bytes / 1e6 / (ms / 1000) : Infinity);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts an HTTP server, the browser, a page and the native peer; connects them
 * with the native side in `nativeRole`; runs `body(session)`; always cleans up
 * (browser closed and its PID killed if needed, native peer killed by PID).
 */
async function withSession(cfg, nativeRole, body) {
  const s = { kind: cfg.browser, nativeRole, browserRole: nativeRole === 'offer' ? 'answer' : 'offer' };
  try {
    s.server = await startHttpServer();
    s.browser = await launchBrowser(cfg.browser);
    s.page = await openPage(s.browser.browser, s.server.url, { name: cfg.browser });
    s.native = new NativePeer({ role: nativeRole, command: cfg.command });
    s.eval = (fn, arg, what = 'page.evaluate') => withTimeout(s.page.evaluate(fn, arg), STEP_MS + 5000, what);
    await s.eval(() => window.interop.newPeer());
    await connect(s);
    await body(s);
    assert.deepEqual(s.page.pageErrors.map((e) => e.message), [], 'uncaught page errors');
    assert.deepEqual(s.native.errors, [], 'native error events');
  } finally {
    await Promise.allSettled([
      s.native?.stop(),
      s.browser?.close(),
      s.server?.close(),
    ]);
  }
}

async function connect(s) {
  const { native } = s;
  // Native setup figure, on the driver's clock: offer role, from writing the answer
  // to pc_peer until its `open` line; answer role, from reading its `answer` line
  // (remote offer applied, gathering done) until its `open` line.
  let tNativeRef;
  if (s.nativeRole === 'offer') {
    const offer = await native.waitFor({ type: 'offer' }, STEP_MS, 'native offer');
    assert.equal(typeof offer.sdp, 'string');
    assert.match(offer.sdp, /^v=0\r\n/);
    assert.match(offer.sdp, /a=candidate:/, 'offer must contain candidates (non-trickle)');
    assert.match(offer.sdp, /webrtc-datachannel/);
    const answer = await s.eval((sdp) => window.interop.peer.acceptOffer(sdp), offer.sdp, 'browser acceptOffer');
    tNativeRef = performance.now();
    native.send({ type: 'answer', sdp: answer });
  } else {
    const offer = await s.eval(() => window.interop.peer.createOffer(), undefined, 'browser createOffer');
    native.send({ type: 'offer', sdp: offer });
    const answer = await native.waitFor({ type: 'answer' }, STEP_MS, 'native answer');
    tNativeRef = native.timeOf(answer);
    assert.match(answer.sdp, /^v=0\r\n/);
    assert.match(answer.sdp, /a=candidate:/, 'answer must contain candidates (non-trickle)');
    assert.match(answer.sdp, /webrtc-datachannel/);
    await s.eval((sdp) => window.interop.peer.acceptAnswer(sdp), answer.sdp, 'browser acceptAnswer');
  }
  const [nativeOpen, browserOpen] = await Promise.all([
    native.waitEvent('open', STEP_MS),
    s.eval((ms) => window.interop.peer.waitOpen(ms), STEP_MS, 'browser open'),
  ]);
  const nativeOpenMs = native.timeOf(nativeOpen) - tNativeRef;
  await native.waitFor({ event: 'state', state: 'connected' }, STEP_MS, 'native state connected');
  assert.equal(browserOpen.label, 'data');
  s.setup = { browserMs: browserOpen.setupMs, nativeMs: nativeOpenMs };
  console.log(`[${label(s)}] open: browser ${browserOpen.setupMs.toFixed(1)} ms after its setRemoteDescription; native ` +
    `${nativeOpenMs.toFixed(1)} ms after ${s.nativeRole === 'offer' ? 'its answer was written' : 'its answer was read'} (driver clock)`);
}

const label = (s) => `native ${s.nativeRole}s / ${s.kind} ${s.browserRole}s`;

async function echo(s, kind, payload) {
  const { native } = s;
  const before = native.lines.length;
  const got = await s.eval(async ([kind, payload, ms]) => {
    const p = window.interop.peer;
    if (kind === 'text') p.sendText(payload); else p.sendBinary(payload);
    return p.nextMessage(ms);
  }, [kind, payload, STEP_MS], `echo ${kind}`);
  if (kind === 'text') {
    assert.equal(got.binary, false, 'string echoed as string');
    assert.equal(got.text, payload);
  } else {
    assert.equal(got.binary, true, 'binary echoed as binary');
    assert.deepEqual(got.bytes, payload);
  }
  const size = kind === 'text' ? Buffer.byteLength(payload, 'utf8') : payload.length;
  if (size < 1024) {
    const ev = await native.waitEvent('message', STEP_MS, (o) => o.size === size);
    assert.equal(ev.binary, kind !== 'text');
  } else {
    await sleep(50);
    const small = native.lines.slice(before).filter((o) => o.event === 'message' && o.size === size);
    assert.equal(small.length, 0, 'no message event for messages >= 1 KiB');
  }
}

async function browserToNative(s, size, seed) {
  const { native } = s;
  native.send({ cmd: 'expect-bytes', size, seed });
  await native.waitEvent('expecting', STEP_MS); // sink mode is on: the browser may send
  const t0 = performance.now();
  const sent = await s.eval(([size, seed, ms]) => window.interop.peer.sendPattern(size, seed, ms), [size, seed, STEP_MS], 'browser sendPattern');
  const got = await native.waitEvent('received', STEP_MS);
  const wall = native.timeOf(got) - t0;
  assert.equal(got.size, size);
  assert.equal(got.ok, true, 'native verified the byte pattern');
  assert.ok(sent.maxBuffered <= HIGH_WATER + CHUNK, `browser respected backpressure (max bufferedAmount ${sent.maxBuffered})`);
  const row = { dir: 'browser->native', role: s.nativeRole, bytes: size, receiverMs: got.ms, mbps: mbps(size, got.ms), wallMs: wall, wallMbps: mbps(size, wall), lowWaits: sent.waits };
  console.log(`[${label(s)}] ${size} B browser->native: ${row.mbps.toFixed(1)} MB/s (native receive ${got.ms.toFixed(0)} ms; ` +
    `end-to-end ${wall.toFixed(0)} ms = ${row.wallMbps.toFixed(1)} MB/s; ${sent.waits} bufferedamountlow waits)`);
  return row;
}

async function nativeToBrowser(s, size, seed) {
  const { native } = s;
  await s.eval(([size, seed]) => window.interop.peer.armExpect(size, seed), [size, seed], 'browser armExpect');
  const t0 = performance.now();
  native.send({ cmd: 'send-bytes', size, seed });
  const got = await s.eval((ms) => window.interop.peer.expectDone(ms), STEP_MS, 'browser expectDone');
  const wall = performance.now() - t0;
  const sent = await native.waitEvent('sent', STEP_MS);
  assert.equal(sent.size, size);
  assert.equal(got.count, size, 'browser received exactly the stream');
  assert.equal(got.firstBad, null, `first mismatching byte at ${got.firstBad}`);
  assert.equal(got.ok, true, 'browser verified the byte pattern');
  const row = { dir: 'native->browser', role: s.nativeRole, bytes: size, receiverMs: got.ms, mbps: mbps(size, got.ms), wallMs: wall, wallMbps: mbps(size, wall), messages: got.messages };
  console.log(`[${label(s)}] ${size} B native->browser: ${row.mbps.toFixed(1)} MB/s (browser receive ${got.ms.toFixed(0)} ms in ${got.messages} messages; ` +
    `end-to-end ${wall.toFixed(0)} ms = ${row.wallMbps.toFixed(1)} MB/s)`);
  return row;
}

/**
 * Defines the suite for one browser.
 * @param {object} cfg
 * @param {'chromium'|'firefox'} cfg.browser
 */
export function defineRtcSuite(cfg) {
  cfg = { command: nativeCommand(), ...cfg };
  const results = [];
  const record = (row) => {
    results.push(row);
    if (process.env.INTEROP_RESULTS) {
      fs.appendFileSync(process.env.INTEROP_RESULTS, JSON.stringify({ suite: `rtc_${cfg.browser}`, peer: cfg.command.join(' '), ...row }) + '\n');
    }
  };

  for (const nativeRole of ['offer', 'answer']) {
    const browserRole = nativeRole === 'offer' ? 'answer' : 'offer';
    describe(`native ${nativeRole}s, ${cfg.browser} ${browserRole}s`, () => {
      test(`open, echo, ${BULK} B each way, browser closes`, { timeout: TEST_MS }, async () => {
        await withSession(cfg, nativeRole, async (s) => {
          await echo(s, 'text', `hello from ${cfg.browser}`);
          await echo(s, 'text', 'unicode ✓ – ü 🙂');
          await echo(s, 'binary', Array.from({ length: 100 }, (_, i) => ((i * 7) ^ 0x5a) & 0xff));
          await echo(s, 'binary', Array.from({ length: 1 }, () => 0));
          await echo(s, 'binary', Array.from({ length: 65536 }, (_, i) => (i * 13 + 1) & 0xff));
          const up = await browserToNative(s, BULK, 7);
          await echo(s, 'text', 'echo again after expect-bytes');
          const down = await nativeToBrowser(s, BULK, 11);
          await echo(s, 'binary', [1, 2, 3]);
          record({ role: nativeRole, setupBrowserMs: s.setup.browserMs, setupNativeMs: s.setup.nativeMs, upMbps: up.mbps, downMbps: down.mbps });

          // Browser closes: native must report close, and the browser's own onclose fires.
          await s.eval(() => window.interop.peer.close());
          await s.native.waitEvent('close', STEP_MS);
          await s.eval((ms) => window.interop.peer.waitClosed(ms), STEP_MS, 'browser onclose');
        });
      });

      test('native closes, browser channel fires onclose', { timeout: TEST_MS }, async () => {
        await withSession(cfg, nativeRole, async (s) => {
          await echo(s, 'text', 'ping before close');
          const t0 = performance.now();
          s.native.send({ cmd: 'close' });
          const closed = await s.eval((ms) => window.interop.peer.waitClosed(ms), STEP_MS, 'browser onclose');
          assert.equal(closed.readyState, 'closed');
          console.log(`[${label(s)}] native close -> browser onclose in ${(performance.now() - t0).toFixed(1)} ms`);
          await s.native.waitEvent('close', STEP_MS);
        });
      });
    });
  }

  after(() => {
    if (!results.length) return;
    console.log(`native peer: ${cfg.command.join(' ')}; browser: ${cfg.browser}`);
    for (const r of results) {
      console.log(`summary ${cfg.browser} native=${r.role}: setup browser ${r.setupBrowserMs.toFixed(1)} ms / native ${r.setupNativeMs.toFixed(1)} ms; ` +
        `browser->native ${r.upMbps.toFixed(1)} MB/s; native->browser ${r.downMbps.toFixed(1)} MB/s`);
    }
  });
}
