// Drives a native peer (pc_peer, or any program speaking tests/interop/PROTOCOL.md)
// over JSON lines on stdin/stdout. Processes are only ever killed by their recorded PID.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import fs from 'node:fs';
import { LineProcess, ProcessExitError } from './line_process.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const interopDir = path.resolve(here, '..');
export const repoRoot = path.resolve(interopDir, '..', '..');

/** arg as it is, unless it is a relative path that exists against the cwd or the repository root. */
export function resolveArg(arg) {
  if (path.isAbsolute(arg) || !arg.includes('/') || arg.startsWith('-')) return arg;
  for (const base of [process.cwd(), repoRoot]) {
    const p = path.resolve(base, arg);
    if (fs.existsSync(p)) return p;
  }
  return arg;
}

// The command line for the native peer: $PC_PEER split on spaces (so
// `PC_PEER="node tests/interop/tools/fake_native_peer.mjs"` works), or the
// default build location. Relative paths are tried against the cwd first, then
// the repository root, so the tests run from either place.
export function nativeCommand(env = process.env) {
  const spec = (env.PC_PEER ?? '').trim();
  const argv = spec ? spec.split(/\s+/) : [path.join(repoRoot, 'build', 'tests', 'pc_peer')];
  return argv.map(resolveArg);
}

/** BUILD_DIR/tests when $PC_PEER is a pc_peer binary (run.sh sets it to BUILD_DIR/tests/pc_peer), else null. */
export function testsDirFromPcPeer(env = process.env) {
  const pc = (env.PC_PEER ?? '').trim();
  return pc && !/\s/.test(pc) && path.basename(pc) === 'pc_peer' ? path.dirname(resolveArg(pc)) : null;
}

export { ProcessExitError as NativeExitError };

export class NativePeer extends LineProcess {
  /**
   * @param {object} o
   * @param {'offer'|'answer'} o.role
   * @param {string[]} [o.command] argv prefix (default nativeCommand()); `--role X` is appended
   * @param {string} [o.name] label used in logs
   */
  constructor({ role, command = nativeCommand(), name = `native-${role}`, verbose = !!process.env.INTEROP_VERBOSE }) {
    super([...command, '--role', role], { label: name, verbose, stderrLines: 200, stopGraceMs: 2000 });
    this.name = name;
  }

  describe() { return this.describeStderr(); }

  describeStderr(n = 30) {
    return this.stderrTail.length ? `--- last ${Math.min(n, this.stderrTail.length)} stderr lines of ${this.name}:\n${this.stderrTail.slice(-n).join('\n')}` : `(${this.name}: no stderr)`;
  }
}
