// Debian packages this machine needs (the stores, the ssh tools, mtools...), installed with apt-get only
// when missing: as root, or with `sudo -n` (never a password prompt); `apt-get update` only when a
// package has no candidate; networked steps retried. Failures are a ProvisionError with what to do next.
import { type Duration, ProcessOutput } from 'zx';
import { errorMessage, withBackoff } from '../lib/registry/index.ts';
import { findOnPath, isExecutable, isReadable } from './stores/paths.ts';
import { $quiet } from './zx.ts';

/** Something this machine needs could not be set up: `message` says what failed, `hint` what to do next. */
export class ProvisionError extends Error {
  override readonly name: string = 'ProvisionError';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export const isProvisionError = (error: unknown): error is ProvisionError => error instanceof ProvisionError;

export type Log = (line: string) => void;

export interface AptOptions {
  log?: Log;
  /** Time limit of `apt-get install`; default 15 minutes (ZooKeeper pulls a Java runtime). */
  installTimeout?: Duration;
}

export const networkHint =
  'check that this machine reaches its Debian mirror (try `apt-get update`), then run it again.';
const updateTimeout = '5m';
const attempts = 3;
const lockTimeout = ['-o', 'DPkg::Lock::Timeout=120'];
// A non-root PATH often lacks the sbin folders.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin'];

/** The command to type by hand, for messages. */
export const manualInstall = (packages: readonly string[]) => `sudo apt-get install -y ${packages.join(' ')}`;

/** The Debian packages of `packages` that are not installed (dpkg's status is not "ii"), in their order. */
export async function missingPackages(packages: readonly string[]): Promise<string[]> {
  if (packages.length === 0) return [];
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax
  const format = '${Package} ${db:Status-Abbrev}\n';
  const result = await $quiet`dpkg-query -W -f=${format} ${packages}`.nothrow().timeout('30s');
  const installed = new Set(
    result.stdout
      .split('\n')
      .filter((line) => / ii\s*$/.test(line))
      .map((line) => line.split(' ')[0]),
  );
  return packages.filter((name) => !installed.has(name));
}

/** [] as root, ['sudo', '-n'] where sudo works without a password, else undefined. */
export async function rootPrefix(): Promise<string[] | undefined> {
  if (process.getuid?.() === 0) return [];
  const sudo = await findOnPath('sudo', SBIN);
  if (!sudo) return undefined;
  const check = await $quiet`${sudo} -n true`.nothrow().timeout('10s');
  return check.exitCode === 0 ? [sudo, '-n'] : undefined;
}

/**
 * apt-get install the packages of `packages` that are missing; returns those it installed (none when all
 * were there). Throws a ProvisionError naming the exact command to run by hand when it cannot.
 */
export async function installMissing(
  packages: readonly string[],
  options: AptOptions = {},
): Promise<string[]> {
  const log = options.log ?? (() => {});
  const missing = await missingPackages(packages);
  if (missing.length === 0) return [];
  const manual = manualInstall(missing);
  if (!(await findOnPath('apt-get', SBIN))) {
    throw new ProvisionError(
      `missing ${missing.join(', ')}, and this is not a Debian system (no apt-get)`,
      `install ${missing.join(' ')} with this system's package manager, then run it again.`,
    );
  }
  const asRoot = await rootPrefix();
  if (asRoot === undefined) {
    throw new ProvisionError(
      `missing Debian packages: ${missing.join(', ')} (and no root or passwordless sudo to install them)`,
      `install them: ${manual}, then run it again.`,
    );
  }
  const started = Date.now();
  log(`installing ${missing.join(' ')} from Debian (apt-get)...`);
  await ensureCandidates(missing, asRoot, log);
  const hint = `check that this machine reaches its Debian mirror (try \`apt-get update\`), then run it again or by hand: ${manual} (if dpkg was interrupted, \`sudo dpkg --configure -a\` first).`;
  await withRetry(`apt-get install ${missing.join(' ')}`, hint, log, () =>
    $quiet`${asRoot} env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${lockTimeout} ${missing}`.timeout(
      options.installTimeout ?? '15m',
    ),
  );
  log(`installed ${missing.join(' ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return missing;
}

/** `apt-get update` only when a package has no install candidate: it is the slow, networked part. */
async function ensureCandidates(packages: readonly string[], asRoot: string[], log: Log): Promise<void> {
  if ((await packagesWithoutCandidate(packages)).length === 0) return;
  log('updating the package lists (apt-get update)...');
  await withRetry('apt-get update', networkHint, log, () =>
    $quiet`${asRoot} apt-get update ${lockTimeout}`.timeout(updateTimeout),
  );
  const missing = await packagesWithoutCandidate(packages);
  if (missing.length > 0) {
    throw new ProvisionError(
      `no package ${missing.join(', ')} in this machine's apt sources`,
      'these packages are in Debian 12 (bookworm) main; add bookworm main to /etc/apt/sources.list, then run it again.',
    );
  }
}

async function packagesWithoutCandidate(packages: readonly string[]): Promise<string[]> {
  const result = await $quiet`apt-cache policy ${packages}`.nothrow().timeout('60s');
  const candidates = new Map<string, string>();
  let current: string | undefined;
  for (const line of result.stdout.split('\n')) {
    const header = /^(\S+):$/.exec(line);
    if (header?.[1]) current = header[1].replace(/:[a-z0-9]+$/, '');
    const candidate = /^\s+Candidate:\s*(\S+)/.exec(line);
    if (current && candidate?.[1]) candidates.set(current, candidate[1]);
  }
  return packages.filter((name) => {
    const candidate = candidates.get(name);
    return candidate === undefined || candidate === '(none)';
  });
}

/**
 * Debian starts a package's service on install (systemd, or its init script where systemd does not run).
 * The kit runs its own, so stop and disable the system one. Never fails; says what it stopped.
 */
export async function stopDebianService(service: string, log: Log): Promise<void> {
  try {
    const asRoot = (await rootPrefix()) ?? [];
    if (await isReadable('/run/systemd/system')) {
      const state = (await $quiet`systemctl is-active ${service}`.nothrow().timeout('10s')).stdout.trim();
      if (state === 'active' || state === 'activating') {
        await $quiet`${asRoot} systemctl disable --now ${service}`.nothrow().timeout('30s');
        log(`stopped and disabled the ${service} service Debian started with the package`);
      }
      return;
    }
    const initScript = `/etc/init.d/${service}`;
    if (await isExecutable(initScript)) {
      const status = await $quiet`${asRoot} ${initScript} status`.nothrow().timeout('10s');
      if (status.exitCode === 0) {
        await $quiet`${asRoot} ${initScript} stop`.nothrow().timeout('30s');
        log(`stopped the ${service} service Debian started with the package`);
      }
      await $quiet`${asRoot} update-rc.d ${service} disable`.nothrow().timeout('30s');
    }
  } catch {
    // Only tidying up: the package itself is installed.
  }
}

/** A networked step: retried with exponential backoff, each retry announced; a ProvisionError at the end. */
export async function withRetry<T>(
  label: string,
  hint: string,
  log: Log,
  command: () => Promise<T>,
): Promise<T> {
  // The kit's one backoff (lib/registry/backoff.ts): 2 s doubling to 30 s, jittered, no wait after the
  // last attempt.
  return await withBackoff(() => attempt(label, hint, command), {
    initialMs: 2000,
    maxMs: 30_000,
    onRetry: (_error, failed) => {
      if (failed >= attempts) return false;
      log(`${label} failed, trying again (${failed + 1}/${attempts})...`);
      return true;
    },
  });
}

/** Run `command`, turning a failure into a ProvisionError that carries only the command's own message. */
export async function attempt<T>(label: string, hint: string, command: () => Promise<T>): Promise<T> {
  try {
    return await command();
  } catch (error) {
    if (error instanceof ProvisionError) throw error;
    throw new ProvisionError(`${label} failed: ${errorText(error)}`, hint);
  }
}

/** A failed command's own words: its error lines (apt's `E:`, sudo's), else its last lines, and its status. */
export function errorText(error: unknown): string {
  if (error instanceof ProcessOutput) {
    const lines = `${error.stderr}\n${error.stdout}`.split('\n').map((line) => line.trim());
    const errors = lines.filter((line) => /^E:|^sudo:|error|fail/i.test(line));
    const shown = (errors.length > 0 ? errors : lines.filter(Boolean)).slice(-5);
    const status = error.signal ? `killed by ${error.signal} (timed out?)` : `exit code ${error.exitCode}`;
    return shown.length > 0 ? `${shown.join(' / ')} (${status})` : status;
  }
  return errorMessage(error);
}
