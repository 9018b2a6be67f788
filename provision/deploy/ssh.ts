// The only place that runs ssh. Every command is an argv array (no local shell ever sees it), and the
// one string ssh hands to the remote shell is built from single-quoted pieces (lib/cli/shell-quote.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { shellWord } from '../../lib/cli/shell-quote.ts';

export interface SshTarget {
  user: string | undefined;
  host: string;
  port: number | undefined;
}

export interface SshConnection {
  /** Private key: `ssh -i`. */
  identityFile: string | undefined;
  /** Allowlisted `-o Name=value` options (settings.ts checks them). */
  options: readonly string[];
}

// Never prompt (a password prompt would hang a parallel run); notice a dead link within ~30 s; only
// errors on stderr (not "Permanently added ... to the list of known hosts" on every connection).
// ssh takes the first value given for an option, so the caller's options go before these defaults.
const FIXED_OPTIONS = ['BatchMode=yes'];
const DEFAULT_OPTIONS = [
  'ConnectTimeout=10',
  'ServerAliveInterval=10',
  'ServerAliveCountMax=3',
  'LogLevel=ERROR',
];

/** ssh's arguments (without `ssh` itself) to run `remoteCommand` on `target`. */
export function sshArgv(target: SshTarget, connection: SshConnection, remoteCommand: string): string[] {
  const argv: string[] = [];
  // -p first: the host's own port beats a Port= option.
  if (target.port !== undefined) argv.push('-p', String(target.port));
  for (const option of [...FIXED_OPTIONS, ...connection.options, ...DEFAULT_OPTIONS]) argv.push('-o', option);
  if (connection.identityFile) argv.push('-i', connection.identityFile, '-o', 'IdentitiesOnly=yes');
  // `--` ends ssh's options: whatever the destination looks like, it is not read as one.
  argv.push('-T', '--', target.user ? `${target.user}@${target.host}` : target.host, remoteCommand);
  return argv;
}

/** The command line a user could paste into a shell: `ssh ... < file` for a copy. */
export function renderCommand(argv: readonly string[], stdinFile?: string): string {
  const line = ['ssh', ...argv].map(shellWord).join(' ');
  return stdinFile === undefined ? line : `${line} < ${stdinFile}`;
}

export interface SshRun {
  /** Sent on ssh's stdin (the file to copy); else stdin is empty. */
  stdinFile?: string;
  /** Kills ssh (SIGTERM, then SIGKILL) when it aborts: the host's overall timeout. */
  signal: AbortSignal;
  /** `ssh` by default; tools.ts finds the real one. */
  sshBinary?: string;
}

export interface SshResult {
  /** The remote command's exit code; 255 when ssh itself failed; null when killed. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Killed because the signal aborted. */
  aborted: boolean;
  /** ssh could not be started at all (ENOENT, ...). */
  spawnError: Error | undefined;
}

const KEEP_OUTPUT = 16_384;
const KILL_GRACE_MS = 2_000;

export function runSsh(argv: readonly string[], run: SshRun): Promise<SshResult> {
  return new Promise((resolve) => {
    const result: SshResult = {
      exitCode: null,
      stdout: '',
      stderr: '',
      aborted: false,
      spawnError: undefined,
    };
    if (run.signal.aborted) {
      resolve({ ...result, aborted: true });
      return;
    }
    const child: ChildProcess = spawn(run.sshBinary ?? 'ssh', argv, {
      stdio: [run.stdinFile === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const keep = (text: string, chunk: Buffer) => (text + chunk.toString()).slice(-KEEP_OUTPUT);
    child.stdout?.on('data', (chunk: Buffer) => (result.stdout = keep(result.stdout, chunk)));
    child.stderr?.on('data', (chunk: Buffer) => (result.stderr = keep(result.stderr, chunk)));
    if (run.stdinFile !== undefined && child.stdin) {
      const source = createReadStream(run.stdinFile);
      // A remote end that stops reading (failed mkdir, dropped link) shows as EPIPE: ssh's exit says why.
      child.stdin.on('error', () => {});
      source.on('error', (error) => {
        result.spawnError = error;
        child.kill('SIGTERM');
      });
      source.pipe(child.stdin);
    }
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      result.aborted = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    run.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error) => {
      result.spawnError ??= error;
    });
    child.on('close', (code) => {
      run.signal.removeEventListener('abort', onAbort);
      clearTimeout(killTimer);
      resolve({ ...result, exitCode: code });
    });
  });
}

// What OpenSSH prints when it never got a working connection: worth one more try.
const CONNECTION_FAILURES =
  /connection refused|connection timed out|timed out during banner exchange|no route to host|network is unreachable|could not resolve hostname|temporary failure in name resolution|connection reset|connection closed by|kex_exchange_identification|broken pipe/i;

/** ssh failed to connect (not: the key was refused, or the remote command failed). */
export function isConnectionFailure(result: SshResult): boolean {
  return result.exitCode === 255 && CONNECTION_FAILURES.test(result.stderr);
}

/** The last meaningful line of ssh's or the remote command's stderr. */
export function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  return lines.at(-1) ?? '';
}
