// Units of `fleetkit stores --systemd` without systemd (PID 1 is not systemd here): the command run
// into a temporary root, its units parsed as systemd reads them, verified, and each one's ExecStart=
// run as its User= with its Environment= and WorkingDirectory= (nothing of the test's environment).
// Shared by test/provision/stores-systemd.test.ts and secure-systemd.test.ts.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { STORE_KINDS } from '../../lib/registry/index.ts';
import { fixedPorts } from '../../provision/stores/systemd.ts';
import { FLEETKIT } from './agents.ts';

const execFileAsync = promisify(execFile);
/** The PATH systemd gives a service; nothing else of the test's environment reaches it. */
export const SYSTEMD_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin';

export async function fleetkitStores(args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [FLEETKIT, 'stores', ...args], {
      timeout: 120_000,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** An offset that puts every planned port (3 members of each store) on a free port. */
export async function freeOffset(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = 10_000 + Math.floor(Math.random() * 200) * 50;
    const ports = STORE_KINDS.flatMap((kind) =>
      [1, 2, 3].flatMap((k) => Object.values(fixedPorts(kind, k, offset)).filter((p) => p > 0)),
    );
    const free = await Promise.all(ports.map(canListen));
    if (free.every(Boolean)) return offset;
  }
  throw new Error('no free port offset found');
}

export function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export interface UnitFile {
  text: string;
  /** [section, key, value], continuation lines joined. */
  entries: [string, string, string][];
}

/** A unit file as systemd reads it: sections, keys, values; a line ending in `\` continues. */
export function parseUnit(text: string): UnitFile {
  const entries: [string, string, string][] = [];
  let section = '';
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  for (const line of lines) {
    if (/^\s*([#;]|$)/.test(line)) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      continue;
    }
    const entry = /^([A-Za-z]+)=(.*)$/.exec(line);
    assert.ok(entry, `a unit line of the form Key=value: ${line}`);
    entries.push([section, entry[1] as string, entry[2] as string]);
  }
  return { text, entries };
}

export const valuesOf = (unit: UnitFile, section: string, key: string) =>
  unit.entries.filter(([s, k]) => s === section && k === key).map(([, , v]) => v);

/** A command line as systemd splits it (systemd.service(5), "Command lines"), specifiers and $$ undone. */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  const escapeOf = (c: string) => ({ n: '\n', t: '\t', '\\': '\\', '"': '"', "'": "'", ' ': ' ' })[c];
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++;
    if (i >= line.length) break;
    let word = '';
    const quote = line[i] === '"' || line[i] === "'" ? line[i++] : undefined;
    for (; i < line.length; i++) {
      const c = line[i] as string;
      if (quote ? c === quote : c === ' ' || c === '\t') {
        if (quote) i++;
        break;
      }
      if (c === '\\') {
        const next = escapeOf(line[++i] as string);
        assert.ok(next !== undefined, `a known escape in ${line}`);
        word += next;
      } else word += c;
    }
    assert.ok(!/(^|[^%])%[^%]/.test(word.replaceAll('%%', '')), `no unescaped specifier in ${word}`);
    assert.ok(!/\$[A-Za-z{]/.test(word.replaceAll('$$', '')), `no variable in ${word}`);
    words.push(word.replaceAll('%%', '%').replaceAll('$$', '$'));
  }
  return words;
}

/** Runs a unit's service as systemd would (no Restart= handling: the test checks the store itself). */
export function runLikeSystemd(unit: UnitFile): ChildProcess {
  const [exec] = valuesOf(unit, 'Service', 'ExecStart');
  assert.ok(exec, 'an ExecStart=');
  const [command, ...args] = splitCommandLine(exec);
  assert.ok(command && path.isAbsolute(command), `ExecStart names an absolute program: ${command}`);
  const env: Record<string, string> = { PATH: SYSTEMD_PATH };
  for (const assignment of valuesOf(unit, 'Service', 'Environment').flatMap(splitCommandLine)) {
    const [name, ...rest] = assignment.split('=');
    env[name as string] = rest.join('=');
  }
  const [cwd] = valuesOf(unit, 'Service', 'WorkingDirectory');
  // As the unit's User= (and Group=), as systemd would: the store must run from what that user may read.
  const [user] = valuesOf(unit, 'Service', 'User');
  const ids = user ? idsOf(user) : {};
  const child = spawn(command, args, { cwd: cwd?.replaceAll('%%', '%'), env, stdio: 'ignore', ...ids });
  running.add(child);
  return child;
}

/** A user's uid and gid (id -u, id -g). */
export function idsOf(user: string): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim()),
  };
}

/** The real uid a process runs as (/proc/PID/status). */
export async function uidOf(pid: number): Promise<number> {
  return Number(/^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
}

/** Every process runLikeSystemd started and stopAll has not stopped. */
const running = new Set<ChildProcess>();
export async function stopAll(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await gone;
      }
      running.delete(child);
    }),
  );
}

/** systemd-analyze verify works offline here; if it cannot run at all, the test says so and goes on. */
export async function verifyUnits(files: string[]): Promise<'verified' | 'skipped'> {
  if (!existsSync('/usr/bin/systemd-analyze')) return 'skipped';
  try {
    await execFileAsync('/usr/bin/systemd-analyze', ['verify', ...files], { timeout: 60_000 });
    return 'verified';
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    assert.fail(`systemd-analyze verify: ${e.stderr || e.message}`);
  }
}

export async function unitsIn(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith('.service')).sort();
}
