// Baseline for bench/datachannel_bench: the same measurement (setup create -> open, then 16 KiB
// messages for N seconds) between two RTCPeerConnections of libwebrtc (@roamhq/wrtc, the
// polyfill trystero's Node peers use) in one Node process over loopback.
// Usage: node wrtc_datachannel.mjs [seconds=10] [setups=10]
import {createRequire} from 'node:module'
import {cpuUsage} from 'node:process'
const require = createRequire(new URL('../../tests/interop/package.json', import.meta.url))
const {RTCPeerConnection} = require('@roamhq/wrtc')

const seconds = Number(process.argv[2] ?? 10)
const setups = Number(process.argv[3] ?? 10)

const gathered = pc =>
  new Promise(res => {
    if (pc.iceGatheringState === 'complete') return res()
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && res()
  })

async function connect() {
  const start = performance.now()
  const a = new RTCPeerConnection({iceServers: []})
  const b = new RTCPeerConnection({iceServers: []})
  const sender = a.createDataChannel('data')
  const opened = Promise.all([
    new Promise(res => (sender.onopen = res)),
    new Promise(res => (b.ondatachannel = e => res(e.channel)))
  ])
  await a.setLocalDescription(await a.createOffer())
  await gathered(a)
  await b.setRemoteDescription(a.localDescription)
  await b.setLocalDescription(await b.createAnswer())
  await gathered(b)
  await a.setRemoteDescription(b.localDescription)
  const [, receiver] = await opened
  return {a, b, sender, receiver, ms: performance.now() - start}
}

const times = []
for (let i = 0; i < setups; i++) {
  const pair = await connect()
  times.push(pair.ms)
  pair.a.close()
  pair.b.close()
}
times.sort((x, y) => x - y)
const median = times[Math.floor(times.length / 2)]
console.log(`setup (create -> open), ${setups} runs: median ${median.toFixed(1)} ms`)

const {a, b, sender, receiver} = await connect()
const message = new Uint8Array(16 * 1024).fill(0x5a)
let received = 0
receiver.binaryType = 'arraybuffer'
receiver.onmessage = e => (received += e.data.byteLength)
const cpu0 = cpuUsage()
const t0 = performance.now()
const deadline = t0 + seconds * 1000
// @roamhq/wrtc never fires bufferedamountlow: poll, as trystero's Node test peers must.
while (performance.now() < deadline) {
  while (sender.bufferedAmount <= 1 << 20) sender.send(message)
  await new Promise(res => setTimeout(res, 1))
}
while (sender.bufferedAmount > 0) await new Promise(res => setTimeout(res, 5))
await new Promise(res => setTimeout(res, 50))
const elapsed = (performance.now() - t0) / 1000
const cpu = cpuUsage(cpu0)
const cpuSeconds = (cpu.user + cpu.system) / 1e6
const mb = received / 1e6
console.log(
  `throughput, 16 KiB messages, ${elapsed.toFixed(1)} s: ${(mb / elapsed).toFixed(1)} MB/s, ` +
    `${(mb / cpuSeconds).toFixed(1)} MB per CPU-second`
)
console.log(
  JSON.stringify({impl: 'libwebrtc (@roamhq/wrtc)', setup_ms_median: median, mb_per_s: mb / elapsed, mb_per_cpu_s: mb / cpuSeconds})
)
a.close()
b.close()
process.exit(0)
