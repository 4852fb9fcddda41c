// A local Supabase Realtime server for tests: just the broadcast side of the Phoenix channel
// protocol that trystero@0.22.0's supabase strategy (supabase-js 2.109 / realtime-js) and the
// native client use, on 127.0.0.1. See /work/shared/design/managed-protocols.md sections 1 and 3.
// Prints "listening <port>" once it accepts connections and runs until killed (or stdin closes).
//
//   node tests/interop/relays/supabase_server.mjs [--port N] [--reject-joins N] [--junk] [--hold-sdp MS]
//        [--ignore-joins N] [--silent-heartbeats] [--key KEY] [--verbose]
//
//  * WebSocket at /realtime/v1/websocket?apikey=..&vsn=1.0.0|2.0.0 (vsn 1.0.0 when absent, as
//    the real server): vsn 2.0.0 speaks JSON arrays [join_ref, ref, topic, event, payload] plus
//    binary user broadcasts (kind 3 in, kind 4 out); vsn 1.0.0 speaks JSON objects only.
//  * heartbeat, phx_join (a re-join replaces the membership), phx_leave (reply, then phx_close),
//    access_token (ignored); broadcasts fan out to the other members of the topic (to the sender
//    too only when it joined with broadcast.self) and are dropped on topics the sender has not
//    joined (the real server answers those with an "unmatched topic" error).
//  * POST /realtime/v1/api/broadcast (any query string): {"messages":[{topic,event,payload}]}
//    fans out to the members of "realtime:<topic>" and answers 202; OPTIONS answers CORS.
//  * --reject-joins N: the first N phx_join pushes are refused with {status:"error"} (tests of
//    a client's rejoin path).
//  * --hold-sdp MS: "sdp" broadcasts (trystero's offers and answers) are delivered MS later, so
//    that peers joining together both hear the other's announce and offer before an offer lands
//    (their offers cross, which is what managed-protocols.md 3.1 is about).
//  * --ignore-joins N: the first N phx_join pushes get no reply at all (a client's join timeout);
//    --silent-heartbeats: heartbeats get no reply (a client's heartbeat timeout).
//  * --key KEY: a WebSocket upgrade whose apikey is not KEY is answered 401 with
//    {"message":"Invalid API key"}, as Supabase's API gateway answers a wrong key.
//  * --junk: every accepted join is followed by JUNK_FRAMES (malformed frames a client must drop;
//    vsn 2.0.0 sockets only, as realtime-js itself would throw on some of them).
import http from 'node:http'
import {WebSocketServer} from 'ws'

const args = process.argv.slice(2)
const argValue = (name, fallback) => {
  const at = args.indexOf(name)
  return at >= 0 ? args[at + 1] : fallback
}
const port = Number(argValue('--port', 0))
let joinsToReject = Number(argValue('--reject-joins', 0))
const verbose = args.includes('--verbose')
const junk = args.includes('--junk')
const holdSdpMs = Number(argValue('--hold-sdp', 0))
let joinsToIgnore = Number(argValue('--ignore-joins', 0))
const requiredKey = argValue('--key', null)
const silentHeartbeats = args.includes('--silent-heartbeats')
const log = (...a) => verbose && console.error('[supabase-server]', ...a)

const WS_PATH = '/realtime/v1/websocket'
const REST_PATH = '/realtime/v1/api/broadcast'
const MAX_MESSAGE_BYTES = 1 << 20
const KIND_USER_BROADCAST_PUSH = 3
const KIND_USER_BROADCAST = 4
const ENCODING_BINARY = 0
const ENCODING_JSON = 1

// topic -> Map(socket -> {joinRef, self, ack})
const members = new Map()
const stats = {connections: 0, joins: 0, rejected: 0, broadcastsIn: 0, delivered: 0, rest: 0, malformed: 0}

// ---------------------------------------------------------------------------------------------
// Frames

// A vsn 2.0.0 kind-3 frame (userBroadcastPush) as a message, or null when malformed.
function decodeBroadcastPush(buf) {
  if (buf.length < 7 || buf[0] !== KIND_USER_BROADCAST_PUSH) return null
  const lengths = [buf[1], buf[2], buf[3], buf[4], buf[5]]
  const encoding = buf[6]
  let offset = 7
  const [joinRef, ref, topic, event, metadata] = lengths.map(len => {
    const s = buf.subarray(offset, offset + len).toString('latin1')
    offset += len
    return s
  })
  if (offset > buf.length) return null
  const raw = buf.subarray(offset)
  let payload
  if (encoding === ENCODING_JSON) {
    try {
      payload = JSON.parse(raw.toString('utf8'))
    } catch {
      return null
    }
  } else if (encoding === ENCODING_BINARY) {
    payload = Buffer.from(raw)
  } else {
    return null
  }
  const body = {type: 'broadcast', event, payload}
  if (metadata) body.meta = metadata
  return {join_ref: joinRef || null, ref: ref || null, topic, event: 'broadcast', payload: body}
}

// A user broadcast as a vsn 2.0.0 kind-4 frame (userBroadcast).
function encodeBroadcast(topic, event, payload) {
  const binary = Buffer.isBuffer(payload)
  const body = binary ? payload : Buffer.from(JSON.stringify(payload ?? null), 'utf8')
  const topicBytes = Buffer.from(topic, 'utf8')
  const eventBytes = Buffer.from(event, 'utf8')
  const header = Buffer.from([KIND_USER_BROADCAST, topicBytes.length, eventBytes.length, 0,
    binary ? ENCODING_BINARY : ENCODING_JSON])
  return Buffer.concat([header, topicBytes, eventBytes, body])
}

function decodeText(socket, text) {
  const v = JSON.parse(text)
  if (socket.vsn === '2.0.0') {
    if (!Array.isArray(v) || v.length !== 5) return null
    const [join_ref, ref, topic, event, payload] = v
    return {join_ref, ref, topic, event, payload}
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return null
  return {join_ref: v.join_ref ?? null, ref: v.ref ?? null, topic: v.topic, event: v.event, payload: v.payload}
}

function sendMessage(socket, {join_ref = null, ref = null, topic, event, payload}) {
  if (socket.readyState !== socket.OPEN) return
  if (socket.vsn === '2.0.0') socket.send(JSON.stringify([join_ref, ref, topic, event, payload]))
  else socket.send(JSON.stringify({topic, event, payload, ref}))
}

const reply = (socket, msg, status, response = {}) =>
  sendMessage(socket, {join_ref: msg.join_ref, ref: msg.ref, topic: msg.topic, event: 'phx_reply',
    payload: {status, response}})

// Malformed frames for --junk: not JSON, wrong shapes and types, unknown and truncated binary.
const JUNK_FRAMES = [
  'not json',
  '[1,2]',
  '{"topic":"t"}',
  '[null,null,7,"broadcast",{}]',
  '[null,null,"realtime:x","broadcast",{"type":"broadcast","event":"join","payload":{"peerId":',
  Buffer.from([9, 0, 0, 0, 1]),
  Buffer.from([4, 200, 1, 0, 1, 120]),
  Buffer.from([4, 1, 1, 0, 1, 116, 101, 123]),
  Buffer.from([4, 1, 1, 0, 7, 116, 101, 49]),
  Buffer.alloc(0),
]

// ---------------------------------------------------------------------------------------------
// Channels

function deliver(socket, topic, event, payload) {
  stats.delivered++
  if (socket.vsn === '2.0.0') {
    // Kind-4 binary for JSON payloads, as the real server; text arrays would work too.
    if (socket.readyState === socket.OPEN) socket.send(encodeBroadcast(topic, event, payload))
    return
  }
  sendMessage(socket, {topic, event: 'broadcast', payload: {type: 'broadcast', event, payload}})
}

// Fans a broadcast out to the members of topic; sender null for REST broadcasts.
function fanOut(sender, topic, event, payload) {
  if (holdSdpMs > 0 && event === 'sdp') {
    setTimeout(() => fanOutNow(sender, topic, event, payload), holdSdpMs)
    return
  }
  fanOutNow(sender, topic, event, payload)
}

function fanOutNow(sender, topic, event, payload) {
  const room = members.get(topic)
  if (!room) return
  for (const [socket, membership] of room) {
    if (socket === sender && !membership.self) continue
    deliver(socket, topic, event, payload)
  }
}

function leave(socket, topic) {
  const room = members.get(topic)
  if (!room) return
  room.delete(socket)
  socket.topics.delete(topic)
  if (room.size === 0) members.delete(topic)
}

function handleJoin(socket, msg) {
  stats.joins++
  if (joinsToIgnore > 0) {
    joinsToIgnore--
    return
  }
  if (joinsToReject > 0) {
    joinsToReject--
    stats.rejected++
    return reply(socket, msg, 'error', {reason: 'join refused by the test server (--reject-joins)'})
  }
  const broadcast = msg.payload?.config?.broadcast ?? {}
  if (!members.has(msg.topic)) members.set(msg.topic, new Map())
  members.get(msg.topic).set(socket, {joinRef: msg.join_ref ?? msg.ref, self: !!broadcast.self, ack: !!broadcast.ack})
  socket.topics.add(msg.topic)
  reply(socket, msg, 'ok', {postgres_changes: []})
  if (junk && socket.vsn === '2.0.0') JUNK_FRAMES.forEach(frame => socket.send(frame))
}

function handleBroadcast(socket, msg) {
  stats.broadcastsIn++
  const membership = members.get(msg.topic)?.get(socket)
  if (!membership) return reply(socket, msg, 'error', {reason: 'unmatched topic'})
  const body = msg.payload
  if (!body || typeof body.event !== 'string') return
  fanOut(socket, msg.topic, body.event, body.payload)
  if (membership.ack && msg.ref) reply(socket, msg, 'ok')
}

function handleMessage(socket, msg) {
  if (!msg || typeof msg.topic !== 'string' || typeof msg.event !== 'string') {
    stats.malformed++
    return
  }
  log(socket.id, msg.event, msg.topic, msg.ref)
  if (msg.topic === 'phoenix') {
    if (msg.event === 'heartbeat' && !silentHeartbeats) reply(socket, msg, 'ok')
    return
  }
  switch (msg.event) {
    case 'phx_join':
      return handleJoin(socket, msg)
    case 'phx_leave':
      leave(socket, msg.topic)
      reply(socket, msg, 'ok')
      return sendMessage(socket, {join_ref: msg.join_ref, ref: msg.join_ref, topic: msg.topic,
        event: 'phx_close', payload: {}})
    case 'broadcast':
      return handleBroadcast(socket, msg)
    default: // access_token, presence: nothing to do for broadcast-only clients
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP: the REST broadcast fallback and the WebSocket upgrade

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'apikey, authorization, content-type, x-client-info',
  'Access-Control-Allow-Methods': 'POST, OPTIONS',
}

function handleRest(req, res) {
  let body = ''
  let tooBig = false
  req.setEncoding('utf8')
  req.on('data', chunk => {
    body += chunk
    if (body.length > MAX_MESSAGE_BYTES) tooBig = true
  })
  req.on('end', () => {
    let messages
    try {
      messages = tooBig ? null : JSON.parse(body).messages
    } catch {
      messages = null
    }
    if (!Array.isArray(messages)) {
      stats.malformed++
      res.writeHead(400, {...CORS, 'Content-Type': 'application/json'})
      return res.end('{"error":"expected {\\"messages\\": [...]}"}')
    }
    for (const m of messages) {
      if (!m || typeof m.topic !== 'string' || typeof m.event !== 'string') continue
      stats.rest++
      fanOut(null, `realtime:${m.topic}`, m.event, m.payload)
    }
    res.writeHead(202, {...CORS, 'Content-Type': 'application/json'})
    res.end('{"message":"Broadcast sent"}')
  })
}

const server = http.createServer((req, res) => {
  const {pathname} = new URL(req.url, 'http://localhost')
  if (pathname === REST_PATH && req.method === 'OPTIONS') {
    res.writeHead(204, CORS)
    return res.end()
  }
  if (pathname === REST_PATH && req.method === 'POST') return handleRest(req, res)
  res.writeHead(404, CORS)
  res.end()
})

const wss = new WebSocketServer({noServer: true, maxPayload: MAX_MESSAGE_BYTES})
let nextSocketId = 0

server.on('upgrade', (req, sock, head) => {
  const url = new URL(req.url, 'http://localhost')
  if (url.pathname !== WS_PATH) {
    sock.end('HTTP/1.1 404 Not Found\r\n\r\n')
    return
  }
  if (requiredKey !== null && url.searchParams.get('apikey') !== requiredKey) {
    const body = '{"message":"Invalid API key"}'
    sock.end(`HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    return
  }
  wss.handleUpgrade(req, sock, head, socket => {
    socket.vsn = url.searchParams.get('vsn') === '2.0.0' ? '2.0.0' : '1.0.0'
    socket.id = ++nextSocketId
    socket.topics = new Set()
    stats.connections++
    log(socket.id, 'connected', socket.vsn, url.searchParams.get('apikey'))
    socket.on('message', (data, isBinary) => {
      let msg = null
      try {
        if (isBinary) msg = socket.vsn === '2.0.0' ? decodeBroadcastPush(data) : null
        else msg = decodeText(socket, data.toString('utf8'))
      } catch {
        msg = null
      }
      handleMessage(socket, msg)
    })
    socket.on('close', () => {
      for (const topic of [...socket.topics]) leave(socket, topic)
      log(socket.id, 'closed')
    })
    socket.on('error', () => {})
  })
})

server.on('listening', () => console.log(`listening ${server.address().port}`))
server.listen(port, '127.0.0.1')

process.on('SIGUSR2', () => console.error(JSON.stringify(stats)))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
