// Regenerates vectors.json from the real trystero@0.22.0 JavaScript sources.
//
//   mkdir -p /tmp/vec && cd /tmp/vec && npm i trystero@0.22.0 --ignore-scripts
//   node generate.mjs /tmp/vec/node_modules/trystero/src > vectors.json
//
// The trystero source directory can also be given as $TRYSTERO_SRC. Needs Node >= 20 (global
// WebCrypto, Blob, TextEncoder/TextDecoder). The output is deterministic: every "random" IV
// comes from a seeded generator patched over crypto.getRandomValues.
//
// Cross-check of the other direction (C++ seal -> JS decrypt), reading "password appId roomId
// sealed" lines on stdin and printing each decryption as a JSON string:
//
//   node generate.mjs /tmp/vec/node_modules/trystero/src --open < sealed.txt
import {createHash} from 'node:crypto'
import {resolve} from 'node:path'
import {pathToFileURL} from 'node:url'

const args = process.argv.slice(2).filter(a => a !== '--open')
const openMode = process.argv.includes('--open')
const srcDir = resolve(args[0] || process.env.TRYSTERO_SRC || 'node_modules/trystero/src')
const load = name => import(pathToFileURL(resolve(srcDir, name)).href)

// Deterministic IVs: crypto.js calls the global crypto.getRandomValues, so swap the global for a
// wrapper around the real SubtleCrypto.
const realCrypto = globalThis.crypto
let ivQueue = []
let prngState = 0x12345678
const prngByte = () => {
  prngState = (Math.imul(prngState, 1103515245) + 12345) >>> 0
  return prngState >>> 24
}
Object.defineProperty(globalThis, 'crypto', {
  value: {
    subtle: realCrypto.subtle,
    getRandomValues: a => {
      const fixed = ivQueue.shift()
      for (let i = 0; i < a.length; i++) a[i] = fixed ? fixed[i] : prngByte()
      return a
    }
  },
  configurable: true,
  writable: true
})

const {sha1, genKey, encrypt, decrypt} = await load('crypto.js')

if (openMode) {
  const input = await new Promise(res => {
    let text = ''
    process.stdin.on('data', d => (text += d)).on('end', () => res(text))
  })
  for (const line of input.split('\n').filter(Boolean)) {
    const [password, appId, roomId, sealed] = line.split(' ')
    try {
      console.log(JSON.stringify(await decrypt(genKey(password, appId, roomId), sealed)))
    } catch (e) {
      console.log(`error: ${e.message}`)
    }
  }
  process.exit(0)
}
const {strToNum, shuffle} = await load('utils.js')
const {defaultRelayUrls} = await load('nostr.js').catch(() => ({}))
const {default: makeRoom} = await load('room.js')

const hex = u8 => Buffer.from(u8).toString('hex')
const sha256Hex = u8 => createHash('sha256').update(u8).digest('hex')
const out = {generator: 'tests/unit/room/vectors/generate.mjs', trystero: '0.22.0'}

// ---- topic hashes -------------------------------------------------------------------------
const topicStrings = [
  '',
  'a',
  'Trystero@my-app@lobby',
  'Trystero@my-app@lobby@abcdefghijABCDEFGHIJ',
  'héllo wörld',
  '日本語のルーム',
  '🎉 party 👍🏽',
  'x'.repeat(1000)
]
out.topicHash = []
for (const s of topicStrings) out.topicHash.push({input: s, hash: await sha1(s)})

// ---- strToNum ------------------------------------------------------------------------------
out.strToNum = []
for (const s of ['', 'a', 'my-app', 'héllo', '日本語', '🎉👍🏽', 'Trystero@my-app@lobby']) {
  out.strToNum.push({input: s, value: strToNum(s)})
  for (const limit of [10000, 20, 1]) out.strToNum.push({input: s, limit, value: strToNum(s, limit)})
}

// ---- shuffle -------------------------------------------------------------------------------
const letters = 'abcdefghijklmnop'.split('')
out.shuffle = {cases: []}
for (const seed of [0, 1, 2, 7, 42, 613, 12345, 999999, 2 ** 31 + 11, 2 ** 40 + 3]) {
  out.shuffle.cases.push({input: letters, seed, output: shuffle(letters, seed)})
}
if (defaultRelayUrls) {
  out.shuffle.nostrDefaultRelays = defaultRelayUrls
  for (const appId of ['my-app', 'trystero-demo', 'héllo', '🎉']) {
    const seed = strToNum(appId)
    out.shuffle.cases.push({appId, input: defaultRelayUrls, seed, output: shuffle(defaultRelayUrls, seed)})
  }
}
// Bulk check: the permutations of 16 items for many seeds, hashed. Each permutation is written as
// 16 bytes (the index in `letters` of each output element), in seed order.
const bulkCount = 300000
const bulk = createHash('sha256')
for (let seed = 0; seed < bulkCount; seed++) {
  bulk.update(Uint8Array.from(shuffle(letters, seed), c => letters.indexOf(c)))
}
out.shuffle.bulk = {items: 16, seedFrom: 0, seedCount: bulkCount, sha256: bulk.digest('hex')}

// ---- AES-GCM signal sealing -----------------------------------------------------------------
const sdp =
  'v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' +
  'a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n' +
  'c=IN IP4 0.0.0.0\r\na=ice-ufrag:ABCD\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n' +
  'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n' +
  'a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n'
const iv0 = Array.from({length: 16}, (_, i) => i)
const sealCases = [
  {password: 'hunter2', appId: 'my-app', roomId: 'lobby', iv: iv0, plaintext: sdp},
  {password: '', appId: 'my-app', roomId: 'lobby', iv: Array(16).fill(0), plaintext: ''},
  {password: 'pässwörd', appId: 'app', roomId: '部屋', iv: Array(16).fill(255), plaintext: 'héllo 🎉'},
  {password: 'x', appId: 'y', roomId: 'z', iv: [9, 200, 31, 0, 77, 128, 5, 255, 1, 2, 3, 4, 5, 6, 7, 8], plaintext: 'y'.repeat(1000)},
  {password: 'hunter2', appId: 'my-app', roomId: 'lobby', iv: null, plaintext: sdp}
]
out.seal = []
for (const c of sealCases) {
  const key = genKey(c.password, c.appId, c.roomId)
  ivQueue = c.iv ? [c.iv] : []
  const sealed = await encrypt(key, c.plaintext)
  if ((await decrypt(key, sealed)) !== c.plaintext) throw new Error('JS round trip failed')
  const keyHex = hex(
    new Uint8Array(
      await realCrypto.subtle.digest('SHA-256', new TextEncoder().encode(`${c.password}:${c.appId}:${c.roomId}`))
    )
  )
  out.seal.push({...c, iv: c.iv ?? 'generator', keySha256: keyHex, sealed})
}

// ---- forgiving base64 (atob) and TextDecoder, as crypto.js/utils.js use them -------------------
out.atob = []
for (const s of ['', 'YQ', 'YQ==', 'YWI=', 'YWJj', ' Y W\nJ j ', 'YR==', 'YQ=', 'Y===', 'Y', 'YW=J', '*A==', 'YQ==\n', 'YQ===', '////', '++++', 'YQ\f==']) {
  let bytes = null
  try {
    bytes = hex(Uint8Array.from(atob(s), c => c.charCodeAt(0)))
  } catch {}
  out.atob.push({input: s, bytes})
}
out.textDecoder = []
for (const h of ['', '68656c6c6f', 'efbbbf68656c6c6f', 'efbbbfefbbbf41', '41efbbbf', 'c080', 'eda080', 'f4908080', 'e282', 'e28241', 'ff', 'f0', 'f09f8e', 'f09f8e89', 'c3', 'c3a9', 'e0a080', 'e080af', 'f08f8080', 'edbfbf', 'ee8080', 'f48fbfbf', '80bf41', 'efbb', 'efbbbf']) {
  out.textDecoder.push({bytes: h, text: new TextDecoder().decode(Buffer.from(h, 'hex'))})
}

// ---- action chunks, recorded from room.js itself --------------------------------------------
const makeHarness = () => {
  let registerPeer
  const room = makeRoom(
    f => (registerPeer = f),
    () => {},
    () => {}
  )
  const sent = []
  let handlers
  const peer = {
    channel: {bufferedAmount: 0, bufferedAmountLowThreshold: 0xffff, addEventListener() {}, removeEventListener() {}},
    setHandlers: h => (handlers = h),
    sendData: chunk => sent.push(Uint8Array.from(chunk)),
    destroy() {}
  }
  registerPeer(peer, 'peerA')
  return {room, sent, feed: bytes => handlers.data(bytes)}
}

const pattern = n => Uint8Array.from({length: n}, (_, i) => i % 251)
const describeChunks = chunks =>
  chunks.map(c => {
    const body = c.subarray(15)
    const rec = {header: hex(c.subarray(0, 15)), bodyLength: body.length}
    if (body.length <= 256) rec.body = hex(body)
    else rec.bodySha256 = sha256Hex(body)
    return rec
  })

const sendCases = [
  {name: 'string', type: 'drink', kind: 'text', data: 'hello, world'},
  {name: 'empty string', type: 'drink', kind: 'text', data: ''},
  {name: 'unicode string', type: 'drink', kind: 'text', data: 'ümlaut 🎉'},
  {name: 'json object', type: 'drink', kind: 'json', data: {a: 1, b: [true, null, 'x'], c: 'ü'}},
  {name: 'json number', type: 'drink', kind: 'json', data: 42},
  {name: 'json null', type: 'drink', kind: 'json', data: null},
  {name: 'binary 40000', type: 'drink', kind: 'binary', patternLength: 40000},
  {name: 'binary 16369', type: 'drink', kind: 'binary', patternLength: 16369},
  {name: 'binary 16370', type: 'drink', kind: 'binary', patternLength: 16370},
  {name: 'binary empty', type: 'drink', kind: 'binary', patternLength: 0},
  {name: 'binary with meta', type: 'drink', kind: 'binary', patternLength: 20000, meta: {name: 'file.bin', size: 20000}},
  {name: 'binary empty with meta', type: 'drink', kind: 'binary', patternLength: 0, meta: {}},
  {name: 'binary 32738 with meta', type: 'drink', kind: 'binary', patternLength: 32738, meta: {k: 'ü'}},
  {name: 'long string', type: 'abcdefghijkl', kind: 'text', repeatChar: 'q', repeatCount: 16369 * 3 + 5},
  {name: 'multibyte type', type: 'ñandú', kind: 'text', data: 'x'},
  {name: 'binary 3 MB', type: 'drink', kind: 'binary', patternLength: 3000000}
]
out.send = []
{
  const {room, sent} = makeHarness()
  const actions = {}
  for (const c of sendCases) {
    const [send] = (actions[c.type] ||= room.makeAction(c.type))
    const data =
      c.kind === 'binary' ? pattern(c.patternLength) : c.repeatChar ? c.repeatChar.repeat(c.repeatCount) : c.data
    sent.length = 0
    await send(data, null, c.meta)
    const rec = {name: c.name, type: c.type, kind: c.kind}
    if (c.kind === 'binary') rec.patternLength = c.patternLength
    else if (c.repeatChar) Object.assign(rec, {repeatChar: c.repeatChar, repeatCount: c.repeatCount})
    else rec.payloadText = c.kind === 'json' ? JSON.stringify(c.data) : c.data
    if (c.meta) rec.meta = JSON.stringify(c.meta)
    rec.nonce = sent[0][12]
    rec.chunks = describeChunks(sent)
    out.send.push(rec)
  }
  // Nonce wrap: the nonce is per action and wraps after 255.
  const [sendTea] = room.makeAction('tea')
  const nonces = []
  for (let i = 0; i < 258; i++) {
    sent.length = 0
    await sendTea('')
    nonces.push(sent[0][12])
  }
  out.nonceWrap = {type: 'tea', firstNonces: nonces.slice(0, 3), nonces255to257: nonces.slice(255)}
}

// Progress bytes for every chunk of every transmission of 1..3000 chunks, hashed in order.
{
  const h = createHash('sha256')
  for (let total = 1; total <= 3000; total++) {
    h.update(Uint8Array.from({length: total}, (_, i) => Math.round(((i + 1) / total) * 255)))
  }
  out.progressTable = {totalFrom: 1, totalTo: 3000, sha256: h.digest('hex')}
}

// ---- what room.js's receiver makes of hand-built chunks --------------------------------------
const chunk = (typeBytes, nonce, tag, progress, payload) => {
  const c = new Uint8Array(15 + payload.length)
  c.set(typeBytes.subarray(0, 12))
  c[12] = nonce
  c[13] = tag
  c[14] = progress
  c.set(payload, 15)
  return c
}
const enc = s => new TextEncoder().encode(s)
const bytesOf = h => Uint8Array.from(Buffer.from(h, 'hex'))
const receiveCases = [
  {name: 'nul inside type', chunks: [chunk(enc('dr\0ink'), 0, 1, 255, enc('hi'))]},
  {name: 'bom before type', chunks: [chunk(bytesOf('efbbbf6472696e6b'), 0, 1, 255, enc('hi'))]},
  {name: 'text with bom and invalid utf-8', chunks: [chunk(enc('drink'), 3, 1, 255, bytesOf('efbbbf41c080eda080f4908080e282ff42'))]},
  {name: 'json message', chunks: [chunk(enc('drink'), 4, 8 | 1, 255, enc('{"x":[1,2]}'))]},
  {
    name: 'interleaved nonces, meta second',
    chunks: [
      chunk(enc('drink'), 1, 4 | 8, 85, bytesOf('0102')),
      chunk(enc('drink'), 2, 4 | 8, 128, bytesOf('aa')),
      chunk(enc('drink'), 1, 2 | 4 | 8, 170, enc('{"m":1}')),
      chunk(enc('drink'), 2, 1 | 4 | 8, 255, bytesOf('bb')),
      chunk(enc('drink'), 1, 1 | 4 | 8, 255, bytesOf('03'))
    ]
  },
  {
    name: 'meta replaced by a later meta chunk',
    chunks: [
      chunk(enc('drink'), 9, 2 | 4 | 8, 10, enc('{"v":1}')),
      chunk(enc('drink'), 9, 2 | 4 | 8, 20, enc('[2]')),
      chunk(enc('drink'), 9, 1 | 4 | 8, 255, bytesOf('ff'))
    ]
  },
  {name: 'meta-only last chunk', chunks: [chunk(enc('drink'), 5, 1 | 2 | 4 | 8, 255, enc('{"empty":true}'))]},
  {name: 'kind taken from the last chunk', chunks: [chunk(enc('drink'), 6, 4, 100, enc('ab')), chunk(enc('drink'), 6, 1, 255, enc('c'))]},
  {name: 'twelve byte type', chunks: [chunk(enc('abcdefghijkl'), 0, 1, 0, enc('z'))]}
]
out.receive = []
{
  const {room, feed} = makeHarness()
  const events = []
  const describe = (data, kind) =>
    data instanceof Uint8Array ? {kind: 'binary', bytes: hex(data)} : {kind, value: kind === 'json' ? JSON.stringify(data) : data}
  for (const type of ['drink', 'abcdefghijkl']) {
    const [, onComplete, onProgress] = room.makeAction(type)
    onComplete((data, id, meta) =>
      events.push({event: 'complete', type, ...describe(data, typeof data === 'string' ? 'text' : 'json'), meta: meta === undefined ? null : JSON.stringify(meta)})
    )
    onProgress((p, id, meta) => events.push({event: 'progress', type, progress: p, meta: meta === undefined ? null : JSON.stringify(meta)}))
  }
  for (const c of receiveCases) {
    events.length = 0
    for (const ch of c.chunks) feed(ch)
    out.receive.push({name: c.name, chunks: c.chunks.map(hex), events: [...events]})
  }
}

process.stdout.write(JSON.stringify(out, null, 1) + '\n')
