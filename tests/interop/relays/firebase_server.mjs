#!/usr/bin/env node
// A local Firebase Realtime Database for the interop tests: npm firebase-server 1.1.0 (a
// WebSocket server speaking the RTDB protocol, in memory, open rules) on 127.0.0.1.
//
//   node tests/interop/relays/firebase_server.mjs [--port N] [--name NS] [--secret S]
//                                                  [--rules JSON]
//
// Prints `listening <port>` once it accepts connections. Clients use the database URL
// http://127.0.0.1:<port>?ns=<NS> (the Firebase SDK's emulator form: plain ws://, namespace
// in the query). What it does not do, unlike the real service (see
// /work/shared/design/managed-protocols.md 2.4): it never runs onDisconnect operations (a
// vanished peer's presence stays), never answers `o`, `n`, `s` or `g`, and sends a count frame
// before every message.
//
// --secret makes it accept auth tokens signed with S (HS256 JWTs, firebase-token-generator's
// format: {v, iat, d: auth}; verified and checked for expiry, not issued by anyone) and --rules
// replaces the open rules (a rules document, {"rules": {...}}, judged by targaryen), so that
// clients can be tested against a database that wants sign-in.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const FirebaseServer = require('firebase-server');

let port = 0;
let name = 'trystero-interop';
let secret = null;
let rules = null;
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === '--port') port = Number(process.argv[++i]);
  else if (process.argv[i] === '--name') name = process.argv[++i];
  else if (process.argv[i] === '--secret') secret = process.argv[++i];
  else if (process.argv[i] === '--rules') rules = JSON.parse(process.argv[++i]);
  else throw new Error(`unknown argument ${process.argv[i]}`);
}

const server = new FirebaseServer({ port, address: '127.0.0.1' }, name);
if (secret !== null) server.setAuthSecret(secret);
if (rules !== null) server.setRules(rules);
const ws = server.wss;
const announce = () => console.log(`listening ${server.getPort()}`);
if (ws.address()) announce();
else ws.once('listening', announce);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Dies with the harness: stdin is a pipe the harness never closes.
process.stdin.on('end', stop);
process.stdin.resume();
