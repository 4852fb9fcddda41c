// A strict NIP-01 relay for tests, on loopback.
//
//   node tests/interop/relays/nostr_relay.mjs [--port 0] [--host 127.0.0.1] [--verbose]
//
// Prints `listening <port>` on stdout once bound (--port 0 picks a free port). Every EVENT's id
// and BIP-340 signature are checked; bad ones get ["OK", id, false, "invalid: ..."]. Ephemeral
// kinds (20000-29999) go to matching live subscriptions and are never stored; other events are
// kept (the last 1000) for REQ queries. Filters: ids, authors, kinds, since, until, limit and
// #<letter> tags, applied to stored and live events alike. When stdin is a pipe the relay exits
// once it closes, so a parent that dies takes the relay with it.
import {createHash} from 'node:crypto'
import {fstatSync} from 'node:fs'
import {hashes, schnorr} from '@noble/secp256k1'
import {WebSocketServer} from 'ws'

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : fallback
}
const port = Number(arg('--port', '0'))
const host = arg('--host', '127.0.0.1')
const verbose = process.argv.includes('--verbose')
const log = (...xs) => verbose && console.error('[nostr-relay]', ...xs)

const sha256 = data => new Uint8Array(createHash('sha256').update(data).digest())
hashes.sha256 = sha256 // lets noble verify synchronously, so messages keep their order
const hex = bytes => Buffer.from(bytes).toString('hex')
const unhex = text => Uint8Array.from(Buffer.from(text, 'hex'))

const maxMessageBytes = 512 * 1024
const maxStored = 1000
const maxSubsPerSocket = 64
const stored = []
const isHex = (x, bytes) =>
  typeof x === 'string' && x.length === bytes * 2 && /^[0-9a-f]*$/.test(x)
const isInt = x => Number.isSafeInteger(x) && x >= 0
const isEphemeral = kind => kind >= 20000 && kind < 30000

// The reason an event is invalid, or null.
const checkEvent = e => {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return 'not an object'
  if (!isHex(e.id, 32)) return 'bad id field'
  if (!isHex(e.pubkey, 32)) return 'bad pubkey field'
  if (!isHex(e.sig, 64)) return 'bad sig field'
  if (!isInt(e.created_at)) return 'bad created_at'
  if (!isInt(e.kind) || e.kind > 65535) return 'bad kind'
  if (typeof e.content !== 'string') return 'bad content'
  if (
    !Array.isArray(e.tags) ||
    !e.tags.every(t => Array.isArray(t) && t.every(x => typeof x === 'string'))
  ) {
    return 'bad tags'
  }
  const serial = JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content])
  if (hex(sha256(new TextEncoder().encode(serial))) !== e.id) return 'event id does not match'
  let ok = false
  try {
    ok = schnorr.verify(unhex(e.sig), unhex(e.id), unhex(e.pubkey))
  } catch {
    ok = false
  }
  return ok ? null : 'bad signature'
}

const checkFilter = f => {
  if (typeof f !== 'object' || f === null || Array.isArray(f)) return 'filter is not an object'
  for (const [key, value] of Object.entries(f)) {
    if (['ids', 'authors'].includes(key)) {
      if (!Array.isArray(value) || !value.every(x => isHex(x, 32))) return `bad ${key}`
    } else if (key === 'kinds') {
      if (!Array.isArray(value) || !value.every(isInt)) return 'bad kinds'
    } else if (['since', 'until', 'limit'].includes(key)) {
      if (!isInt(value)) return `bad ${key}`
    } else if (/^#[a-zA-Z]$/.test(key)) {
      if (!Array.isArray(value) || !value.every(x => typeof x === 'string')) return `bad ${key}`
    } else {
      return `unsupported filter field ${key}`
    }
  }
  return null
}

const matches = (f, e) =>
  (!f.ids || f.ids.includes(e.id)) &&
  (!f.authors || f.authors.includes(e.pubkey)) &&
  (!f.kinds || f.kinds.includes(e.kind)) &&
  (f.since === undefined || e.created_at >= f.since) &&
  (f.until === undefined || e.created_at <= f.until) &&
  Object.entries(f)
    .filter(([key]) => key.startsWith('#'))
    .every(([key, values]) => e.tags.some(t => t[0] === key.slice(1) && values.includes(t[1])))

const wss = new WebSocketServer({host, port, maxPayload: maxMessageBytes})
const clients = new Set()

wss.on('connection', socket => {
  const subs = new Map() // subId -> filters
  const client = {socket, subs}
  clients.add(client)
  const send = msg => socket.readyState === 1 && socket.send(JSON.stringify(msg))
  const notice = text => send(['NOTICE', text])
  log('connection')

  socket.on('close', () => {
    clients.delete(client)
    log('closed')
  })
  socket.on('error', () => {})
  socket.on('message', (data, isBinary) => {
    if (isBinary) return notice('invalid: binary messages are not supported')
    let msg
    try {
      msg = JSON.parse(data.toString('utf8'))
    } catch {
      return notice('invalid: malformed JSON')
    }
    if (!Array.isArray(msg) || typeof msg[0] !== 'string') {
      return notice('invalid: expected an array starting with a string')
    }
    const [verb, ...rest] = msg
    if (verb === 'EVENT') {
      const [e] = rest
      const reason = checkEvent(e)
      const id = typeof e?.id === 'string' ? e.id : ''
      if (reason) {
        log('rejected', id, reason)
        return send(['OK', id, false, `invalid: ${reason}`])
      }
      send(['OK', e.id, true, ''])
      if (!isEphemeral(e.kind)) {
        stored.push(e)
        if (stored.length > maxStored) stored.shift()
      }
      let n = 0
      for (const other of clients) {
        for (const [subId, filters] of other.subs) {
          if (filters.some(f => matches(f, e))) {
            other.socket.readyState === 1 && other.socket.send(JSON.stringify(['EVENT', subId, e]))
            n++
          }
        }
      }
      log('event', e.kind, e.content.length, 'bytes to', n, 'subscriptions')
    } else if (verb === 'REQ') {
      const [subId, ...filters] = rest
      if (typeof subId !== 'string' || subId.length === 0 || subId.length > 64) {
        return notice('invalid: bad subscription id')
      }
      const reason = filters.length ? filters.map(checkFilter).find(Boolean) : 'no filters'
      if (reason) return send(['CLOSED', subId, `invalid: ${reason}`])
      if (!subs.has(subId) && subs.size >= maxSubsPerSocket) {
        return send(['CLOSED', subId, 'rate-limited: too many subscriptions'])
      }
      subs.set(subId, filters)
      const seen = new Set()
      for (const f of filters) {
        const found = stored.filter(e => matches(f, e)).sort((a, b) => b.created_at - a.created_at)
        for (const e of f.limit === undefined ? found : found.slice(0, f.limit)) {
          if (!seen.has(e.id)) {
            seen.add(e.id)
            send(['EVENT', subId, e])
          }
        }
      }
      send(['EOSE', subId])
      log('req', subId.slice(0, 8), JSON.stringify(filters))
    } else if (verb === 'CLOSE') {
      const [subId] = rest
      if (typeof subId !== 'string') return notice('invalid: bad subscription id')
      subs.delete(subId)
      log('close', subId.slice(0, 8))
    } else {
      notice(`invalid: unknown message type ${String(verb).slice(0, 32)}`)
    }
  })
})

wss.on('listening', () => console.log(`listening ${wss.address().port}`))
wss.on('error', e => {
  console.error(`nostr relay: ${e.message}`)
  process.exit(1)
})

const stop = () => {
  for (const {socket} of clients) socket.terminate()
  wss.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 500).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
if (fstatSync(0).isFIFO()) {
  process.stdin.on('end', stop).resume()
}
