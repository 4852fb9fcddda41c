#!/usr/bin/env node
// Stand-in for the native pc_peer: speaks the JSON-lines protocol of
// tests/interop/PROTOCOL.md, so the harness can be validated without the C++ program.
//
//   node tests/interop/tools/fake_native_peer.mjs --role offer|answer [--impl wrtc|chromium]
//
// --impl wrtc (default, or $FAKE_IMPL): @roamhq/wrtc (libwebrtc) in this Node process.
//   It never fires `bufferedamountlow`, so backpressure polls bufferedAmount.
// --impl chromium: a second, separate Chromium instance; the protocol runs in its page.
//
// Both use page/protocol_peer.js. Logs go to stderr; stdout carries protocol lines only.
import { createInterface } from 'node:readline';
import { ProtocolPeer } from '../page/protocol_peer.js';

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const role = arg('--role');
const impl = arg('--impl', process.env.FAKE_IMPL || 'wrtc');
if ((role !== 'offer' && role !== 'answer') || !['wrtc', 'chromium'].includes(impl)) {
  process.stderr.write('usage: fake_native_peer.mjs --role offer|answer [--impl wrtc|chromium]\n');
  process.exit(2);
}

const log = (m) => process.stderr.write(`[fake ${impl} ${role}] ${m}\n`);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

let exiting = false;
let cleanup = async () => {};
async function exit(code) {
  if (exiting) return;
  exiting = true;
  try { await cleanup(); } catch (e) { log(`cleanup: ${e.message}`); }
  process.stdout.write('', () => process.exit(code));
}
process.on('SIGTERM', () => exit(0));
process.on('SIGINT', () => exit(0));

let handle; // (msg) => void, set up below

if (impl === 'wrtc') {
  const { default: wrtc } = await import('@roamhq/wrtc');
  const peer = new ProtocolPeer({ RTCPeerConnection: wrtc.RTCPeerConnection, role, out, log, pollBuffered: true });
  peer.onQuit = () => exit(0);
  cleanup = async () => peer.dispose();
  handle = (msg) => peer.handle(msg);
  peer.start();
} else {
  const { launchChromium, startHttpServer } = await import('../lib/browser.mjs');
  const server = await startHttpServer();
  const chrome = await launchChromium();
  cleanup = async () => { await chrome.close(); await server.close(); };
  const page = await (await chrome.browser.newContext()).newPage();
  page.on('pageerror', (e) => out({ event: 'error', message: `fake page error: ${e.message}` }));
  page.on('console', (m) => log(`console: ${m.text()}`));
  await page.exposeFunction('emitLine', (obj) => out(obj));
  await page.exposeFunction('emitLog', (m) => log(m));
  await page.exposeFunction('emitQuit', () => exit(0));
  await page.goto(server.url);
  await page.evaluate(async (role) => {
    const { ProtocolPeer } = await import('/page/protocol_peer.js');
    const peer = new ProtocolPeer({ RTCPeerConnection, role, out: (o) => window.emitLine(o), log: (m) => window.emitLog(m) });
    peer.onQuit = () => window.emitQuit();
    window.fakePeer = peer;
    peer.start();
  }, role);
  // evaluate() calls are delivered in order; handle() itself is not awaited, so a
  // long send-bytes does not block later commands (same as the wrtc variant).
  handle = (msg) => page.evaluate((m) => { window.fakePeer.handle(m); }, msg)
    .catch((e) => { if (!exiting) out({ event: 'error', message: `fake: ${e.message}` }); });
}

createInterface({ input: process.stdin })
  .on('line', (line) => {
    if (!line.trim()) return;
    let msg;
    try { msg = JSON.parse(line); } catch { out({ event: 'error', message: `stdin line is not JSON: ${line.slice(0, 200)}` }); return; }
    handle(msg);
  })
  .on('close', () => exit(0));
