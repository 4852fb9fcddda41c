// Records what the real trystero@0.22.0 torrent.js puts on the wire, for torrent_test.cpp.
//
//   node tests/unit/strategies/torrent/vectors/torrent_vectors.mjs [trystero/src] \
//     > tests/unit/strategies/torrent/vectors/torrent_vectors.json
//
// The trystero source directory defaults to tests/interop/node_modules/trystero/src (or
// $TRYSTERO_SRC). Needs Node >= 20. torrent.js runs unmodified against a fake WebSocket (the
// tracker) and a fake RTCPeerConnection (rtcPolyfill) with fixed SDP; Math.random and
// crypto.getRandomValues are seeded so that the output is the same on every run.
import {dirname, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const srcDir = resolve(
  process.argv[2] ||
    process.env.TRYSTERO_SRC ||
    resolve(here, '../../../../interop/node_modules/trystero/src')
)
const load = name => import(pathToFileURL(resolve(srcDir, name)).href)

// Seeded randomness (ids come from Math.random, IVs from crypto.getRandomValues).
let seed = 0x2545f491
const next = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return seed
}
Math.random = () => next() / 2 ** 32
const realCrypto = globalThis.crypto
Object.defineProperty(globalThis, 'crypto', {
  value: {
    subtle: realCrypto.subtle,
    getRandomValues: a => {
      for (let i = 0; i < a.length; i++) a[i] = next() >>> 24
      return a
    }
  },
  configurable: true,
  writable: true
})

const warnings = []
console.warn = (...args) => warnings.push(args.join(' '))

// The tracker: a WebSocket that records what is sent and lets us push messages in.
const sockets = []
class FakeWebSocket {
  constructor(url) {
    this.url = new URL(url).href
    this.readyState = 0
    this.sent = []
    sockets.push(this)
    setTimeout(() => {
      this.readyState = 1
      this.onopen?.()
    }, 0)
  }
  send(data) {
    this.sent.push(data)
  }
  close() {}
  deliver(message) {
    this.onmessage?.({data: typeof message === 'string' ? message : JSON.stringify(message)})
  }
}
globalThis.WebSocket = FakeWebSocket

const sdpFor = (type, id) =>
  [
    'v=0',
    `o=- ${4611731400430051 + id} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE 0',
    'a=ice-options:trickle',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
    'c=IN IP4 0.0.0.0',
    `a=ice-ufrag:u${id}`,
    `a=ice-pwd:pwd${id}pwd${id}pwd${id}pwd${id}`,
    `a=setup:${type === 'offer' ? 'actpass' : 'active'}`,
    'a=mid:0',
    'a=sctp-port:5000',
    ''
  ].join('\r\n')

const pcs = []
class FakePeerConnection {
  constructor(config) {
    this.id = pcs.length
    this.config = config
    this.iceGatheringState = 'complete'
    this.signalingState = 'stable'
    this.connectionState = 'new'
    this.localDescription = null
    this.remoteDescriptions = []
    pcs.push(this)
  }
  createDataChannel(label) {
    return {label, readyState: 'connecting', close() {}, send() {}}
  }
  addEventListener() {}
  removeEventListener() {}
  async setLocalDescription(description) {
    if (description?.type === 'rollback') {
      this.signalingState = 'stable'
      return
    }
    const type = this.signalingState === 'have-remote-offer' ? 'answer' : 'offer'
    this.localDescription = {type, sdp: sdpFor(type, this.id)}
    this.signalingState = type === 'offer' ? 'have-local-offer' : 'stable'
  }
  async setRemoteDescription(description) {
    this.remoteDescriptions.push(description)
    this.signalingState = description.type === 'offer' ? 'have-remote-offer' : 'stable'
  }
  close() {
    this.connectionState = 'closed'
  }
  getSenders() {
    return []
  }
}

const {sha1, genKey, encrypt, decrypt} = await load('crypto.js')
const {joinRoom, selfId} = await load('torrent.js')

const settle = (ms = 50) => new Promise(res => setTimeout(res, ms))
const until = async (f, what) => {
  for (let i = 0; i < 200; i++) {
    if (f()) return
    await settle(10)
  }
  throw new Error(`timed out waiting for ${what}`)
}

const appId = 'san_narciso_3d'
const roomId = 'yoyodyne'
const password = 'tristero'
const relayUrl = 'ws://127.0.0.1:8000'
const key = genKey(password, appId, roomId)
const rootPlain = `Trystero@${appId}@${roomId}`
const rootTopic = await sha1(rootPlain)
const infoHash = (await sha1(rootTopic)).slice(0, 20)

joinRoom(
  {appId, password, relayUrls: [relayUrl], rtcConfig: {iceServers: []}, rtcPolyfill: FakePeerConnection},
  roomId
)
const [socket] = sockets
await until(() => socket.sent.length > 0, 'the announce')
const announce = socket.sent[0]
const announced = JSON.parse(announce)
const offers = await Promise.all(
  announced.offers.map(async ({offer_id, offer}) => ({
    offer_id,
    sealed: offer.sdp,
    plain: await decrypt(key, offer.sdp)
  }))
)

// The tracker's reply to an announce (what bittorrent-tracker sends).
const announceResponse = {action: 'announce', interval: 120, info_hash: infoHash, complete: 0, incomplete: 1}
socket.deliver(announceResponse)
await settle()

// A remote peer's offer relayed by the tracker: torrent.js answers it through the tracker.
const remoteId = 'Zz9Yy8Xx7Ww6Vv5Uu4Tt'
const remoteOfferPlain = sdpFor('offer', 900)
const relayedOffer = {
  action: 'announce',
  offer: {type: 'offer', sdp: await encrypt(key, remoteOfferPlain)},
  offer_id: 'Aa1Bb2Cc3Dd4Ee5Ff6Gg',
  peer_id: remoteId,
  info_hash: infoHash
}
const sentBefore = socket.sent.length
socket.deliver(relayedOffer)
await until(() => socket.sent.length > sentBefore, 'the answer')
const answer = socket.sent[sentBefore]
const answerPlain = await decrypt(key, JSON.parse(answer).answer.sdp)

// A remote answer to our third offer: torrent.js hands it to that very peer connection.
const answeredIndex = 2
const remoteAnswerPlain = sdpFor('answer', 901)
const relayedAnswer = {
  action: 'announce',
  answer: {type: 'answer', sdp: await encrypt(key, remoteAnswerPlain)},
  offer_id: offers[answeredIndex].offer_id,
  peer_id: 'Qq1Rr2Ss3Tt4Uu5Vv6Ww',
  info_hash: infoHash
}
socket.deliver(relayedAnswer)
await settle()
const answeredPcs = pcs
  .filter(pc => pc.remoteDescriptions.some(d => d.type === 'answer'))
  .map(pc => pc.id)

// Tracker complaints.
socket.deliver({'failure reason': 'invalid info_hash'})
socket.deliver({action: 'announce', 'warning message': 'slow down', info_hash: infoHash})
await settle()

const topics = await Promise.all(
  [
    ['a', 'b'],
    ['san_narciso_3d', 'yoyodyne'],
    ['', 'x'],
    ['ünïcødé', '房间'],
    ['app', 'room with spaces and @ signs']
  ].map(async ([app, room]) => {
    const plain = `Trystero@${app}@${room}`
    const topic = await sha1(plain)
    return {plain, rootTopic: topic, infoHash: (await sha1(topic)).slice(0, 20)}
  })
)

process.stdout.write(
  JSON.stringify(
    {
      source: 'trystero@0.22.0 src/torrent.js via tests/unit/strategies/torrent/vectors/torrent_vectors.mjs',
      appId,
      roomId,
      password,
      relayUrl,
      socketUrl: socket.url,
      selfId,
      rootTopic,
      infoHash,
      announce,
      offers,
      announceResponse: JSON.stringify(announceResponse),
      relayedOffer: JSON.stringify(relayedOffer),
      remoteOfferPlain,
      answer,
      answerPlain,
      relayedAnswer: JSON.stringify(relayedAnswer),
      answeredIndex,
      answeredPeerConnections: answeredPcs,
      sentTotal: socket.sent.length,
      warnings,
      topics
    },
    null,
    2
  ) + '\n'
)
process.exit(0)
