// Regenerates mqtt_vectors.json from the MQTT modules trystero@0.22.0 uses (mqtt 5.x and its
// mqtt-packet), as installed for the interop tests:
//
//   node tests/unit/strategies/mqtt/vectors/mqtt_vectors.mjs [node_modules dir] > mqtt_vectors.json
//
// The node_modules directory defaults to tests/interop/node_modules. Output is deterministic.
//
// "client": the exact bytes a real mqtt.js MqttClient writes for what trystero's mqtt.js does
//   (connect, subscribe root and self topic, publish announce and signal, unsubscribe, ping,
//   end), captured from an in-memory stream, plus the resubscription it sends after a
//   reconnect. Each entry carries the packet as mqtt-packet parses it back (for packet ids).
// "server": packets a broker sends, encoded by mqtt-packet's generate(), with their fields.
// "hostile": malformed inputs and whether mqtt-packet's own parser rejects them.
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, resolve} from 'node:path'
import {Duplex} from 'node:stream'
import {fileURLToPath} from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const modules = resolve(process.argv[2] || resolve(here, '../../../../interop/node_modules'))
const require = createRequire(resolve(modules, 'package.json'))
const mqtt = require('mqtt')
const mqttPacket = require('mqtt-packet')
const hex = b => Buffer.from(b).toString('hex')
const version = name =>
  JSON.parse(readFileSync(resolve(modules, name, 'package.json'), 'utf8')).version

// Deterministic Math.random for mqtt.js's message id provider (and nothing else random here).
let seed = 0x2545f491
Math.random = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0
  return seed / 2 ** 32
}

// Parses one buffer with mqtt-packet; returns {packets, error}.
const parseAll = (bytes, protocolVersion = 4) => {
  const parser = mqttPacket.parser({protocolVersion})
  const packets = []
  let error = null
  parser.on('packet', p => packets.push(p))
  parser.on('error', e => (error ||= e.message))
  parser.parse(Buffer.from(bytes))
  return {packets, error}
}

const plain = packet => {
  const out = {}
  for (const [k, v] of Object.entries(packet)) {
    if (v === undefined || v === null) continue
    if (Buffer.isBuffer(v)) out[k + 'Hex'] = hex(v)
    else out[k] = v
  }
  return out
}

// --- what a real mqtt.js client writes -------------------------------------------------------

const rootTopic = 'bqcrnmmltn4wsek6oa6hi4d5o3o4gnf'
const selfTopic = '2g4o1b7d5pk6s3h3xx3q5vdq4d6ql1g'
const peerTopic = '3fm5i0u8f1d2zyo0kx3wfwl4k0c7dys'
const selfId = 'h4Xb0nP2aQ9zT1cVw8Lm'
const announce = JSON.stringify({peerId: selfId})
const signal = JSON.stringify({peerId: selfId, offer: {type: 'offer', sdp: '1,2,3$AAAA'}})

// Splits a byte stream into whole packets by their fixed headers.
const splitPackets = bytes => {
  const out = []
  let pos = 0
  while (pos < bytes.length) {
    let length = 0
    let i = pos + 1
    for (let shift = 0; ; shift += 7, i++) {
      length += (bytes[i] & 0x7f) * 2 ** shift
      if (!(bytes[i] & 0x80)) break
    }
    const end = i + 1 + length
    out.push(bytes.subarray(pos, end))
    pos = end
  }
  return out
}

const captureClient = async () => {
  const connections = []
  const makeStream = () => {
    const connection = {chunks: [], parser: mqttPacket.parser({protocolVersion: 4})}
    const stream = new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        connection.chunks.push(Buffer.from(chunk))
        connection.parser.parse(Buffer.from(chunk))
        cb()
      }
    })
    // A broker that accepts everything.
    connection.parser.on('packet', p => {
      if (p.cmd === 'connect') {
        stream.push(mqttPacket.generate({cmd: 'connack', returnCode: 0, sessionPresent: false}))
      } else if (p.cmd === 'subscribe') {
        const granted = p.subscriptions.map(() => 0)
        stream.push(mqttPacket.generate({cmd: 'suback', messageId: p.messageId, granted}))
      } else if (p.cmd === 'unsubscribe') {
        stream.push(mqttPacket.generate({cmd: 'unsuback', messageId: p.messageId}))
      } else if (p.cmd === 'pingreq') {
        stream.push(mqttPacket.generate({cmd: 'pingresp'}))
      }
    })
    connections.push(connection)
    return stream
  }
  const tick = () => new Promise(r => setTimeout(r, 20))
  const client = new mqtt.MqttClient(makeStream, {
    clientId: 'mqttjs_0badc0de',
    reconnectPeriod: 10
  })
  client.on('error', e => {
    throw e
  })
  await new Promise(r => client.once('connect', r))
  // What trystero's mqtt.js does for one room.
  client.subscribe(rootTopic)
  client.subscribe(selfTopic)
  client.publish(rootTopic, announce)
  client.publish(peerTopic, signal)
  await tick()
  // A reconnect: mqtt.js sends CONNECT again and resubscribes every active topic at once.
  const reconnected = new Promise(r => client.once('connect', r))
  connections.at(-1).chunks.length && client.stream.destroy()
  await reconnected
  await tick()
  client.unsubscribe(rootTopic)
  client.unsubscribe(selfTopic)
  client.sendPing()
  await tick()
  client.end()
  await tick()
  const seen = {}
  return connections.flatMap((connection, index) =>
    splitPackets(Buffer.concat(connection.chunks)).map(bytes => {
      const {packets, error} = parseAll(bytes)
      if (error || packets.length !== 1) throw new Error('unexpected capture ' + hex(bytes))
      const packet = plain(packets[0])
      seen[packet.cmd] = (seen[packet.cmd] ?? -1) + 1
      return {name: `${packet.cmd}#${seen[packet.cmd]}`, connection: index, hex: hex(bytes), packet}
    })
  )
}

// The default client id mqtt.js makes when none is given (only its shape is checked).
const defaultClientId = () => {
  const client = new mqtt.MqttClient(
    () => new Duplex({read() {}, write(_c, _e, cb) { cb() }}),
    {reconnectPeriod: 0}
  )
  const id = client.options.clientId
  const keepalive = client.options.keepalive
  const protocolVersion = client.options.protocolVersion
  client.end(true)
  return {id, keepalive, protocolVersion}
}

// --- what a broker sends ----------------------------------------------------------------------

const long = n => Array.from({length: n}, (_, i) => String.fromCharCode(97 + (i % 26))).join('')
const serverPackets = [
  ['connack accepted', {cmd: 'connack', returnCode: 0, sessionPresent: false}],
  ['connack session present', {cmd: 'connack', returnCode: 0, sessionPresent: true}],
  ['connack not authorized', {cmd: 'connack', returnCode: 5, sessionPresent: false}],
  ['suback one', {cmd: 'suback', messageId: 1, granted: [0]}],
  ['suback mixed', {cmd: 'suback', messageId: 65535, granted: [0, 1, 2, 128]}],
  ['unsuback', {cmd: 'unsuback', messageId: 4660}],
  ['pingresp', {cmd: 'pingresp'}],
  ['puback', {cmd: 'puback', messageId: 7}],
  ['pubrel', {cmd: 'pubrel', messageId: 8}],
  ['publish announce', {cmd: 'publish', topic: rootTopic, payload: announce, qos: 0}],
  ['publish empty payload', {cmd: 'publish', topic: 't', payload: '', qos: 0}],
  ['publish retain', {cmd: 'publish', topic: 't/r', payload: 'x', qos: 0, retain: true}],
  ['publish qos1', {cmd: 'publish', topic: 'q1', payload: 'one', qos: 1, messageId: 258}],
  [
    'publish qos2 dup',
    {cmd: 'publish', topic: 'q2', payload: 'two', qos: 2, dup: true, messageId: 65535}
  ],
  ['publish utf8', {cmd: 'publish', topic: 'ŧøþïç/✓', payload: '{"peerId":"ünï¢ødé 🎉"}', qos: 0}],
  [
    'publish binary payload',
    {cmd: 'publish', topic: 'bin', payload: Buffer.from([0, 0xff, 0xc3, 0x28, 0x80, 10]), qos: 0}
  ],
  ['publish 2-byte length', {cmd: 'publish', topic: 'len', payload: long(200), qos: 0}],
  ['publish 3-byte length', {cmd: 'publish', topic: 'len', payload: long(20000), qos: 0}],
  // Remaining length exactly 1 MiB, the largest the native decoder accepts by default.
  ['publish 1 MiB boundary', {cmd: 'publish', topic: 'big', payload: long(1048576 - 5), qos: 0}]
]
const server = serverPackets.map(([name, packet]) => {
  const bytes = mqttPacket.generate(packet)
  const {packets, error} = parseAll(bytes)
  if (error || packets.length !== 1) throw new Error('mqtt-packet cannot parse ' + name)
  const entry = {name, hex: hex(bytes), packet: plain(packets[0])}
  if (entry.hex.length > 4096) {
    // Keep the JSON small: a header and a payload pattern the test expands.
    const header = bytes.subarray(0, bytes.length - packet.payload.length)
    entry.hex = undefined
    entry.headerHex = hex(header)
    entry.payloadPattern = 'a-z repeated'
    entry.payloadLength = packet.payload.length
    delete entry.packet.payload
    delete entry.packet.payloadHex
  }
  return entry
})

// --- malformed input --------------------------------------------------------------------------

const hostile = [
  ['remaining length with 5 bytes', '30ffffffff7f'],
  ['remaining length 4 continuation bytes, truncated', '30ffffffff'],
  ['remaining length 1 MiB + 1', '30818040'],
  ['remaining length 256 MiB - 1', '30ffffff7f'],
  ['reserved type 0', '0000'],
  ['reserved type 15', 'f000'],
  ['connack too long', '2003000000'],
  ['connack too short', '200100'],
  ['connack reserved flag bits', '20020200'],
  ['connack bad header flags', '21020000'],
  ['publish qos 3', '3605000174000178'],
  ['publish topic longer than packet', '3004000a7474'],
  ['publish qos1 without packet id', '3203000174'],
  ['publish qos1 packet id 0', '3206000174000078'],
  ['suback bad return code', '9003000103'],
  ['suback no return codes', '90020001'],
  ['unsuback too long', 'b00300010a'],
  ['pingresp with body', 'd00100'],
  ['pubrel wrong flags', '60020001'],
  ['connect from server', '100c00044d5154540402003c0000'],
  ['subscribe from server', '8206000100017400'],
  ['pingreq from server', 'c000'],
  ['disconnect from server', 'e000']
].map(([name, h]) => {
  const {error} = parseAll(Buffer.from(h, 'hex'))
  return {name, hex: h, mqttPacketError: error}
})

const {id, keepalive, protocolVersion} = defaultClientId()
const out = {
  generator: {
    mqtt: version('mqtt'),
    'mqtt-packet': version('mqtt-packet'),
    trystero: version('trystero')
  },
  defaults: {clientIdExample: id, keepalive, protocolVersion, subprotocol: 'mqtt'},
  topics: {rootTopic, selfTopic, peerTopic, selfId, announce, signal},
  client: await captureClient(),
  server,
  hostile
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n')
process.exit(0)
