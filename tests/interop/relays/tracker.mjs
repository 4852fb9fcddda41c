// A local WebTorrent tracker for tests: the npm bittorrent-tracker Server with only its
// WebSocket side, on 127.0.0.1. Prints "listening <port>" once it accepts connections and runs
// until killed (or until stdin closes).
//
//   node tests/interop/relays/tracker.mjs [port] [--interval SECONDS] [--verbose]
// bittorrent-tracker/server: the package root also loads the client, whose WebRTC dependency
// (node-datachannel) needs a native binary that is not installed.
import Server from 'bittorrent-tracker/server'

const args = process.argv.slice(2)
const verbose = args.includes('--verbose')
const intervalAt = args.indexOf('--interval')
// The tracker tells WebSocket clients interval/5; default 10 min -> 120 s, as in production.
const intervalMs = intervalAt >= 0 ? Number(args[intervalAt + 1]) * 1000 * 5 : undefined
const port = Number(args.find((a, i) => /^\d+$/.test(a) && (intervalAt < 0 || i !== intervalAt + 1)) || 0)

const server = new Server({http: false, udp: false, ws: true, stats: false, interval: intervalMs})
server.on('error', err => {
  console.error(`tracker error: ${err.message}`)
  process.exit(1)
})
server.on('warning', err => {
  if (verbose) console.error(`tracker warning: ${err.message}`)
})
if (verbose) {
  for (const event of ['start', 'complete', 'update', 'stop']) {
    server.on(event, addr => console.error(`tracker ${event} ${addr}`))
  }
}
server.on('listening', () => console.log(`listening ${server.ws.address().port}`))
server.listen(port, '127.0.0.1')

// Exits at once: server.close() would wait for every client to hang up.
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
