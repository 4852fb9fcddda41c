// The `trystero` command line (tools/) end to end, on loopback: its built-in Nostr relay, file
// transfer and pipe between two CLI processes, chat with real trystero@0.22.0 peers (Node and a
// Chromium page) through that relay, a chat over supabase (the local Realtime server), and the
// errors a user meets: bad options, a wrong password, an unreachable relay.
//
// Env: TRYSTERO_CLI (default: BUILD/tools/trystero next to $PC_PEER, else build/tools/trystero).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { interopDir, repoRoot } from './lib/native.mjs';
import { LineProcess } from './lib/line_process.mjs';
import { startRelay } from './lib/relays.mjs';

const buildDir = process.env.PC_PEER ? path.resolve(path.dirname(process.env.PC_PEER), '..') : path.join(repoRoot, 'build');
const CLI = process.env.TRYSTERO_CLI || path.join(buildDir, 'tools', 'trystero');
const NODE_PEER = path.join(interopDir, 'peers', 'node_peer.mjs');
const BROWSER_PEER = path.join(interopDir, 'peers', 'browser_peer.mjs');
const unavailable = fs.existsSync(CLI) ? null : `${CLI} not built`;
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const uid = () => Math.random().toString(36).slice(2, 10);

/**
 * A child process whose stdout lines (JSON, or text kept as {text}) are awaitable, with its whole
 * stderr and its raw stdout bytes; stopped by SIGTERM, then SIGKILL, to its recorded PID.
 */
class Proc extends LineProcess {
  constructor(argv, { label = path.basename(argv[0]), stdin = 'pipe' } = {}) {
    super(argv, { label, stdin, textLines: true, rejectOnError: false, stopBy: 'SIGTERM', stopGraceMs: 5000 });
    this.stderr = '';
    this.stdoutBytes = [];
    this.child.stdout.on('data', (b) => this.stdoutBytes.push(b));
    this.child.stderr.on('data', (b) => { this.stderr += b; });
  }
  describe() { return `stderr: ${this.stderr.slice(-2000)}`; }
  // Resolves once stderr matches `pattern` (an event, not a poll: checked on each chunk).
  stderrMatch(pattern, ms, what = String(pattern)) {
    if (pattern.test(this.stderr)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => { if (pattern.test(this.stderr)) { done(); resolve(); } };
      const timer = setTimeout(() => { done(); reject(new Error(`${this.label}: no ${what} within ${ms} ms; stderr: ${this.stderr.slice(-2000)}`)); }, ms);
      const done = () => { clearTimeout(timer); this.child.stderr.off('data', check); };
      this.child.stderr.on('data', check);
    });
  }
  async exitCode(ms, what = 'exit') {
    const result = await this.waitExit(ms);
    if (!result) throw new Error(`${this.label}: did not ${what} within ${ms} ms; stderr: ${this.stderr.slice(-2000)}`);
    return result.code;
  }
}

const cli = (args, opts) => new Proc([CLI, ...args], { label: `trystero ${args[0]}`, ...opts });

describe('trystero command line', { skip: unavailable ?? false }, () => {
  let recorded = null;  // the files the record test wrote, for the stream test
  let relay;
  let url;
  let scratch;
  const procs = [];
  const track = (p) => { procs.push(p); return p; };
  const common = (room, extra = []) => ['--room', room, '--relay', url, '--local', '--json', ...extra];

  before(async () => {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'trystero-cli-test-'));
    relay = cli(['relay', '--port', '0', '--json']);
    const listening = await relay.waitFor((o) => o.event === 'listening', 10000, 'the relay to listen');
    url = listening.url;
    assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+$/);
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await relay?.stop();
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  test('bad usage is a clear error with exit code 2', async () => {
    const cases = [
      [[], /no command given/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['send', '--room', 'r'], /send needs at least one FILE/],
      [['receive'], /receive needs --room ROOM/],
      [['chat', 'r', '--strategy', 'carrier-pigeon'], /unknown strategy 'carrier-pigeon'/],
      [['chat', 'r', '--relay', 'http://x'], /--relay wants a ws:\/\/ or wss:\/\/ URL/],
      [['chat', 'r', '--turn', 'turn:x:3478'], /--turn wants URL,USER,PASS/],
      [['chat', 'r', '--timeout', 'soon'], /--timeout wants a non-negative number/],
      [['send', '/nonexistent/file', '--room', 'r'], /cannot send '\/nonexistent\/file'/],
      [['chat', 'r', '--strategy', 'supabase', '--supabase-key', 'k'], /--strategy supabase wants --app-id https:\/\/<project>\.supabase\.co/],
      [['chat', 'r', '--strategy', 'supabase', '--app-id', 'https://x.supabase.co'], /--strategy supabase needs --supabase-key/],
      [['chat', 'r', '--supabase-key', 'k'], /--supabase-key needs --strategy supabase/],
      [['stream', '--room', 'r'], /stream plays one or two files/],
    ];
    for (const [args, message] of cases) {
      const p = cli(args);
      assert.equal(await p.exitCode(10000), 2, `${args.join(' ')}: ${p.stderr}`);
      assert.match(p.stderr, message, args.join(' '));
    }
    const help = cli(['--help']);
    assert.equal(await help.exitCode(10000), 0);
    assert.match(Buffer.concat(help.stdoutBytes).toString(), /trystero send FILE/);
  });

  test('send → receive: files arrive byte for byte, verified, with the rate reported', async () => {
    const room = `files-${uid()}`;
    const files = [['big.bin', randomBytes(9 * 1024 * 1024 + 123)], ['empty.txt', Buffer.alloc(0)], ['small.txt', Buffer.from('hello\n')]];
    const paths = files.map(([name, bytes]) => { const p = path.join(scratch, name); fs.writeFileSync(p, bytes); return p; });
    const dir = path.join(scratch, 'inbox');
    const receiver = track(cli(['receive', '--dir', dir, ...common(room, ['--timeout', '60'])]));
    const sender = track(cli(['send', ...paths, ...common(room, ['--timeout', '60'])]));
    const [rc, sc] = await Promise.all([receiver.exitCode(90000), sender.exitCode(90000)]);
    assert.equal(rc, 0, `receiver: ${receiver.stderr}`);
    assert.equal(sc, 0, `sender: ${sender.stderr}`);
    for (const [name, bytes] of files) {
      assert.equal(sha256(fs.readFileSync(path.join(dir, name))), sha256(bytes), name);
      const got = receiver.lines.find((o) => o.event === 'received' && o.name === name);
      assert.equal(got?.verified, true, name);
    }
    assert.deepEqual(fs.readdirSync(dir).sort(), files.map(([n]) => n).sort(), 'no temporary files left');
    const sent = sender.lines.find((o) => o.event === 'sent' && o.name === 'big.bin');
    assert.ok(sender.lines.some((o) => o.event === 'verified'));
    console.log(`[cli] send→receive 9 MiB: ${sent.megabytesPerSecond.toFixed(1)} MB/s (sender), ${receiver.lines.find((o) => o.name === 'big.bin' && o.event === 'received').megabytesPerSecond.toFixed(1)} MB/s (receiver)`);
  });

  test('pipe carries binary data byte for byte and both ends exit 0', async () => {
    const room = `pipe-${uid()}`;
    const input = randomBytes(3 * 1024 * 1024 + 7);
    const inFile = path.join(scratch, 'pipe.in');
    fs.writeFileSync(inFile, input);
    const source = track(new Proc(['/bin/sh', '-c', `exec "$0" "$@" < "${inFile}"`, CLI, 'pipe', ...common(room).filter((a) => a !== '--json')], { label: 'pipe source' }));
    const sink = track(new Proc([CLI, 'pipe', ...common(room).filter((a) => a !== '--json')], { label: 'pipe sink', stdin: 'ignore' }));
    const [a, b] = await Promise.all([source.exitCode(60000), sink.exitCode(60000)]);
    assert.equal(a, 0, source.stderr);
    assert.equal(b, 0, sink.stderr);
    const out = Buffer.concat(sink.stdoutBytes);
    assert.equal(out.length, input.length);
    assert.equal(sha256(out), sha256(input));
    assert.equal(Buffer.concat(source.stdoutBytes).length, 0);
  });

  // A peer that joins a pipe mid-stream gets what is sent from then on, says what it missed, and
  // completes; the first peer still gets every byte.
  test('pipe: a peer joining mid-stream gets the rest, says so, and both sinks exit 0', async () => {
    const room = `late-${uid()}`;
    const head = randomBytes(2 * 1024 * 1024 + 3);
    const tail = randomBytes(3 * 1024 * 1024 + 5);
    const args = ['-v', ...common(room).filter((a) => a !== '--json')];
    const source = track(new Proc([CLI, 'pipe', ...args], { label: 'pipe source' }));
    const early = track(new Proc([CLI, 'pipe', ...args], { label: 'early sink', stdin: 'ignore' }));
    const received = (p) => p.stdoutBytes.reduce((n, b) => n + b.length, 0);
    await source.stderrMatch(/peer \S+ joined/, 30000, 'the early sink joining');
    source.child.stdin.write(head);
    while (received(early) < head.length) await new Promise((r) => early.child.stdout.once('data', r));
    const late = track(new Proc([CLI, 'pipe', ...args], { label: 'late sink', stdin: 'ignore' }));
    await source.stderrMatch(/peer \S+ joined[^]*peer \S+ joined/, 30000, `the late sink joining; early sink: ${early.stderr}`);
    await late.stderrMatch(/peer \S+ joined[^]*peer \S+ joined/, 30000, 'the late sink meeting both');
    source.child.stdin.end(tail);
    const codes = await Promise.all([source, early, late].map((p) => p.exitCode(60000)));
    assert.deepEqual(codes, [0, 0, 0], [source, early, late].map((p) => p.stderr).join('\n'));
    const all = () => [source, early, late].map((p) => `${p.label}: ${p.stderr}`).join('\n');
    const [e, l] = [early, late].map((p) => Buffer.concat(p.stdoutBytes));
    assert.equal(e.length, head.length + tail.length, `early sink length; ${all()}`);
    assert.equal(sha256(e), sha256(Buffer.concat([head, tail])), `early sink bytes; ${all()}`);
    assert.equal(l.length, tail.length, `late sink length; ${all()}`);
    assert.equal(sha256(l), sha256(tail), `late sink bytes; ${all()}`);
    assert.match(late.stderr, /joined the pipe of peer \S+ after 2\.0 MiB had been sent/);
  });

  // The sink's reader stops for seconds at a time while 100 MiB arrive: the CLI must not block
  // its network thread (a peer's pings stay answered), memory stays bounded (the sender is held
  // back by pipe-ack), and every byte arrives.
  test('pipe with a slow reader: 100 MiB arrive intact, pings answered meanwhile, memory bounded', async () => {
    const room = `slow-${uid()}`;
    const appId = `slow-${uid()}`;
    const input = randomBytes(100 * 1024 * 1024);
    const inFile = path.join(scratch, 'slow.in');
    fs.writeFileSync(inFile, input);
    const args = ['--app-id', appId, '-v', ...common(room).filter((a) => a !== '--json')];
    const source = track(new Proc(['/bin/sh', '-c', `exec "$0" "$@" < "${inFile}"`, CLI, 'pipe', ...args], { label: 'pipe source' }));
    const sink = track(new Proc([CLI, 'pipe', ...args], { label: 'pipe sink', stdin: 'ignore' }));
    // The source pipes to whoever is there once a first peer is: the sink must be that peer.
    await Promise.all([source, sink].map((p) => p.stderrMatch(/peer \S+ joined/, 30000, 'peer joining')));
    // A third peer in the room, to ping both while the sink's reader is stopped.
    const watcher = track(new Proc([path.join(buildDir, 'tests', 'room_peer'), '--strategy', 'nostr', '--app-id', appId, '--room', room, '--relay', url], { label: 'room_peer' }));
    const joins = [];
    for (let i = 0; i < 2; i++) joins.push(await watcher.waitFor((o) => o.event === 'peer-join' && !joins.includes(o.peerId), 30000, 'two CLI peers'));
    const received = () => sink.stdoutBytes.reduce((n, b) => n + b.length, 0);
    let peakKb = 0;
    const sampler = setInterval(() => {
      try { peakKb = Math.max(peakKb, Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${sink.pid}/status`, 'utf8'))[1])); } catch { /* exited */ }
    }, 200);
    try {
      const started = performance.now();
      while (received() === 0) await new Promise((r) => setTimeout(r, 20));
      let pings = 0;
      for (let round = 0; round < 3 && received() < input.length; round++) {
        sink.child.stdout.pause();
        const before = received();
        for (let k = 0; k < 4; k++) {
          for (const { peerId } of joins) {
            const r = await watcher.request({ cmd: 'ping', peerId }, 5000);
            assert.equal(r.event, 'ping', `ping of ${peerId} while the reader is stopped: ${JSON.stringify(r)}`);
            pings++;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
        assert.equal(received(), before, 'the reader was stopped');
        sink.child.stdout.resume();
        await new Promise((r) => setTimeout(r, 300));
      }
      const [a, b] = await Promise.all([source.exitCode(300000), sink.exitCode(300000)]);
      assert.equal(a, 0, source.stderr);
      assert.equal(b, 0, sink.stderr);
      const out = Buffer.concat(sink.stdoutBytes);
      assert.equal(out.length, input.length);
      assert.equal(sha256(out), sha256(input));
      console.log(`[cli] pipe with a stopped reader: 100 MiB in ${((performance.now() - started) / 1000).toFixed(1)} s, ${pings} pings answered while stopped, sink peak ${Math.round(peakKb / 1024)} MB`);
      assert.ok(peakKb < 300 * 1024, `the sink grew to ${Math.round(peakKb / 1024)} MB`);
    } finally {
      clearInterval(sampler);
    }
  });

  test('a wrong password is a join error (exit 3) naming the problem', async () => {
    const room = `pw-${uid()}`;
    const a = track(cli(['receive', '--dir', path.join(scratch, 'pw'), ...common(room, ['--password', 'right', '--timeout', '20'])]));
    const b = track(cli(['chat', room, '--relay', url, '--local', '--json', '--password', 'wrong', '--timeout', '20'], { label: 'chat wrong pw' }));
    const codes = await Promise.all([a.exitCode(40000), b.exitCode(40000).catch(() => null)]);
    assert.ok(codes.includes(3), `exit codes ${codes}; ${a.stderr} ${b.stderr}`);
    assert.match(a.stderr + b.stderr, /incorrect password .* check --password/);
    await b.stop();
  });

  test('an unreachable relay is named, and the wait times out (exit 4)', async () => {
    const p = cli(['receive', '--room', 'nobody', '--relay', 'ws://127.0.0.1:9', '--local', '--timeout', '7']);
    assert.equal(await p.exitCode(20000), 4, p.stderr);
    assert.match(p.stderr, /relay ws:\/\/127\.0\.0\.1:9 is not reachable/);
    assert.match(p.stderr, /timed out: no peer joined; relays not reachable: ws:\/\/127\.0\.0\.1:9/);
  });

  test('chat with a trystero@0.22.0 peer in node over supabase (a local Realtime server)', async () => {
    const server = await startRelay('supabase');
    try {
      const room = `chat-${uid()}`;
      const peer = track(new Proc([process.execPath, NODE_PEER, '--strategy', 'supabase', '--app-id', server.url, '--room', room, '--supabase-key', 'cli-test-key'], { label: 'node peer' }));
      const ready = await peer.waitFor((o) => o.event === 'ready', 60000, 'ready');
      peer.send({ cmd: 'make-action', id: 1, types: ['chat'] });
      await peer.waitFor((o) => o.event === 'actions', 10000, 'actions');
      const chat = track(cli(['chat', room, '--strategy', 'supabase', '--app-id', server.url, '--supabase-key', 'cli-test-key', '--local', '--json']));
      await chat.waitFor((o) => o.event === 'peer-join' && o.peerId === ready.selfId, 30000, 'the JS peer to join the chat');
      await peer.waitFor((o) => o.event === 'peer-join', 30000, 'the chat to join the JS peer');
      chat.send('hello over supabase');
      const got = await peer.waitFor((o) => o.event === 'receive' && o.type === 'chat', 10000, 'the chat line');
      assert.equal(got.value, 'hello over supabase');
      chat.child.stdin.end();
      assert.equal(await chat.exitCode(10000), 0, chat.stderr);
      await peer.waitFor((o) => o.event === 'peer-leave', 10000, 'the chat to leave');
    } finally {
      await server.dispose();
    }
  });

  // A browser adds a stream (canvas video and oscillator audio) toward `trystero record`, which
  // writes each track to a playable file with its metadata beside it; removeStream ends both
  // files (their headers then count what was written), and Ctrl-C ends the command cleanly.
  test('record: a browser\'s stream becomes an IVF and an Ogg Opus file with its metadata', async () => {
    const room = `record-${uid()}`;
    const dir = path.join(scratch, 'recorded');
    const peer = track(new Proc([process.execPath, BROWSER_PEER, '--strategy', 'nostr', '--app-id', 'trystero-cli', '--room', room, '--relay', url], { label: 'chromium peer' }));
    const ready = await peer.waitFor((o) => o.event === 'ready', 60000, 'ready');
    const rec = track(cli(['record', ...common(room, ['--dir', dir])]));
    const joined = await peer.waitFor((o) => o.event === 'peer-join', 30000, 'the recorder to join');
    peer.send({ cmd: 'add-stream', id: 1, peerId: joined.peerId, meta: { take: 1 } });
    await peer.waitFor((o) => o.event === 'stream-added', 30000, 'add-stream');
    const started = [];
    for (let i = 0; i < 2; i++) started.push(await rec.waitFor((o) => o.event === 'recording' && !started.includes(o), 20000, `recording ${i + 1}`));
    assert.deepEqual(started.map((x) => x.codec.toLowerCase()).sort(), ['opus', 'vp8']);
    const video = started.find((x) => x.kind === 'video').path;
    for (const deadline = Date.now() + 20000; !(fs.existsSync(video) && fs.statSync(video).size > 1500);) {
      if (Date.now() > deadline) assert.fail(`too little video recorded: ${fs.existsSync(video) && fs.statSync(video).size} bytes`);
      await new Promise((r) => setTimeout(r, 200));
    }
    peer.send({ cmd: 'remove-stream', id: 2, peerId: joined.peerId });
    const done = [];
    for (let i = 0; i < 2; i++) done.push(await rec.waitFor((o) => o.event === 'recorded' && !done.includes(o), 20000, `recorded ${i + 1}`));
    assert.ok(done.every((x) => x.ok && x.why === 'ended' && x.frames > 0), JSON.stringify(done));

    const ivf = fs.readFileSync(video);
    assert.equal(ivf.subarray(0, 4).toString('latin1'), 'DKIF');
    assert.equal(ivf.subarray(8, 12).toString('latin1'), 'VP80');
    assert.deepEqual([ivf.readUInt16LE(12), ivf.readUInt16LE(14)], [160, 120], 'the canvas size');
    assert.equal(ivf.readUInt32LE(24), done.find((x) => x.path === video).frames, 'the header counts the frames');
    const audio = fs.readFileSync(started.find((x) => x.kind === 'audio').path);
    assert.equal(audio.subarray(0, 4).toString('latin1'), 'OggS');
    assert.ok(audio.includes(Buffer.from('OpusHead')) && audio.includes(Buffer.from('OpusTags')));
    const sidecar = JSON.parse(fs.readFileSync(video.replace(/\.ivf$/, '.json'), 'utf8'));
    assert.equal(sidecar.peerId, ready.selfId);
    assert.deepEqual(sidecar.streamMeta, { take: 1 }, 'the stream metadata beside the file');
    assert.equal(sidecar.codec.toLowerCase(), 'vp8');
    rec.child.kill('SIGINT');
    assert.equal(await rec.exitCode(10000), 0, rec.stderr);
    console.log(`[cli] record: ${done.map((x) => `${path.basename(x.path)} ${x.frames} frames`).join(', ')}`);
    recorded = { video, audio: started.find((x) => x.kind === 'audio').path, videoFrames: done.find((x) => x.path === video).frames };
  });

  // What `trystero record` wrote, `trystero stream --loop` plays to a browser that joins later:
  // its onPeerStream carries the --meta, it decodes the 160x120 VP8 (a keyframe first: playback
  // starts when the browser accepted the video) and the Opus with energy, and keeps decoding past
  // the end of the file (the loop goes on in RTP time). A file that is not media is refused.
  test('stream: recorded files play into a browser as a stream, looping', async () => {
    assert.ok(recorded, 'needs the files of the record test');
    const notMedia = cli(['stream', path.join(scratch, 'small.txt'), ...common('x')]);
    assert.equal(await notMedia.exitCode(10000), 1, notMedia.stderr);
    assert.match(notMedia.stderr, /trystero: .*small\.txt is neither IVF nor Ogg/);

    const room = `stream-${uid()}`;
    const streamer = track(cli(['stream', recorded.video, recorded.audio, '--loop', '--meta', '{"show":1}', ...common(room)]));
    const peer = track(new Proc([process.execPath, BROWSER_PEER, '--strategy', 'nostr', '--app-id', 'trystero-cli', '--room', room, '--relay', url], { label: 'chromium peer' }));
    const ready = await peer.waitFor((o) => o.event === 'ready', 60000, 'ready');
    const joined = await peer.waitFor((o) => o.event === 'peer-join', 60000, 'the streamer to join');
    const streaming = await streamer.waitFor((o) => o.event === 'streaming', 30000, 'streaming');
    assert.equal(streaming.peerId, ready.selfId);
    const stream = await peer.waitFor((o) => o.event === 'peer-stream' && o.meta, 30000, 'onPeerStream');
    assert.deepEqual(stream.meta, { show: 1 });
    const tracks = [];
    for (let i = 0; i < 2; i++) tracks.push(await peer.waitFor((o) => o.event === 'peer-track' && !tracks.includes(o), 20000, `onPeerTrack ${i + 1}`));
    assert.deepEqual(tracks.map((x) => x.kind).sort(), ['audio', 'video']);
    let stats;
    for (let id = 10, deadline = Date.now() + 30000; ; id++) {
      peer.send({ cmd: 'receive-stats', id, peerId: joined.peerId });
      stats = await peer.waitFor((o) => o.event === 'receive-stats' && o.id === id, 10000, 'receive-stats');
      const video = stats.inbound.find((x) => x.kind === 'video');
      const audio = stats.inbound.find((x) => x.kind === 'audio');
      if (video?.framesDecoded > recorded.videoFrames + 15 && audio?.totalAudioEnergy > 0) break;
      if (Date.now() > deadline) assert.fail(`not decoded past the file's end in 30 s (${recorded.videoFrames} frames): ${JSON.stringify(stats)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const video = stats.inbound.find((x) => x.kind === 'video');
    const audio = stats.inbound.find((x) => x.kind === 'audio');
    assert.ok(video.keyFramesDecoded > 0, JSON.stringify(video));
    assert.deepEqual([video.frameWidth, video.frameHeight], [160, 120], JSON.stringify(video));
    streamer.child.kill('SIGINT');
    assert.equal(await streamer.exitCode(10000), 0, streamer.stderr);
    console.log(`[cli] stream --loop: ${video.framesDecoded} frames decoded (${video.keyFramesDecoded} key, file ${recorded.videoFrames}), `
      + `audio samples ${audio.totalSamplesReceived}, energy ${audio.totalAudioEnergy.toFixed(4)}`);
  });

  // Native to native: `trystero stream` without --loop plays the recording once to `trystero
  // record`, then removes the stream, which completes the new files: the picture size, nearly
  // every frame (RTP on loopback may lose one), the first keyframe byte for byte, and the
  // default metadata (the file names) beside them.
  test('stream → record: a recording played once is recorded again, then the stream ends', async () => {
    assert.ok(recorded, 'needs the files of the record test');
    const room = `restream-${uid()}`;
    const dir = path.join(scratch, 'rerecorded');
    const rec = track(cli(['record', ...common(room, ['--dir', dir])]));
    const streamer = track(cli(['stream', recorded.video, recorded.audio, ...common(room)]));
    const played = await streamer.waitFor((o) => o.event === 'played', 60000, 'played');
    const done = [];
    for (let i = 0; i < 2; i++) done.push(await rec.waitFor((o) => o.event === 'recorded' && !done.includes(o), 20000, `recorded ${i + 1}`));
    assert.ok(done.every((x) => x.ok && x.why === 'ended'), JSON.stringify(done));
    const readIvf = (file) => {
      const bytes = fs.readFileSync(file);
      const frames = [];
      for (let at = bytes.readUInt16LE(6); at + 12 <= bytes.length;) {
        const size = bytes.readUInt32LE(at);
        frames.push(bytes.subarray(at + 12, at + 12 + size));
        at += 12 + size;
      }
      return { width: bytes.readUInt16LE(12), height: bytes.readUInt16LE(14), frames };
    };
    const original = readIvf(recorded.video);
    const again = readIvf(done.find((x) => x.path.endsWith('.ivf')).path);
    assert.deepEqual([again.width, again.height], [original.width, original.height]);
    assert.ok(again.frames.length >= original.frames.length * 0.9 && again.frames.length <= original.frames.length,
      `${again.frames.length} of ${original.frames.length} frames`);
    assert.ok(again.frames[0].equals(original.frames[0]), 'the first keyframe, byte for byte');
    const audioFrames = done.find((x) => x.path.endsWith('.ogg')).frames;
    const sidecar = JSON.parse(fs.readFileSync(done[0].path.replace(/\.[a-z0-9]+$/, '.json'), 'utf8'));
    assert.deepEqual(sidecar.streamMeta, { files: [path.basename(recorded.video), path.basename(recorded.audio)] });
    for (const p of [rec, streamer]) p.child.kill('SIGINT');
    assert.equal(await streamer.exitCode(10000), 0, streamer.stderr);
    assert.equal(await rec.exitCode(10000), 0, rec.stderr);
    console.log(`[cli] stream → record: video ${again.frames.length} of ${original.frames.length} frames, audio ${audioFrames} frames; ${played.frames} sent`);
  });

  for (const host of ['node', 'chromium']) {
    test(`chat with a trystero@0.22.0 peer in ${host} through the built-in relay`, async () => {
      const room = `chat-${uid()}`;
      const peer = track(new Proc([process.execPath, host === 'node' ? NODE_PEER : BROWSER_PEER, '--strategy', 'nostr', '--app-id', 'trystero-cli', '--room', room, '--relay', url], { label: `${host} peer` }));
      const ready = await peer.waitFor((o) => o.event === 'ready', 60000, 'ready');
      peer.send({ cmd: 'make-action', id: 1, types: ['chat'] });
      await peer.waitFor((o) => o.event === 'actions', 10000, 'actions');
      const chat = track(cli(['chat', room, '--relay', url, '--local', '--json']));
      await chat.waitFor((o) => o.event === 'peer-join' && o.peerId === ready.selfId, 30000, 'the JS peer to join the chat');
      await peer.waitFor((o) => o.event === 'peer-join', 30000, 'the chat to join the JS peer');
      chat.send('hello from the command line ✓');
      const got = await peer.waitFor((o) => o.event === 'receive' && o.type === 'chat', 10000, 'the chat line');
      assert.equal(got.kind, 'text');
      assert.equal(got.value, 'hello from the command line ✓');
      peer.send({ cmd: 'send', id: 2, type: 'chat', kind: 'text', value: 'hi from JS' });
      const line = await chat.waitFor((o) => o.event === 'message', 10000, 'the JS line');
      assert.deepEqual(line, { event: 'message', peerId: ready.selfId, text: 'hi from JS' });
      chat.child.stdin.end();
      assert.equal(await chat.exitCode(10000), 0, chat.stderr);
      await peer.waitFor((o) => o.event === 'peer-leave', 10000, 'the chat to leave');
    });
  }
});
