// The Debian tools a deploy needs on this machine: the ssh client (and, for the deploy's test, an sshd
// to deploy to). Safe to run again: a tool that is there is only found, apt-get runs only when one is not.
import { $ } from 'zx';
import { findOnPath, isExecutable, isReadable } from '../stores/paths.ts';

/** A tool is missing and could not be installed: `hint` says what to do. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export const isToolError = (error: unknown): error is ToolError => error instanceof ToolError;

const $quiet = $({ quiet: true, verbose: false });
const asRoot = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
const SBIN = ['/usr/sbin', '/sbin', '/usr/bin', '/bin'];
export const SSHD = '/usr/sbin/sshd';

/** Debian packages not installed (dpkg's status is not "ii"). */
export async function missingPackages(packages: readonly string[]): Promise<string[]> {
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

/** apt-get install what is missing (apt-get update first only when a package has no candidate). */
export async function ensureDebianPackages(
  packages: readonly string[],
  log: (line: string) => void,
): Promise<string[]> {
  const missing = await missingPackages(packages);
  if (missing.length === 0) return [];
  if (!(await findOnPath('apt-get', SBIN))) {
    throw new ToolError(
      `${missing.join(', ')} missing, and this is not a Debian system (no apt-get)`,
      `install ${missing.join(' ')} with this system's package manager, then run it again.`,
    );
  }
  const started = Date.now();
  log(`installing ${missing.join(' ')} from Debian...`);
  const policy = await $quiet`apt-cache policy ${missing}`.nothrow().timeout('60s');
  if (
    /Candidate: \(none\)/.test(policy.stdout) ||
    missing.some((name) => !policy.stdout.includes(`${name}:`))
  ) {
    log('updating the package lists (apt-get update)...');
    const update = await $quiet`${asRoot} apt-get update -o DPkg::Lock::Timeout=120`.nothrow().timeout('5m');
    if (update.exitCode !== 0) throw aptFailure('apt-get update', update.stderr);
  }
  const install =
    await $quiet`${asRoot} env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=120 ${missing}`
      .nothrow()
      .timeout('10m');
  if (install.exitCode !== 0) throw aptFailure(`apt-get install ${missing.join(' ')}`, install.stderr);
  log(`installed ${missing.join(' ')} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return missing;
}

function aptFailure(what: string, stderr: string): ToolError {
  const lines = stderr
    .split('\n')
    .filter((line) => /^(E:|sudo:)/.test(line))
    .slice(-3);
  return new ToolError(
    `${what} failed${lines.length > 0 ? `: ${lines.join(' / ')}` : ''}`,
    process.getuid?.() === 0
      ? 'check that this machine reaches its Debian mirror (apt-get update), then run it again.'
      : 'run it as root (or with passwordless sudo), or install the package by hand, then run it again.',
  );
}

/** The ssh client: found on PATH, else openssh-client from Debian. Returns its path. */
export async function ensureSshClient(log: (line: string) => void): Promise<string> {
  const found = await findOnPath('ssh');
  if (found) return found;
  await ensureDebianPackages(['openssh-client'], log);
  const installed = await findOnPath('ssh', ['/usr/bin']);
  if (!installed)
    throw new ToolError('openssh-client is installed but no ssh found', 'reinstall openssh-client.');
  return installed;
}

/**
 * An sshd to deploy to (the deploy's own test runs one on a free port, with its own config and keys).
 * Debian starts the system's sshd on port 22 when it installs the package where services may start:
 * that one is stopped and disabled again, as this machine did not run one before.
 */
export async function ensureSshServer(log: (line: string) => void): Promise<string> {
  await ensureSshClient(log); // ssh-keygen, ssh
  if (await isExecutable(SSHD)) return SSHD;
  const installed = await ensureDebianPackages(['openssh-server'], log);
  if (installed.length > 0) await stopSystemSshd(log);
  if (!(await isExecutable(SSHD))) {
    throw new ToolError(`openssh-server is installed but ${SSHD} is not there`, 'reinstall openssh-server.');
  }
  return SSHD;
}

async function stopSystemSshd(log: (line: string) => void): Promise<void> {
  if (await isReadable('/run/systemd/system')) {
    const state = (await $quiet`systemctl is-active ssh`.nothrow().timeout('10s')).stdout.trim();
    if (state === 'active' || state === 'activating') {
      await $quiet`${asRoot} systemctl disable --now ssh`.nothrow().timeout('30s');
      log('stopped and disabled the ssh service Debian started with the package');
    }
    return;
  }
  if (await isExecutable('/etc/init.d/ssh')) {
    const status = await $quiet`${asRoot} /etc/init.d/ssh status`.nothrow().timeout('10s');
    if (status.exitCode === 0) {
      await $quiet`${asRoot} /etc/init.d/ssh stop`.nothrow().timeout('30s');
      log('stopped the ssh service Debian started with the package');
    }
    await $quiet`${asRoot} update-rc.d ssh disable`.nothrow().timeout('30s');
  }
}
