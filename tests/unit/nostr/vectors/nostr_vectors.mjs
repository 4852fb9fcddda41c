// Regenerates nostr_vectors.json from the real trystero@0.22.0 nostr.js (and its
// @noble/secp256k1), as installed in tests/interop/node_modules:
//
//   node tests/unit/nostr/vectors/nostr_vectors.mjs > tests/unit/nostr/vectors/nostr_vectors.json
//
// The node_modules directory can be given as the first argument or $INTEROP_NODE_MODULES.
// Events come from nostr.js's own createEvent() and subscribe(): the key pair nostr.js makes at
// import time and the BIP-340 aux randomness come from a fixed queue patched over
// crypto.getRandomValues, and Date.now is pinned, so the output is deterministic. The C++ test
// then checks that it builds the very same bytes from the same key, time and aux randomness,
// that its event ids match, and that it verifies the JS signatures.
//
// Other direction (C++-made events verified by JS): pipe one `["EVENT",{...}]` message per line
// on stdin with --verify; each line prints `ok <id>` or `bad <reason>`.
import {createHash} from 'node:crypto'
import {dirname, resolve} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const args = process.argv.slice(2).filter(a => !a.startsWith('--'))
const verifyMode = process.argv.includes('--verify')
const modulesDir = resolve(
  args[0] || process.env.INTEROP_NODE_MODULES || resolve(here, '../../../interop/node_modules')
)
const load = path => import(pathToFileURL(resolve(modulesDir, path)).href)
const hex = bytes => Buffer.from(bytes).toString('hex')
const unhex = text => Uint8Array.from(Buffer.from(text, 'hex'))

// A fixed queue of "random" bytes; anything beyond the queue comes from a seeded generator.
const realCrypto = globalThis.crypto
const randomQueue = []
let prngState = 0x6e6f7374
const prngByte = () => {
  prngState = (Math.imul(prngState, 1103515245) + 12345) >>> 0
  return prngState >>> 24
}
Object.defineProperty(globalThis, 'crypto', {
  value: {
    subtle: realCrypto.subtle,
    getRandomValues: a => {
      const fixed = randomQueue.shift()
      if (fixed && fixed.length !== a.length) {
        throw new Error(`queued ${fixed.length} random bytes, asked for ${a.length}`)
      }
      for (let i = 0; i < a.length; i++) a[i] = fixed ? fixed[i] : prngByte()
      return a
    }
  },
  configurable: true,
  writable: true
})

const {schnorr} = await load('@noble/secp256k1/index.js')

if (verifyMode) {
  const input = await new Promise(res => {
    let text = ''
    process.stdin.on('data', d => (text += d)).on('end', () => res(text))
  })
  for (const line of input.split('\n').filter(Boolean)) {
    try {
      const [verb, e] = JSON.parse(line)
      if (verb !== 'EVENT') throw new Error('not an EVENT')
      const serial = JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content])
      const id = createHash('sha256').update(serial, 'utf8').digest('hex')
      if (id !== e.id) throw new Error(`id ${e.id} != ${id}`)
      if (!(await schnorr.verifyAsync(unhex(e.sig), unhex(e.id), unhex(e.pubkey)))) {
        throw new Error('signature does not verify')
      }
      console.log(`ok ${e.id}`)
    } catch (err) {
      console.log(`bad ${err.message}`)
    }
  }
  process.exit(0)
}

const pkg = JSON.parse(
  await (await import('node:fs/promises')).readFile(resolve(modulesDir, 'trystero/package.json'))
)
if (pkg.version !== '0.22.0') throw new Error(`need trystero 0.22.0, found ${pkg.version}`)

// nostr.js calls schnorr.keygen() once at import: that takes 48 random bytes.
const keySeed = Uint8Array.from({length: 48}, (_, i) => (i * 37 + 11) & 0xff)
randomQueue.push(keySeed)
const nostr = await load('trystero/src/nostr.js')
const utils = await load('trystero/src/utils.js')
const {sha1} = await load('trystero/src/crypto.js')
if (randomQueue.length) throw new Error('nostr.js did not draw its key seed')
const {secretKey, publicKey} = schnorr.keygen(keySeed)

const realNow = Date.now
const at = (ms, f) => {
  Date.now = () => ms
  try {
    return f()
  } finally {
    Date.now = realNow
  }
}

const rootTopic = await sha1(utils.topicPath('Trystero', 'trystero-cpp', 'yoyodyne'))
const selfTopic = await sha1(utils.topicPath('Trystero', 'trystero-cpp', 'yoyodyne', 'peer'))
const contents = [
  '',
  JSON.stringify({peerId: 'a1B2c3D4e5F6g7H8i9J0'}),
  'plain ascii',
  'quotes " and \\ backslash / slash',
  'line\nbreak\r\ttab\bback\fform',
  'controls \u0000 \u0001 \u001f \u007f end',
  'latin é ñ ü, cjk 日本語, greek λ',
  'emoji 🎉👩‍👩‍👧 and flag 🇯🇵',
  'separators \u2028 \u2029 bom \ufeff nbsp \u00a0',
  'lone surrogate \ud800 here',
  JSON.stringify({
    peerId: 'Zz09AaBbCcDdEeFfGgHh',
    offer: {type: 'offer', sdp: '1,2,3$AAAA+/==\n"x"'}
  }),
  'x'.repeat(5000) + '\u00e9'
]

const events = []
let t = 1750000000123
for (const [i, content] of contents.entries()) {
  const topic = i % 2 ? selfTopic : rootTopic
  const aux = Uint8Array.from({length: 32}, (_, j) => (i * 31 + j * 7 + 3) & 0xff)
  randomQueue.push(aux)
  const message = await at(t, () => nostr.createEvent(topic, content))
  if (randomQueue.length) throw new Error('createEvent did not draw its aux randomness')
  const [, event] = JSON.parse(message)
  if (event.pubkey !== hex(publicKey)) throw new Error('nostr.js key is not the seeded one')
  events.push({
    topic,
    // A lone surrogate has no UTF-8 form (nor does the JSON text of one parse in nlohmann):
    // such events are listed by their wire message only, and the C++ side must drop them.
    content: content.isWellFormed() ? content : null,
    nowMs: t,
    createdAt: event.created_at,
    kind: event.kind,
    aux: hex(aux),
    id: event.id,
    sig: event.sig,
    message,
    // The exact text nostr.js hashes, hex-encoded UTF-8 (TextEncoder: lone surrogates -> U+FFFD).
    serialized: hex(
      new TextEncoder().encode(
        JSON.stringify([0, event.pubkey, event.created_at, event.kind, event.tags, content])
      )
    )
  })
  t += 777_777
}

const subId = 'A'.repeat(32) + 'z'.repeat(32)
const requests = [rootTopic, selfTopic].map(topic => ({
  subId,
  topic,
  nowMs: 1750000001999,
  message: at(1750000001999, () => nostr.subscribe(subId, topic))
}))

const kindTopics = [rootTopic, selfTopic, '', 'a', 'Trystero', '日本語', '🎉', 'z'.repeat(200)]
const kinds = kindTopics.map(topic => ({topic, kind: utils.strToNum(topic, 10_000) + 20_000}))

const relayConfigs = [
  {appId: 'trystero-cpp'},
  {appId: 'san_narciso_3d'},
  {appId: 'a'},
  {appId: '日本語 🎉'},
  {appId: 'trystero-cpp', relayRedundancy: 3},
  {appId: 'trystero-cpp', relayRedundancy: 100},
  {appId: 'x', relayUrls: ['ws://127.0.0.1:1', 'ws://127.0.0.1:2']}
]
const relays = relayConfigs.map(config => ({
  config,
  relays: utils.getRelays(config, nostr.defaultRelayUrls, 5, true)
}))

console.log(
  JSON.stringify(
    {
      generator: 'tests/unit/nostr/vectors/nostr_vectors.mjs',
      trystero: pkg.version,
      secretKey: hex(secretKey),
      pubkey: hex(publicKey),
      defaultRelayUrls: nostr.defaultRelayUrls,
      events,
      requests,
      kinds,
      relays
    },
    null,
    1
  )
)
