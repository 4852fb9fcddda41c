// Launches Debian's Chromium (and Firefox ESR) through playwright-core and serves test pages from a
// tiny HTTP server on 127.0.0.1. Nothing here downloads a browser.
import { chromium, firefox } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { interopDir } from './native.mjs';

export const CHROMIUM_PATH = process.env.CHROMIUM || '/usr/bin/chromium';

// Flags from shared/design/test-peers.md. The user data dir is a fresh temporary
// profile created (and removed) by playwright for every launch.
export const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Received media plays in elements nobody clicked on (room peers' receive side).
  '--autoplay-policy=no-user-gesture-required',
];

export const FIREFOX_PATH = process.env.FIREFOX || '/usr/bin/firefox-esr';

// Firefox ESR driven over WebDriver BiDi (playwright's "moz-firefox" channel: stock
// Firefox, no patched build). Without a camera/microphone permission Firefox only
// gathers the default-route address, which does not exist in a loopback-only
// namespace; granting the permissions by default lifts that, and `ice.loopback`
// lets it gather 127.0.0.1 / ::1. mDNS obfuscation is off, as in Chromium here. Received media
// plays in elements nobody clicked on (autoplay allowed, as Chromium's --autoplay-policy flag).
export const FIREFOX_PREFS = {
  'media.peerconnection.ice.loopback': true,
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  'permissions.default.microphone': 1,
  'permissions.default.camera': 1,
  'media.autoplay.default': 0,
  'network.manage-offline-status': false,
  'browser.shell.checkDefaultBrowser': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'toolkit.telemetry.enabled': false,
  'app.update.enabled': false,
};

// Browser PIDs still alive, killed if the test process exits without cleanup.
const livePids = new Set();
process.on('exit', () => {
  for (const pid of livePids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
});

const verbose = !!process.env.INTEROP_VERBOSE;

/**
 * Launches a browser as a playwright BrowserServer (so its PID is known) and
 * connects to it. kind: 'chromium' | 'firefox'.
 * Returns { browser, pid, version, close() }; close() never throws and kills the
 * recorded PID if the browser is still alive after a graceful close.
 */
export async function launchBrowser(kind = 'chromium', { extraArgs = [], timeoutMs = 60000 } = {}) {
  const type = kind === 'firefox' ? firefox : chromium;
  const opts = kind === 'firefox'
    ? { channel: 'moz-firefox', executablePath: FIREFOX_PATH, firefoxUserPrefs: FIREFOX_PREFS, args: extraArgs }
    : { executablePath: CHROMIUM_PATH, args: [...CHROMIUM_FLAGS, ...extraArgs] };
  const server = await type.launchServer({
    headless: true,
    timeout: timeoutMs,
    // No playwright signal handlers: our own cleanup decides.
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
    ...opts,
  });
  const pid = server.process()?.pid;
  if (pid) livePids.add(pid);
  let browser;
  try {
    browser = await type.connect(server.wsEndpoint(), { timeout: timeoutMs });
  } catch (e) {
    await server.kill().catch(() => {});
    if (pid) livePids.delete(pid);
    throw e;
  }
  let closing = null;
  const close = () => {
    closing ??= (async () => {
      const grace = (p, ms) => Promise.race([p.catch(() => {}), new Promise((r) => setTimeout(r, ms))]);
      await grace(browser.close(), 5000);
      await grace(server.close(), 5000);
      if (pid) {
        try { process.kill(pid, 0); process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        livePids.delete(pid);
      }
    })();
    return closing;
  };
  return { kind, browser, pid, version: browser.version(), close };
}

export const launchChromium = (o) => launchBrowser('chromium', o);
export const launchFirefox = (o) => launchBrowser('firefox', o);

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
};

/**
 * Serves files on 127.0.0.1 (ephemeral port). `mounts` maps URL prefixes to
 * directories; by default /page/ → tests/interop/page and /dist/ → tests/interop/dist
 * (bundles built later with esbuild). `/` serves page/index.html.
 * Returns { url, port, close() }.
 */
export async function startHttpServer({ mounts = { '/page/': path.join(interopDir, 'page'), '/dist/': path.join(interopDir, 'dist') } } = {}) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/favicon.ico') { res.writeHead(204).end(); return; }
    let file = null;
    if (url.pathname === '/' || url.pathname === '/index.html') file = path.join(interopDir, 'page', 'index.html');
    for (const [prefix, dir] of Object.entries(mounts)) {
      if (!file && url.pathname.startsWith(prefix)) {
        const rel = decodeURIComponent(url.pathname.slice(prefix.length));
        const p = path.resolve(dir, rel);
        if (p.startsWith(path.resolve(dir) + path.sep)) file = p;
      }
    }
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

/**
 * Opens a page at `url`, forwards its console/page errors to stderr (console
 * only with INTEROP_VERBOSE), and waits for `window.interopReady`.
 * `pageErrors` collects uncaught page exceptions.
 */
export async function openPage(browser, url, { name = 'browser', readyTimeoutMs = 20000 } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.pageErrors = [];
  page.on('console', (msg) => {
    if (verbose) process.stderr.write(`[${name} console.${msg.type()}] ${msg.text()}\n`);
  });
  page.on('pageerror', (err) => {
    page.pageErrors.push(err);
    process.stderr.write(`[${name} pageerror] ${err.message}\n`);
  });
  await page.goto(url, { timeout: readyTimeoutMs });
  await page.waitForFunction(() => window.interopReady === true, null, { timeout: readyTimeoutMs });
  return page;
}

/** Rejects after `ms` with a message naming `what`; otherwise settles like `promise`. */
export function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    Promise.resolve(promise).finally(() => clearTimeout(t)),
    new Promise((_, reject) => { t = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms); }),
  ]);
}
