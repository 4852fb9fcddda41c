// The pc_peer JSON-lines protocol (tests/interop/PROTOCOL.md) implemented on top of
// any W3C RTCPeerConnection. Environment-neutral ES module: used by
// tools/fake_native_peer.mjs both in Node (@roamhq/wrtc) and inside a Chromium page.
//
//   const peer = new ProtocolPeer({ RTCPeerConnection, role, out, log });
//   peer.start();                 // offer role: prints the offer when gathered
//   await peer.handle(jsonObject) // for every stdin line
//   peer.onQuit = () => ...       // called on {"cmd":"quit"}

export const CHUNK = 16384;
export const HIGH_WATER = 1 << 20;
export const LOW_WATER = 256 * 1024;
const GATHER_DEADLINE_MS = 5000;
const SMALL = 1024;
const utf8 = new TextEncoder();

export function patternBase(seed, len) {
  const b = new Uint8Array(len + 256);
  for (let k = 0; k < b.length; k++) b[k] = (k * 31 + seed) & 0xff;
  return b;
}

export class ProtocolPeer {
  /**
   * @param {object} o
   * @param {typeof RTCPeerConnection} o.RTCPeerConnection
   * @param {'offer'|'answer'} o.role
   * @param {(obj: object) => void} o.out   writes one stdout line
   * @param {(msg: string) => void} [o.log] stderr
   * @param {boolean} [o.pollBuffered] poll bufferedAmount instead of relying on
   *        `bufferedamountlow` (needed with @roamhq/wrtc, which never fires it)
   */
  constructor({ RTCPeerConnection, role, out, log = () => {}, pollBuffered = false }) {
    this.role = role;
    this.out = out;
    this.log = log;
    this.pollBuffered = pollBuffered;
    this.pc = new RTCPeerConnection({ iceServers: [] });
    this.dc = null;
    this.sink = null;
    this.opened = false;
    this.closedPrinted = false;
    this.lastState = null;
    this.onQuit = () => {};
    this.pc.onconnectionstatechange = () => this.state(this.pc.connectionState);
    // Stacks without connectionState: map ICE states.
    this.pc.oniceconnectionstatechange = () => {
      if (this.pc.connectionState !== undefined) return;
      const map = { checking: 'connecting', connected: 'connected', completed: 'connected', failed: 'failed', disconnected: 'disconnected', closed: 'closed' };
      this.state(map[this.pc.iceConnectionState]);
    };
  }

  state(s) {
    if (s && s !== this.lastState) { this.lastState = s; this.out({ event: 'state', state: s }); }
  }

  error(message) {
    this.log(`error: ${message}`);
    this.out({ event: 'error', message: String(message) });
  }

  attach(dc) {
    this.dc = dc;
    dc.binaryType = 'arraybuffer';
    dc.onopen = () => {
      if (!this.opened) { this.opened = true; this.out({ event: 'open' }); }
    };
    dc.onclose = () => {
      if (!this.closedPrinted) { this.closedPrinted = true; this.out({ event: 'close' }); }
    };
    dc.onerror = (e) => this.log(`channel error: ${e?.error?.message ?? e}`);
    dc.onmessage = (e) => this.onMessage(e.data);
    if (dc.readyState === 'open') dc.onopen();
  }

  onMessage(data) {
    const binary = typeof data !== 'string';
    const u8 = binary ? new Uint8Array(data) : null;
    const size = binary ? u8.length : utf8.encode(data).length;
    if (size < SMALL) this.out({ event: 'message', binary, size });
    if (binary && this.sink) return this.sinkBytes(u8);
    try {
      this.dc.send(binary ? u8 : data);
    } catch (e) {
      this.error(`echo failed: ${e.message}`);
    }
  }

  sinkBytes(u8) {
    const s = this.sink;
    if (s.first === null) s.first = performance.now();
    const span = s.base.length - 256;
    for (let start = 0; s.ok && start < u8.length; start += span) {
      const off = (s.count + start) % 256;
      const end = Math.min(u8.length, start + span);
      for (let j = start; j < end; j++) {
        if (u8[j] !== s.base[off + j - start]) { s.ok = false; this.log(`mismatch at byte ${s.count + j}`); break; }
      }
    }
    s.count += u8.length;
    if (s.count >= s.size) {
      this.sink = null;
      this.out({ event: 'received', size: s.size, ok: s.ok && s.count === s.size, ms: +(performance.now() - s.first).toFixed(3) });
    }
  }

  async drain() {
    const dc = this.dc;
    if (this.pollBuffered) {
      while (dc.readyState === 'open' && dc.bufferedAmount > LOW_WATER) await new Promise((r) => setTimeout(r, 1));
      return;
    }
    await new Promise((resolve) => {
      dc.onbufferedamountlow = () => { dc.onbufferedamountlow = null; resolve(); };
      dc.addEventListener('close', resolve, { once: true });
    });
  }

  async sendBytes(size, seed) {
    const dc = this.dc;
    dc.bufferedAmountLowThreshold = LOW_WATER;
    const base = patternBase(seed, CHUNK);
    let off = 0;
    while (off < size) {
      if (!dc || dc.readyState !== 'open') throw new Error(`channel ${dc?.readyState} while sending at ${off}`);
      if (dc.bufferedAmount > HIGH_WATER) { await this.drain(); continue; }
      const n = Math.min(CHUNK, size - off);
      const s = off % 256;
      dc.send(base.slice(s, s + n));
      off += n;
    }
    this.out({ event: 'sent', size });
  }

  gathered() {
    const pc = this.pc;
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.log('gathering deadline hit'); resolve(); }, GATHER_DEADLINE_MS);
      const done = () => { clearTimeout(t); resolve(); };
      pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === 'complete') done(); };
      pc.onicecandidate = (e) => { if (!e.candidate) done(); };
    });
  }

  async start() {
    if (this.role !== 'offer') return;
    this.attach(this.pc.createDataChannel('data'));
    try {
      await this.pc.setLocalDescription(await this.pc.createOffer());
      await this.gathered();
      this.out({ type: 'offer', sdp: this.pc.localDescription.sdp });
    } catch (e) {
      this.error(`offer failed: ${e.message}`);
    }
  }

  async handle(msg) {
    try {
      await this.#handle(msg);
    } catch (e) {
      this.error(e.message);
    }
  }

  async #handle(msg) {
    if (msg.type === 'answer' && this.role === 'offer') {
      await this.pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
      return;
    }
    if (msg.type === 'offer' && this.role === 'answer') {
      this.pc.ondatachannel = (e) => {
        if (e.channel.label !== 'data') this.log(`unexpected channel label ${e.channel.label}`);
        this.attach(e.channel);
      };
      await this.pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      await this.gathered();
      this.out({ type: 'answer', sdp: this.pc.localDescription.sdp });
      return;
    }
    switch (msg.cmd) {
      case 'send-bytes':
        await this.sendBytes(msg.size, msg.seed);
        return;
      case 'expect-bytes':
        if (this.sink) throw new Error('expect-bytes already active');
        if (msg.size === 0) { this.out({ event: 'received', size: 0, ok: true, ms: 0 }); return; }
        this.sink = { size: msg.size, base: patternBase(msg.seed, CHUNK * 4), count: 0, ok: true, first: null };
        this.out({ event: 'expecting', size: msg.size });
        return;
      case 'close':
        if (!this.dc) throw new Error('no data channel to close');
        this.dc.close();
        return;
      case 'quit':
        this.dispose();
        this.onQuit();
        return;
      default:
        throw new Error(`unknown message: ${JSON.stringify(msg).slice(0, 200)}`);
    }
  }

  dispose() {
    try { this.dc?.close(); } catch { /* ignore */ }
    try { this.pc.close(); } catch { /* ignore */ }
  }
}
