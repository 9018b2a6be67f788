// An attendee's laptop, as near as one machine gets: an empty folder holding only the kit downloaded
// from the page, `node` alone on PATH, another user than the one running the tests (nobody, through
// setpriv, when the tests run as root), and a terminal of its own (a process group: Ctrl-C is SIGINT
// to the whole group, as a terminal sends it).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from './eventually.ts';

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
/** nobody/nogroup on Debian. */
export const ATTENDEE_UID = 65534;
const asRoot = process.getuid?.() === 0;

let nodeOnly: Promise<string> | undefined;
/** A folder with `node` in it and nothing else: the attendee's PATH. */
function nodeOnlyPath(): Promise<string> {
  nodeOnly ??= (async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'fleetkit-node-only-'));
    await symlink(process.execPath, path.join(dir, 'node'));
    await chmod(dir, 0o755);
    return dir;
  })();
  return nodeOnly;
}

/** The kit as an attendee downloads it with `curl -O` from the page. */
export async function downloadKit(pageUrl: string): Promise<Buffer> {
  const response = await fetch(new URL('kit/fleetkit.mjs', pageUrl));
  if (!response.ok) throw new Error(`GET /kit/fleetkit.mjs: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/** An empty folder of the attendee's own with the kit in it. */
export async function attendeeFolder(kit: Buffer): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), 'fleetkit-laptop-'));
  await writeFile(path.join(folder, 'fleetkit.mjs'), kit);
  if (asRoot) {
    await chown(folder, ATTENDEE_UID, ATTENDEE_UID);
    await chown(path.join(folder, 'fleetkit.mjs'), ATTENDEE_UID, ATTENDEE_UID);
  }
  return folder;
}

export interface AttendeeTerminal {
  readonly child: ChildProcess;
  readonly folder: string;
  output(): string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Its exit code, or a failure naming what it printed when it does not end within `timeoutMs`. */
  exitCode(timeoutMs: number): Promise<number | null>;
  /** Types a line at the prompt. */
  type(line: string): void;
  /** A key in the terminal: Ctrl-C is SIGINT to every process of it. */
  signal(signal: NodeJS.Signals): void;
  /** Until the output matches; its time in ms. */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<number>;
  /** True while any process of this terminal is alive. */
  alive(): boolean;
}

/** `node fleetkit.mjs ARGS` in the folder, as the attendee (see the top of this file). */
export async function runKit(
  folder: string,
  args: string[],
  /** More of the attendee's environment (FLEET_CLASS_CODE ...). */
  extraEnv: Record<string, string> = {},
): Promise<AttendeeTerminal> {
  const PATH = await nodeOnlyPath();
  const command = ['node', 'fleetkit.mjs', ...args];
  const argv =
    asRoot && SETPRIV
      ? [SETPRIV, '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', ...command]
      : command;
  if (asRoot && !SETPRIV)
    throw new Error('running as root without setpriv: cannot run the kit as another user');
  const child = spawn(argv[0] === 'node' ? path.join(PATH, 'node') : argv[0]!, argv.slice(1), {
    cwd: folder,
    env: { ...extraEnv, PATH, HOME: folder },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const group = child.pid!;
  return {
    child,
    folder,
    output: () => output,
    exited,
    exitCode: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `"${args.join(' ')}" did not end within ${timeoutMs} ms; it printed:\n${output.slice(-2000)}`,
              ),
            ),
          timeoutMs,
        );
      });
      try {
        return (await Promise.race([exited, late])).code;
      } finally {
        clearTimeout(timer);
      }
    },
    type: (line) => child.stdin!.write(`${line}\n`),
    signal: (signal) => {
      try {
        process.kill(-group, signal);
      } catch {
        // the terminal is empty already
      }
    },
    waitFor: async (pattern, timeoutMs) => {
      try {
        return await eventually(`${pattern}`, () => pattern.test(output), { timeoutMs, intervalMs: 50 });
      } catch (error) {
        throw new Error(`${(error as Error).message}; "${args.join(' ')}" printed:\n${output.slice(-2000)}`);
      }
    },
    alive: () => {
      try {
        process.kill(-group, 0);
        return true;
      } catch {
        return false;
      }
    },
  };
}
