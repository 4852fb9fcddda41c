#!/usr/bin/env node
// A room peer running real trystero@0.22.0 in Debian's Chromium (or Firefox ESR with
// --browser firefox), speaking tests/interop/ROOM_PROTOCOL.md on this process's stdin/stdout: the
// same arguments and lines as node_peer.mjs and room_peer, so one test body drives all three.
//
//   node tests/interop/peers/browser_peer.mjs [--browser chromium|firefox] --strategy S \
//        --app-id A --room R [--password P] --relay URL [--relay URL...] [--defer-join]
//
// It bundles trystero (browser_peer.page.mjs + node_peer.mjs's RoomProtocolPeer) with esbuild
// into tests/interop/dist/ when the bundle is missing or stale, serves it on 127.0.0.1, launches
// the browser through playwright-core (lib/browser.mjs: /usr/bin/chromium, or /usr/bin/firefox-esr
// over WebDriver BiDi; PID recorded, killed by PID on exit) and bridges the lines: commands go in
// with page.evaluate, events come out through page.exposeFunction. Its first line is
// {"event":"pids","pids":[<browser pid>]} so a harness can kill the browser by PID too if this
// process dies without cleaning up.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const interopDir = path.resolve(here, '..');
export const distDir = path.join(interopDir, 'dist');
export const bundlePath = path.join(distDir, 'browser_peer.bundle.js');
const bundleInputs = [
  path.join(here, 'browser_peer.page.mjs'),
  path.join(here, 'node_peer.mjs'),
  path.join(interopDir, 'node_modules', 'trystero', 'package.json'),
  fileURLToPath(import.meta.url),
];

/** Builds dist/browser_peer.bundle.js unless it is newer than its inputs. Returns its path. */
export async function buildBrowserBundle({ force = false } = {}) {
  const newest = Math.max(...bundleInputs.map((f) => fs.statSync(f).mtimeMs));
  if (!force && fs.existsSync(bundlePath) && fs.statSync(bundlePath).mtimeMs >= newest) return bundlePath;
  const esbuild = await import('esbuild');
  fs.mkdirSync(distDir, { recursive: true });
  // Build to a private name and rename: peers starting concurrently never see half a file.
  const tmp = `${bundlePath}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: [path.join(here, 'browser_peer.page.mjs')],
    outfile: tmp,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome110',
    // node_peer.mjs's Node program imports these lazily; the page never runs it.
    external: ['node:*', 'ws', '@roamhq/wrtc'],
    define: { global: 'globalThis' },
    logLevel: 'error',
    absWorkingDir: interopDir,
  });
  fs.renameSync(tmp, bundlePath);
  return bundlePath;
}

async function main() {
  const { createInterface } = await import('node:readline');
  const { parseArgs } = await import('./node_peer.mjs');
  const { launchBrowser, startHttpServer, openPage } = await import('../lib/browser.mjs');
  const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  const log = (m) => process.stderr.write(`[browser_peer] ${m}\n`);

  let args;
  try {
    const argv = process.argv.slice(2);
    const at = argv.indexOf('--browser');
    const browserKind = at >= 0 ? argv.splice(at, 2)[1] : 'chromium';
    if (!['chromium', 'firefox'].includes(browserKind)) throw new Error(`--browser ${browserKind}: chromium or firefox`);
    args = { ...parseArgs(argv), browser: browserKind };
  } catch (e) {
    log(e.message);
    process.exit(2);
  }

  let launched = null;
  let server = null;
  let quitting = false;
  const quit = async (code = 0) => {
    if (quitting) return;
    quitting = true;
    try { await launched?.close(); } catch (e) { log(`closing ${args?.browser}: ${e.message}`); }
    try { await server?.close(); } catch { /* gone */ }
    out({ event: 'bye' });
    process.stdout.write('', () => process.exit(code));
  };
  process.on('SIGTERM', () => quit(0));
  process.on('SIGINT', () => quit(0));

  // Commands that arrive before the page is up wait here, in order.
  const queue = [];
  let deliver = (msg) => queue.push(msg);
  createInterface({ input: process.stdin })
    .on('line', (line) => {
      if (!line.trim()) return;
      let msg;
      try { msg = JSON.parse(line); } catch { out({ event: 'error', message: `stdin line is not JSON: ${line.slice(0, 200)}` }); return; }
      if (msg.cmd === 'quit') { quit(0); return; }
      deliver(msg);
    })
    .on('close', () => quit(0));

  try {
    await buildBrowserBundle();
    server = await startHttpServer({ mounts: { '/dist/': distDir, '/peers/': here } });
    launched = await launchBrowser(args.browser);
    out({ event: 'pids', pids: [launched.pid] });
    const context = await launched.browser.newContext();
    await context.exposeFunction('emitLine', (obj) => { if (!quitting) out(obj); });
    await context.exposeFunction('emitQuit', () => quit(0));
    // openPage forwards console output (INTEROP_VERBOSE) and page errors to stderr.
    const page = await openPage({ newContext: async () => context }, `${server.url}peers/browser_peer.html`, { name: `${args.browser} ${args.strategy}` });
    await page.evaluate((a) => window.startRoomPeer(a), args);
    // evaluate() calls reach the page in order; handle() does not wait for sends to finish.
    deliver = (msg) => page.evaluate((m) => { window.roomPeer.handle(m); }, msg)
      .catch((e) => { if (!quitting) out({ event: 'error', message: `browser_peer: ${e.message}` }); });
    queue.splice(0).forEach(deliver);
  } catch (e) {
    out({ event: 'error', message: `browser_peer start failed: ${e.message}` });
    await quit(1);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
