#!/usr/bin/env node
// A room peer on real trystero@0.22.0, speaking tests/interop/ROOM_PROTOCOL.md (JSON lines).
//
//   node tests/interop/peers/node_peer.mjs --strategy nostr|mqtt|torrent|supabase --app-id A --room R \
//        [--password P] --relay URL [--relay URL...] [--supabase-key K] [--defer-join]
//   (supabase: --app-id is the project URL, e.g. the local server's http://127.0.0.1:PORT)
//
// This file has two parts:
//  - RoomProtocolPeer: the protocol on any trystero joinRoom (no Node API used), shared with the
//    Chromium peer (browser_peer.page.mjs bundles it);
//  - main(), when run as a program: trystero in Node with @roamhq/wrtc as rtcPolyfill, wrapped
//    for the two gaps of test-peers.md (argument-less setLocalDescription(), and a
//    `bufferedamountlow` that wrtc never fires, emulated by polling bufferedAmount), and `ws`
//    as the global WebSocket (Node 20 has none).
// stdout carries protocol lines only; console output and diagnostics go to stderr.

/** The byte pattern of binary sends: byte i = (i * 31 + seed) & 0xff. */
export function patternBytes(size, seed = 0) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

const TypedArray = Object.getPrototypeOf(Uint8Array);
const now = () => performance.now();
// Wall-clock ms since the Unix epoch (fractional): comparable across the processes of one
// machine, so a sender's start and a receiver's end can be subtracted (benchmark commands).
const epochMs = () => performance.timeOrigin + performance.now();

export class RoomProtocolPeer {
  /**
   * @param {object} o
   * @param {string} o.impl                  'node' | 'chromium' | 'firefox'
   * @param {string} o.strategy
   * @param {object} o.trystero             the strategy module: {joinRoom, selfId, getRelaySockets}
   * @param {object} o.config               trystero config (appId, password, relayUrls, rtcConfig, ...)
   * @param {string} o.roomId
   * @param {(obj: object) => void} o.out   writes one protocol line
   * @param {() => void} [o.onQuit]
   */
  constructor({ impl, strategy, trystero, config, roomId, out, onQuit = () => {}, greet = false }) {
    Object.assign(this, { impl, strategy, trystero, config, roomId, out, onQuit, greet });
    this.greetings = 0;
    this.actions = new Map();          // type -> {send, get, onProgress}
    this.receiveProgress = new Map();  // `${type}\0${peerId}` -> {count, last}
    this.expectations = new Map();     // type -> benchmark receive (expect-bulk / expect-many)
    this.joinClock = { at: null, started: 0, peers: {} };
    this.room = null;
  }

  error(message, id) {
    this.out({ event: 'error', message: String(message), ...(id !== undefined ? { id } : {}) });
  }

  /** --defer-join: prints standby; the `join` command joins later. */
  standby() {
    this.out({
      event: 'standby', selfId: this.trystero.selfId, impl: this.impl, strategy: this.strategy,
      roomId: this.roomId, appId: this.config.appId, at: epochMs(),
    });
  }

  /** Joins (again, after leave: same config and room) and prints ready. */
  start() {
    this.actions.clear();
    this.receiveProgress.clear();
    this.expectations.clear();
    // When each peer first joined, counted from the joinRoom call (join-times).
    const clock = this.joinClock = { at: epochMs(), started: now(), peers: {} };
    this.room = this.trystero.joinRoom(this.config, this.roomId, (e) =>
      this.out({ event: 'join-error', error: e.error, appId: e.appId, peerId: e.peerId, roomId: e.roomId }));
    // --greet: a "greet" action, sent to each peer from inside onPeerJoin (as trystero's own
    // tests do); deliveries print `greet`, the send's outcome `greet-sent` / `greet-failed`.
    // Which join of this process an event comes from: trystero@0.22.0 leaves a left room's
    // pending offers alive, so a left room can still meet a peer (and say so).
    const generation = this.generation = (this.generation ?? 0) + 1;
    const sendGreet = this.greet ? this.makeGreetAction(generation) : null;
    this.room.onPeerJoin((peerId) => {
      clock.peers[peerId] ??= now() - clock.started;
      this.out({ event: 'peer-join', peerId, generation });
      if (sendGreet) {
        const text = `greet ${this.trystero.selfId} #${++this.greetings}`;
        sendGreet(text, peerId).then(
          () => this.out({ event: 'greet-sent', peerId, text, generation }),
          (e) => this.out({ event: 'greet-failed', peerId, text, error: String(e?.message ?? e), generation }));
      }
    });
    this.room.onPeerLeave((peerId) => this.out({ event: 'peer-leave', peerId }));
    this.watchIncomingMedia();
    this.out({
      event: 'ready', selfId: this.trystero.selfId, impl: this.impl, strategy: this.strategy,
      roomId: this.roomId, appId: this.config.appId,
    });
  }

  handle(msg) {
    const { id } = msg;
    try {
      if (!this.room && !['join', 'quit', 'get-occupants'].includes(msg.cmd)) {
        return this.error(`not joined yet (--defer-join: send join first): ${msg.cmd}`, id);
      }
      switch (msg.cmd) {
        case 'make-action': return this.makeActions(msg.types, id);
        case 'send': return this.send(msg, id);
        case 'ping': return this.ping(msg.peerId, id);
        case 'channel-stats': return void this.channelStats(msg.peerId, id);
        case 'get-peers': return this.out({ event: 'peers', id, peers: Object.keys(this.room.getPeers()) });
        case 'get-relay-sockets': return this.out({ event: 'relay-sockets', id, sockets: this.relaySockets() });
        case 'get-occupants': return void this.occupants(id);
        case 'leave': {
          const started = now();
          this.room.leave().then(
            () => this.out({ event: 'left', id, ms: now() - started }),
            (e) => this.error(`leave failed: ${e?.message ?? e}`, id));
          return;
        }
        case 'join': return this.start();
        case 'quit': return this.onQuit();
        case 'stats': return this.out({ event: 'stats', id });  // trystero keeps no such counters
        case 'join-times': return this.out({ event: 'join-times', id, joinAt: this.joinClock.at, peers: { ...this.joinClock.peers } });
        case 'expect-bulk':
        case 'expect-many': return this.expect(msg, id);
        case 'send-bulk': return this.sendBulk(msg, id);
        case 'send-many': return this.sendMany(msg, id);
        case 'raw-send': return this.rawSend(msg, id);
        case 'add-stream': return void this.addStream(msg, id);
        case 'replace-track': return void this.replaceTrack(msg, id);
        case 'remove-stream': return void this.removeStream(msg, id);
        case 'add-track': return void this.addTrack(msg, id);
        case 'remove-track': return void this.removeTrack(msg, id);
        case 'receive-stats': return void this.receiveStats(msg.peerId, id);
        case 'video-picture': return this.videoPicture(msg.peerId, id);
        default: return this.error(`unknown command: ${msg.cmd}`, id);
      }
    } catch (e) {
      this.error(`command ${msg.cmd} failed: ${e?.message ?? e}`, id);
    }
  }

  /**
   * raw-send {peerId, chunks: [base64...], repeat?}: writes the bytes as they are on the data
   * channel to that peer (Node only), bypassing trystero; answers raw-sent.
   */
  rawSend(msg, id) {
    const pc = this.room.getPeers()[msg.peerId];
    const channel = pc && rawChannels.get(pc);
    if (!channel || channel.readyState !== 'open') return this.error(`raw-send: no open channel to ${msg.peerId}`, id);
    let sent = 0;
    for (let r = 0; r < (msg.repeat ?? 1); r++) {
      for (const b64 of msg.chunks) {
        channel.send(Uint8Array.from(Buffer.from(b64, 'base64')));
        sent++;
      }
    }
    this.out({ event: 'raw-sent', id, count: sent });
  }

  /**
   * add-stream {peerId, meta?, videoCodec?} (browsers only; videoCodec: a mimeType such as
   * 'video/H264', the only one offered for the video): a stream of a drawn canvas video track (160x120:
   * red, green, blue and white quadrants, a black square moving between them) and a tone, added with room.addStream toward peerId. Answers stream-added once
   * the renegotiation it starts has settled (the connection stable and every media transceiver
   * given a direction by the answer): {signalingState, media: [{mid, kind, currentDirection}]}.
   */
  async addStream(msg, id) {
    if (typeof document === 'undefined') return this.error('add-stream needs a browser', id);
    const pc = this.room.getPeers()[msg.peerId];
    if (!pc) return this.error(`add-stream: no peer ${msg.peerId}`, id);
    let audioTracks;
    try {
      audioTracks = await toneTracks(this.impl);
    } catch (e) {
      return this.error(`add-stream: no audio: ${e?.message ?? e}`, id);
    }
    const stream = new MediaStream([this.quadrantVideo(), ...audioTracks]);
    this.lastStream = stream;
    if (msg.videoCodec) {
      // Only that codec for the video (RTCRtpTransceiver.setCodecPreferences), set inside
      // pc.addTrack, which trystero calls after the metadata went out and before it offers.
      const codecs = RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => c.mimeType === msg.videoCodec);
      if (!codecs.length) return this.error(`add-stream: no ${msg.videoCodec} here`, id);
      const addTrack = pc.addTrack.bind(pc);
      pc.addTrack = (track, ...streams) => {
        const sender = addTrack(track, ...streams);
        if (track.kind === 'video') pc.getTransceivers().find((t) => t.sender === sender).setCodecPreferences(codecs);
        return sender;
      };
    }
    await this.addAndSettle(pc, stream.getTracks(), () => this.room.addStream(stream, msg.peerId, msg.meta ?? null), 'stream-added', msg, id);
  }

  /**
   * A canvas video track (160x120: red, green, blue and white quadrants, as the native decode
   * check expects, with a black square moving along the middle so that every frame differs).
   */
  quadrantVideo() {
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 120;
    const g = canvas.getContext('2d');
    let frame = 0;
    this.drawTimers ??= [];
    this.drawTimers.push(setInterval(() => {
      const [w, h] = [canvas.width / 2, canvas.height / 2];
      for (const [i, colour] of ['#ff0000', '#00ff00', '#0000ff', '#ffffff'].entries()) {
        g.fillStyle = colour;
        g.fillRect((i % 2) * w, Math.floor(i / 2) * h, w, h);
      }
      g.fillStyle = '#000000';
      g.fillRect((frame++ * 4) % (canvas.width - 8), h - 4, 8, 8);
    }, 100));
    return canvas.captureStream(10).getVideoTracks()[0];
  }

  /**
   * add-track {peerId, meta?} (browsers only): room.addTrack of a quadrant video track in a stream
   * of its own toward peerId; answers track-added once the renegotiation settled (as add-stream).
   */
  async addTrack(msg, id) {
    if (typeof document === 'undefined') return this.error('add-track needs a browser', id);
    const pc = this.room.getPeers()[msg.peerId];
    if (!pc) return this.error(`add-track: no peer ${msg.peerId}`, id);
    const track = this.quadrantVideo();
    this.lastTrack = track;
    const stream = new MediaStream([track]);
    await this.addAndSettle(pc, [track], () => this.room.addTrack(track, stream, msg.peerId, msg.meta ?? null), 'track-added', msg, id);
  }

  /** remove-track {peerId}: room.removeTrack of the last add-track's track. */
  removeTrack(msg, id) {
    if (!this.lastTrack) return this.error('remove-track: no track added', id);
    const pc = this.room.getPeers()[msg.peerId];
    this.room.removeTrack(this.lastTrack, msg.peerId);
    this.out({ event: 'track-removed', id, signalingState: pc?.signalingState });
  }

  // Runs add (room.addStream / addTrack of `tracks`), then waits until the renegotiation it
  // started settled, and answers `event` with what the connection says.
  async addAndSettle(pc, tracks, add, event, msg, id) {
    const states = [];
    const onState = () => states.push(pc.signalingState);
    pc.addEventListener('signalingstatechange', onState);
    const sendersAdded = [];
    try {
      await Promise.all(add());
      sendersAdded.push(...pc.getSenders().filter((s) => tracks.includes(s.track)).map((s) => s.track.kind));
    } catch (e) {
      return this.error(`${msg.cmd}: ${e?.message ?? e}`, id);
    }
    const deadline = performance.now() + (msg.timeoutMs ?? 15000);
    // Settled: our own offer was answered, or (glare) the tracks went onto the peer's sections
    // in our answer to its offer, and are sent.
    const sendingAll = () => pc.getTransceivers().filter((t) => tracks.includes(t.sender.track))
      .every((t) => t.currentDirection === 'sendrecv' || t.currentDirection === 'sendonly');
    while (performance.now() < deadline) {
      if (pc.signalingState === 'stable' && (states.includes('have-local-offer') || (states.length > 0 && sendingAll()))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    pc.removeEventListener('signalingstatechange', onState);
    // A transceiver whose section the answer rejected is stopped, and gone from the list once
    // that answer is applied.
    this.out({
      event, id, peerId: msg.peerId, sendersAdded, states,
      signalingState: pc.signalingState, connectionState: pc.connectionState,
      media: pc.getTransceivers().map((t) => ({ mid: t.mid, kind: t.receiver.track?.kind, currentDirection: t.currentDirection })),
    });
  }

  /**
   * Browsers only: reports received streams and tracks, and plays each track in an element of its
   * own (Chromium decodes video and pulls audio only into a sink; one element per track, so that
   * a stream's audio is not played twice and a track added to it later gets a sink too).
   */
  watchIncomingMedia() {
    if (typeof document === 'undefined') return;
    this.incoming ??= [];  // {peerId, track, element}: referenced while the page lives
    this.room.onPeerStream((stream, peerId, meta) => this.out({
      event: 'peer-stream', peerId, streamId: stream?.id, meta: meta ?? null,
      trackKinds: stream ? stream.getTracks().map((t) => t.kind) : [],
    }));
    this.room.onPeerTrack((track, stream, peerId, meta) => {
      this.out({ event: 'peer-track', peerId, kind: track.kind, trackId: track.id, streamId: stream?.id, meta: meta ?? null });
      const info = { peerId, kind: track.kind, trackId: track.id };
      track.addEventListener('ended', () => this.out({ event: 'track-ended', ...info }));
      track.addEventListener('mute', () => this.out({ event: 'track-muted', ...info }));
      track.addEventListener('unmute', () => this.out({ event: 'track-unmuted', ...info }));
      const element = document.createElement(track.kind === 'video' ? 'video' : 'audio');
      element.autoplay = true;
      element.muted = false;
      if (track.kind === 'video') element.playsInline = true;
      element.srcObject = new MediaStream([track]);
      document.body.append(element);
      this.incoming.push({ peerId, track, element });
      // Without --autoplay-policy=no-user-gesture-required this is refused: nothing would play.
      element.play().catch((e) => {
        if (track.readyState === 'live') this.error(`playing ${track.kind} from ${peerId}: ${e?.message ?? e}`);
      });
    });
  }

  /**
   * replace-track {peerId}: room.replaceTrack on the video of the last add-stream, with a new
   * canvas of another size (320x240), as a camera switch does; no renegotiation follows.
   */
  async replaceTrack(msg, id) {
    const old = this.lastStream?.getVideoTracks()[0];
    if (!old) return this.error('replace-track: no stream added', id);
    const canvas = document.createElement('canvas');
    canvas.width = 320;
    canvas.height = 240;
    const g = canvas.getContext('2d');
    let frame = 0;
    this.drawTimers.push(setInterval(() => {
      g.fillStyle = `hsl(${(frame++ * 25) % 360} 60% 40%)`;
      g.fillRect(0, 0, canvas.width, canvas.height);
    }, 100));
    const replacement = canvas.captureStream(10).getVideoTracks()[0];
    const pc = this.room.getPeers()[msg.peerId];
    try {
      await Promise.all(this.room.replaceTrack(old, replacement, msg.peerId, msg.meta ?? null));
    } catch (e) {
      return this.error(`replace-track: ${e?.message ?? e}`, id);
    }
    this.lastStream.removeTrack(old);
    this.lastStream.addTrack(replacement);
    this.out({ event: 'track-replaced', id, signalingState: pc?.signalingState });
  }

  /** remove-stream {peerId}: room.removeStream on the last add-stream's stream. */
  async removeStream(msg, id) {
    if (!this.lastStream) return this.error('remove-stream: no stream added', id);
    const pc = this.room.getPeers()[msg.peerId];
    this.room.removeStream(this.lastStream, msg.peerId);
    this.out({ event: 'stream-removed', id, signalingState: pc?.signalingState });
  }

  /**
   * receive-stats {peerId} (browsers only): what the WebRTC stack received and decoded from a
   * peer (inbound-rtp), what it sent (outbound-rtp: NACKs and PLIs received, packets resent),
   * and what the RTCP of both directions said (remote-outbound-rtp: the
   * sender's reports; remote-inbound-rtp: the peer's receiver reports on what we send).
   */
  /**
   * video-picture {peerId} (browsers only): what the page shows of the peer's latest video track:
   * {width, height, quadrants: [[R, G, B] × 4]}, the mean colour of each quadrant's middle half
   * (top left, top right, bottom left, bottom right) in the element's current picture.
   */
  videoPicture(peerId, id) {
    const shown = (this.incoming ?? []).filter((x) => x.peerId === peerId && x.track.kind === 'video').at(-1);
    if (!shown) return this.error(`video-picture: no video from ${peerId}`, id);
    const { element } = shown;
    const [width, height] = [element.videoWidth, element.videoHeight];
    if (!width || !height) return this.out({ event: 'video-picture', id, width, height, quadrants: [] });
    const canvas = document.createElement('canvas');
    [canvas.width, canvas.height] = [width, height];
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.drawImage(element, 0, 0);
    const [qw, qh] = [Math.floor(width / 2), Math.floor(height / 2)];
    const quadrants = [0, 1, 2, 3].map((q) => {
      const { data } = g.getImageData((q % 2) * qw + Math.floor(qw / 4), Math.floor(q / 2) * qh + Math.floor(qh / 4), Math.floor(qw / 2), Math.floor(qh / 2));
      const sum = [0, 0, 0];
      for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c];
      return sum.map((x) => Math.round(x / (data.length / 4)));
    });
    this.out({ event: 'video-picture', id, width, height, quadrants });
  }

  async receiveStats(peerId, id) {
    if (typeof document === 'undefined') return this.error('receive-stats needs a browser', id);
    const pc = this.room.getPeers()[peerId];
    if (!pc) return this.error(`receive-stats: no peer ${peerId}`, id);
    let report;
    try {
      report = await pc.getStats();
    } catch (e) {
      return this.error(`receive-stats: ${e?.message ?? e}`, id);
    }
    const inbound = [];
    const outbound = [];
    const remoteOutbound = [];
    const remoteInbound = [];
    report.forEach((r) => {
      if (r.type === 'outbound-rtp') {
        outbound.push({
          kind: r.kind, mid: r.mid, packetsSent: r.packetsSent, nackCount: r.nackCount,
          retransmittedPacketsSent: r.retransmittedPacketsSent, pliCount: r.pliCount,
        });
      } else if (r.type === 'inbound-rtp') {
        inbound.push({
          kind: r.kind, mid: r.mid, codec: report.get(r.codecId)?.mimeType,
          packetsReceived: r.packetsReceived, bytesReceived: r.bytesReceived,
          framesDecoded: r.framesDecoded, keyFramesDecoded: r.keyFramesDecoded, frameWidth: r.frameWidth, frameHeight: r.frameHeight,
          totalSamplesReceived: r.totalSamplesReceived, totalAudioEnergy: r.totalAudioEnergy, audioLevel: r.audioLevel,
          nackCount: r.nackCount, pliCount: r.pliCount, firCount: r.firCount,
        });
      } else if (r.type === 'remote-outbound-rtp') {
        remoteOutbound.push({ kind: r.kind, packetsSent: r.packetsSent, bytesSent: r.bytesSent, remoteTimestamp: r.remoteTimestamp });
      } else if (r.type === 'remote-inbound-rtp') {
        remoteInbound.push({ kind: r.kind, packetsLost: r.packetsLost, roundTripTime: r.roundTripTime });
      }
    });
    this.out({
      event: 'receive-stats', id, peerId, inbound, outbound, remoteOutbound, remoteInbound,
      signalingState: pc.signalingState, connectionState: pc.connectionState,
    });
  }

  // What the WebRTC stack says about the data channels of the connection to a peer (the
  // browser's own counters: what left each channel, whatever trystero believes).
  async channelStats(peerId, id) {
    const pc = this.room?.getPeers?.()[peerId];
    const channels = [];
    if (pc) {
      (await pc.getStats()).forEach((r) => {
        if (r.type !== 'data-channel') return;
        channels.push({
          id: r.dataChannelIdentifier, state: r.state, messagesSent: r.messagesSent, bytesSent: r.bytesSent,
          messagesReceived: r.messagesReceived, bytesReceived: r.bytesReceived,
        });
      });
    }
    this.out({ event: 'channel-stats', id, peerId, connected: !!pc, channels });
  }

  makeGreetAction(generation) {
    const [send, get] = this.room.makeAction('greet');
    get((text, peerId) => this.out({ event: 'greet', peerId, text, generation }));
    return send;
  }

  makeActions(types, id) {
    for (const type of types) {
      const [send, get, onProgress] = this.room.makeAction(type);
      onProgress((p, peerId) => {
        if (this.expectations.has(type)) return;  // benchmark receive: no bookkeeping
        const key = `${type}\0${peerId}`;
        const c = this.receiveProgress.get(key) ?? { count: 0, last: 0 };
        c.count++;
        c.last = p;
        this.receiveProgress.set(key, c);
      });
      get((data, peerId, meta) => this.onReceive(type, data, peerId, meta));
      this.actions.set(type, { send });
    }
    this.out({ event: 'actions', id, types });
  }

  onReceive(type, data, peerId, meta) {
    const expected = this.expectations.get(type);
    if (expected) return this.onExpected(expected, type, data, peerId, meta);
    const key = `${type}\0${peerId}`;
    const progress = this.receiveProgress.get(key) ?? { count: 0, last: 0 };
    this.receiveProgress.delete(key);
    this.out({ event: 'progress-summary', type, peerId, count: progress.count, last: progress.last });
    const base = { event: 'receive', type, peerId, meta: meta ?? null, progress };
    if (typeof data === 'string') {
      this.out({ ...base, kind: 'text', value: data });
    } else if (data instanceof ArrayBuffer || data instanceof TypedArray) {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      // Hash a copy: the receive event must not race later deliveries reusing the buffer.
      const copy = bytes.slice();
      sha256Hex(copy).then((sha256) => this.out({ ...base, kind: 'binary', size: copy.byteLength, sha256 }));
    } else {
      this.out({ ...base, kind: 'json', value: data });
    }
  }

  send(msg, id) {
    const action = this.actions.get(msg.type);
    if (!action) return this.error(`send: no action ${msg.type} (make-action first)`, id);
    let data;
    if (msg.kind === 'text') data = String(msg.value);
    else if (msg.kind === 'json' || msg.kind === undefined) data = msg.value;
    else if (msg.kind === 'binary') data = patternBytes(msg.binary.size, msg.binary.seed ?? 0);
    else return this.error(`send: unknown kind ${msg.kind}`, id);
    const targets = msg.targets ?? null;
    const meta = msg.meta ?? undefined;
    const byPeer = {};
    const started = now();
    let promise;
    try {
      promise = action.send(data, targets, meta, (p, peerId) => {
        const c = (byPeer[peerId] ??= { count: 0, last: 0 });
        c.count++;
        c.last = p;
      });
    } catch (e) {
      promise = Promise.reject(e);
    }
    Promise.resolve(promise).then(
      () => this.out({ event: 'sent', id, type: msg.type, ms: now() - started, progress: byPeer }),
      (e) => this.out({ event: 'send-failed', id, type: msg.type, ms: now() - started, error: String(e?.message ?? e), progress: byPeer }));
  }

  // ---- benchmark commands (bench/rooms): data generated here, receipts summarised in one line

  expect(msg, id) {
    const many = msg.cmd === 'expect-many';
    this.expectations.set(msg.type, {
      id, many, count: many ? Number(msg.count) : 1, received: 0, outOfOrder: 0, bad: 0, firstAt: null, peerId: null,
    });
    this.out({ event: 'expecting', id, type: msg.type });
  }

  onExpected(x, type, data, peerId, meta) {
    if (x.many) {
      const last = x.received + 1 >= x.count;
      if (x.received === 0) { x.firstAt = epochMs(); x.peerId = peerId; }
      if (data === null || typeof data !== 'object' || !Number.isInteger(data.i)) x.bad++;
      else if (data.i !== x.received) x.outOfOrder++;
      x.received++;
      if (!last) return;
      const lastAt = epochMs();
      this.expectations.delete(type);
      this.out({
        event: 'received-many', id: x.id, type, peerId: x.peerId, count: x.received,
        outOfOrder: x.outOfOrder, bad: x.bad, firstAt: x.firstAt, lastAt,
      });
      return;
    }
    const at = epochMs();
    this.expectations.delete(type);
    const base = { event: 'received-bulk', id: x.id, type, peerId, meta: meta ?? null, at };
    if (data instanceof ArrayBuffer || data instanceof TypedArray) {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      const hashStarted = now();
      sha256Hex(bytes).then((sha256) => this.out({ ...base, kind: 'binary', size: bytes.byteLength, sha256, hashMs: now() - hashStarted }));
    } else {
      this.out({ ...base, kind: typeof data === 'string' ? 'text' : 'json' });
    }
  }

  sendBulk(msg, id) {
    const action = this.actions.get(msg.type);
    if (!action) return this.error(`send-bulk: no action ${msg.type} (make-action first)`, id);
    const data = patternBytes(Number(msg.size), msg.seed ?? 0);
    const startAt = epochMs();
    const started = now();
    let promise;
    try { promise = action.send(data, msg.targets ?? null, msg.meta ?? undefined); } catch (e) { promise = Promise.reject(e); }
    Promise.resolve(promise).then(
      () => this.out({ event: 'bulk-sent', id, type: msg.type, size: data.byteLength, startAt, ms: now() - started }),
      (e) => this.out({ event: 'send-failed', id, type: msg.type, ms: now() - started, error: String(e?.message ?? e) }));
  }

  /** count sends of {i: n}, n = 0..count-1, in one loop without awaiting each promise. */
  sendMany(msg, id) {
    const action = this.actions.get(msg.type);
    if (!action) return this.error(`send-many: no action ${msg.type} (make-action first)`, id);
    const count = Number(msg.count);
    const targets = msg.targets ?? null;
    const promises = new Array(count);
    const startAt = epochMs();
    const started = now();
    for (let i = 0; i < count; i++) {
      try { promises[i] = action.send({ i }, targets); } catch (e) { promises[i] = Promise.reject(e); }
    }
    Promise.allSettled(promises).then((results) => {
      const failed = results.filter((r) => r.status === 'rejected');
      this.out({
        event: 'sent-many', id, type: msg.type, count, startAt, ms: now() - started, failed: failed.length,
        ...(failed.length ? { error: String(failed[0].reason?.message ?? failed[0].reason) } : {}),
      });
    });
  }

  ping(peerId, id) {
    this.room.ping(peerId).then(
      (rtt) => this.out({ event: 'ping', id, peerId, rtt }),
      (e) => this.out({ event: 'ping-failed', id, peerId, error: String(e?.message ?? e) }));
  }

  /**
   * trystero's getOccupants (firebase): it lists the room node's keys, which are the peers'
   * self topics; the topic of each id is sha1(`Trystero@appId@roomId@peerId`), so `topics` maps
   * back to ids only for known peers. Reported as they are: `occupants` (the keys).
   */
  async occupants(id) {
    if (!this.trystero.getOccupants) return this.error(`${this.strategy} has no getOccupants`, id);
    const keys = await this.trystero.getOccupants(this.config, this.roomId);
    this.out({ event: 'occupants', id, occupants: keys, keys: true });
  }

  relaySockets() {
    const states = ['connecting', 'open', 'closing', 'closed'];
    return Object.entries(this.trystero.getRelaySockets?.() ?? {}).map(([url, socket]) => ({
      url,
      state: typeof socket?.readyState === 'number' ? states[socket.readyState] : 'unknown',
    }));
  }
}

/** --strategy S --app-id A --room R [--password P] --relay URL... [--defer-join] [--greet] */
export function parseArgs(argv) {
  const o = { relays: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--strategy') o.strategy = v();
    else if (a === '--app-id') o.appId = v();
    else if (a === '--room') o.roomId = v();
    else if (a === '--password') o.password = v();
    else if (a === '--relay') o.relays.push(v());
    else if (a === '--supabase-key') o.supabaseKey = v();
    else if (a === '--defer-join') o.deferJoin = true;
    else if (a === '--greet') o.greet = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!o.strategy || !o.appId || !o.roomId) throw new Error('--strategy, --app-id and --room are required');
  return o;
}

/**
 * An audio track of a steady tone, for add-stream. Chromium: an oscillator through WebAudio.
 * Firefox cannot run an AudioContext without an audio output device (there is none here: it stays
 * suspended and the track sends silence), so there the tone is its fake microphone's
 * (media.navigator.streams.fake: a sine), which needs none.
 */
async function toneTracks(impl) {
  if (impl === 'firefox') return (await navigator.mediaDevices.getUserMedia({ audio: true })).getAudioTracks();
  const audio = new AudioContext();
  const oscillator = audio.createOscillator();
  const sink = audio.createMediaStreamDestination();
  oscillator.connect(sink);
  oscillator.start();
  return sink.stream.getAudioTracks();
}

/**
 * The trystero config every JS peer uses: local relays, no STUN. Supabase takes the project URL
 * as appId (the local server's http:// URL) and needs some anon key (the local server takes any).
 */
export function trysteroConfig({ appId, password, relays, supabaseKey }, extra = {}) {
  return {
    appId,
    supabaseKey: supabaseKey ?? 'local-anon-key',
    ...(password !== undefined ? { password } : {}),
    relayUrls: relays,
    rtcConfig: { iceServers: [] },
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// Node program

/** @roamhq/wrtc's RTCPeerConnection with the two wrappers trystero needs. */
// The data channel of each RTCPeerConnection made through wrapWrtc, for `raw-send` (a hostile
// peer's tests write chunks trystero itself would never make).
const rawChannels = new WeakMap();

export function wrapWrtc(wrtc) {
  // wrtc never fires `bufferedamountlow`: when trystero waits for it (addEventListener), poll
  // bufferedAmount and dispatch the event ourselves once it is at or below the threshold.
  const pollLow = (channel) => {
    if (!channel || channel.__pollLow) return channel;
    channel.__pollLow = true;
    const add = channel.addEventListener;
    let timer = null;
    const waiting = () => (channel._listeners?.bufferedamountlow?.size ?? 0) > 0 || typeof channel.onbufferedamountlow === 'function';
    channel.addEventListener = function addEventListener(type, listener, options) {
      add.call(this, type, listener, options);
      if (type !== 'bufferedamountlow' || timer) return;
      timer = setInterval(() => {
        if (!waiting()) { clearInterval(timer); timer = null; return; }
        if (channel.readyState !== 'open' || channel.bufferedAmount <= channel.bufferedAmountLowThreshold) {
          channel.dispatchEvent({ type: 'bufferedamountlow', target: channel });
        }
      }, 1);
    };
    return channel;
  };

  // INTEROP_TRACE_CHANNELS=1: each data channel's open/message/close on stderr (diagnostics).
  let pcs = 0;
  const trace = (channel, who) => {
    if (!process.env.INTEROP_TRACE_CHANNELS || !channel) return;
    const t = () => performance.now().toFixed(1);
    process.stderr.write(`[channel ${who}] ${t()} created (${channel.readyState})\n`);
    for (const type of ['open', 'close']) channel.addEventListener(type, () => process.stderr.write(`[channel ${who}] ${t()} ${type}\n`));
    channel.addEventListener('message', (e) => process.stderr.write(`[channel ${who}] ${t()} message ${typeof e.data === 'string' ? e.data.length : e.data.byteLength} bytes\n`));
  };

  return function RTCPeerConnection(config) {
    const pc = new wrtc.RTCPeerConnection(config);
    const who = `pc${++pcs}`;
    // Argument-less setLocalDescription() (perfect negotiation style): make the description.
    const setLocal = pc.setLocalDescription.bind(pc);
    pc.setLocalDescription = async (description) => {
      if (!description || !description.type) {
        description = ['have-remote-offer', 'have-local-pranswer'].includes(pc.signalingState)
          ? await pc.createAnswer()
          : await pc.createOffer();
      }
      return setLocal(description);
    };
    const createDataChannel = pc.createDataChannel.bind(pc);
    pc.createDataChannel = (...args) => {
      const channel = pollLow(createDataChannel(...args));
      rawChannels.set(pc, channel);
      trace(channel, `${who} offerer`);
      return channel;
    };
    // Listeners run before the `ondatachannel` property handler trystero sets.
    pc.addEventListener('datachannel', (e) => {
      rawChannels.set(pc, e.channel);
      trace(e.channel, `${who} answerer`);
      pollLow(e.channel);
    });
    return pc;
  };
}

async function main() {
  const { createInterface } = await import('node:readline');
  const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  // Keep stdout for protocol lines: the libraries log with console.*.
  for (const k of ['log', 'info', 'debug']) console[k] = (...a) => console.error(...a);

  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`node_peer: ${e.message}\n`);
    process.exit(2);
  }
  if (!globalThis.WebSocket) globalThis.WebSocket = (await import('ws')).WebSocket;
  const { default: wrtc } = await import('@roamhq/wrtc');
  const trystero = await import(`trystero/${args.strategy}`);

  let quitting = false;
  const quit = () => {
    if (quitting) return;
    quitting = true;
    out({ event: 'bye' });
    // wrtc keeps native threads alive: exit explicitly once stdout is flushed.
    process.stdout.write('', () => process.exit(0));
  };
  process.on('SIGTERM', quit);
  process.on('SIGINT', quit);

  const peer = new RoomProtocolPeer({
    impl: 'node',
    strategy: args.strategy,
    trystero,
    config: trysteroConfig(args, { rtcPolyfill: wrapWrtc(wrtc) }),
    roomId: args.roomId,
    out,
    onQuit: quit,
    greet: !!args.greet,
  });
  if (args.deferJoin) peer.standby();
  else peer.start();

  createInterface({ input: process.stdin })
    .on('line', (line) => {
      if (!line.trim()) return;
      let msg;
      try { msg = JSON.parse(line); } catch { peer.error(`stdin line is not JSON: ${line.slice(0, 200)}`); return; }
      peer.handle(msg);
    })
    .on('close', quit);
}

const isMain = typeof process !== 'undefined' && process.argv?.[1]
  && import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href;
if (isMain) await main();
