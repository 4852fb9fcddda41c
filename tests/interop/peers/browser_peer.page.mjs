// The browser side of browser_peer.mjs (Chromium or Firefox): bundled with esbuild (from tests/interop/node_modules)
// into tests/interop/dist/browser_peer.bundle.js together with trystero@0.22.0. It exposes
// window.startRoomPeer(options); protocol lines leave the page through window.emitLine (a
// playwright binding) and commands arrive through window.roomPeer.handle(msg).
import * as nostr from 'trystero/nostr';
import * as mqtt from 'trystero/mqtt';
import * as torrent from 'trystero/torrent';
import * as firebase from 'trystero/firebase';
import * as supabase from 'trystero/supabase';
import { RoomProtocolPeer, trysteroConfig } from './node_peer.mjs';

const strategies = { nostr, mqtt, torrent, firebase, supabase };

window.startRoomPeer = (args) => {
  const trystero = strategies[args.strategy];
  const out = (obj) => window.emitLine(obj);
  if (!trystero) {
    out({ event: 'error', message: `unknown strategy ${args.strategy}` });
    return;
  }
  const peer = new RoomProtocolPeer({
    impl: args.browser ?? 'chromium',
    strategy: args.strategy,
    trystero,
    config: trysteroConfig(args),
    roomId: args.roomId,
    out,
    onQuit: () => window.emitQuit(),
    greet: !!args.greet,
  });
  window.roomPeer = peer;
  if (args.deferJoin) peer.standby();
  else peer.start();
};
window.interopReady = true;
