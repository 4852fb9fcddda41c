// Browser side of the native WebRTC interop tests. Loaded by page/index.html;
// exposes `window.interop` for page.evaluate() calls from the Node driver.
// Protocol and byte pattern: tests/interop/PROTOCOL.md.

const CHUNK = 16384;           // bytes per binary message of a bulk stream
const HIGH_WATER = 1 << 20;    // stop queueing above this bufferedAmount
const LOW_WATER = 256 * 1024;  // bufferedAmountLowThreshold: resume below this
const GATHER_DEADLINE_MS = 5000;

// pattern(seed)[k] = (k*31 + seed) & 0xFF has period 256, so a base block of
// CHUNK + 256 bytes gives any stream window by slicing at (offset % 256).
function patternBase(seed, len) {
  const b = new Uint8Array(len + 256);
  for (let k = 0; k < b.length; k++) b[k] = (k * 31 + seed) & 0xff;
  return b;
}

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`page: timeout after ${ms} ms: ${what}`)), ms); }),
  ]);
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((a, b) => { resolve = a; reject = b; });
  return { promise, resolve, reject };
}

class Peer {
  constructor() {
    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.dc = null;
    this.t0 = null;          // performance.now() just before setRemoteDescription
    this.openAt = null;
    this.states = [];
    this.queue = [];         // received messages not yet taken by nextMessage()
    this.waiters = [];
    this.sink = null;
    this.opened = deferred();
    this.closed = deferred();
    this.pc.addEventListener('connectionstatechange', () => {
      this.states.push(this.pc.connectionState);
      console.log(`[pc] connectionState=${this.pc.connectionState}`);
    });
  }

  attach(dc) {
    this.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.onopen = () => { this.openAt = performance.now(); this.opened.resolve(); };
    dc.onclose = () => {
      this.closedAt = performance.now();
      this.closed.resolve();
      if (this.sink) this.sink.done.reject(new Error('page: channel closed during expect'));
    };
    dc.onerror = (e) => console.log(`[dc] error: ${e.error?.message ?? e}`);
    dc.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(data) {
    const binary = typeof data !== 'string';
    if (binary && this.sink) return this.sinkBytes(new Uint8Array(data));
    const msg = binary ? { binary, bytes: Array.from(new Uint8Array(data)) } : { binary, text: data };
    const w = this.waiters.shift();
    if (w) w(msg); else this.queue.push(msg);
  }

  sinkBytes(u8) {
    const s = this.sink;
    if (s.first === null) s.first = performance.now();
    const base = s.base;
    const span = base.length - 256;
    // Compare in windows of at most `span` bytes so messages of any size work.
    for (let start = 0; s.ok && start < u8.length; start += span) {
      const off = (s.count + start) % 256;
      const end = Math.min(u8.length, start + span);
      for (let j = start; j < end; j++) {
        if (u8[j] !== base[off + j - start]) { s.ok = false; s.firstBad = s.count + j; break; }
      }
    }
    s.count += u8.length;
    s.messages++;
    if (s.count >= s.size) {
      const ms = performance.now() - s.first;
      this.sink = null;
      s.done.resolve({ size: s.size, count: s.count, ok: s.ok && s.count === s.size, ms, messages: s.messages, firstBad: s.firstBad });
    }
  }

  async gathered() {
    const pc = this.pc;
    if (pc.iceGatheringState === 'complete') return;
    await new Promise((resolve) => {
      const t = setTimeout(() => { console.log('[pc] gathering deadline hit'); resolve(); }, GATHER_DEADLINE_MS);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
      });
    });
  }

  // Offerer: create the 'data' channel, offer, wait for gathering, return full SDP.
  async createOffer() {
    this.attach(this.pc.createDataChannel('data'));
    await this.pc.setLocalDescription(await this.pc.createOffer());
    await this.gathered();
    return this.pc.localDescription.sdp;
  }

  async acceptAnswer(sdp) {
    this.t0 = performance.now();
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  // Answerer: take the remote offer, answer, wait for gathering, return full SDP.
  async acceptOffer(sdp) {
    this.pc.ondatachannel = (e) => {
      if (e.channel.label !== 'data') console.log(`[pc] unexpected channel label ${e.channel.label}`);
      this.attach(e.channel);
    };
    this.t0 = performance.now();
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    await this.pc.setLocalDescription(await this.pc.createAnswer());
    await this.gathered();
    return this.pc.localDescription.sdp;
  }

  async waitOpen(ms) {
    await withTimeout(this.opened.promise, ms, 'data channel open');
    return { setupMs: this.openAt - this.t0, label: this.dc.label, readyState: this.dc.readyState, states: this.states };
  }

  nextMessage(ms) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    const d = deferred();
    this.waiters.push(d.resolve);
    return withTimeout(d.promise, ms, 'next message').catch((e) => {
      this.waiters = this.waiters.filter((w) => w !== d.resolve);
      throw e;
    });
  }

  sendText(text) { this.dc.send(text); }
  sendBinary(bytes) { this.dc.send(new Uint8Array(bytes)); }

  // One stream of `size` pattern bytes in CHUNK-byte messages, never letting
  // bufferedAmount grow past HIGH_WATER (resumes on bufferedamountlow).
  async sendPattern(size, seed, ms) {
    const dc = this.dc;
    dc.bufferedAmountLowThreshold = LOW_WATER;
    const base = patternBase(seed, CHUNK);
    const t0 = performance.now();
    let off = 0, waits = 0, maxBuffered = 0;
    const deadline = t0 + ms;
    while (off < size) {
      if (dc.readyState !== 'open') throw new Error(`page: channel ${dc.readyState} while sending at ${off}`);
      if (dc.bufferedAmount > HIGH_WATER) {
        waits++;
        await withTimeout(new Promise((resolve) => {
          dc.onbufferedamountlow = () => { dc.onbufferedamountlow = null; resolve(); };
        }), Math.max(1, deadline - performance.now()), `bufferedamountlow at offset ${off}`);
        continue;
      }
      const n = Math.min(CHUNK, size - off);
      const s = off % 256;
      dc.send(base.slice(s, s + n));
      off += n;
      if (dc.bufferedAmount > maxBuffered) maxBuffered = dc.bufferedAmount;
    }
    return { ms: performance.now() - t0, waits, maxBuffered };
  }

  // Arms sink mode; the result is collected with expectDone().
  armExpect(size, seed) {
    if (this.sink) throw new Error('page: expect already armed');
    const done = deferred();
    done.promise.catch(() => {});
    this.sink = { size, seed, base: patternBase(seed, CHUNK * 4), count: 0, messages: 0, ok: true, first: null, firstBad: null, done };
    this.pendingExpect = done.promise;
    if (size === 0) { this.sink = null; done.resolve({ size: 0, count: 0, ok: true, ms: 0, messages: 0, firstBad: null }); }
  }

  expectDone(ms) {
    return withTimeout(this.pendingExpect, ms, 'expected bytes');
  }

  close() { this.dc.close(); }

  async waitClosed(ms) {
    await withTimeout(this.closed.promise, ms, 'data channel close');
    return { readyState: this.dc.readyState };
  }

  dispose() {
    try { this.dc?.close(); } catch {}
    try { this.pc.close(); } catch {}
  }
}

window.interop = {
  peer: null,
  newPeer() { this.peer?.dispose(); this.peer = new Peer(); return true; },
};
window.interopReady = true;
