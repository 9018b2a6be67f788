// The Debian tools a deploy needs on this machine: the ssh client (and, for the deploy's test, an sshd
// to deploy to). Safe to run again: a tool that is there is only found, apt-get runs only when one is not.
import { installMissing, type Log, ProvisionError, stopDebianService } from '../apt.ts';
import { findOnPath, isExecutable } from '../stores/paths.ts';

export const SSHD = '/usr/sbin/sshd';

/** apt-get install what is missing (see ../apt.ts); returns what it installed. */
export const ensureDebianPackages = (packages: readonly string[], log: Log): Promise<string[]> =>
  installMissing(packages, { log, installTimeout: '10m' });

/** The ssh client: found on PATH, else openssh-client from Debian. Returns its path. */
export async function ensureSshClient(log: Log): Promise<string> {
  const found = await findOnPath('ssh');
  if (found) return found;
  await ensureDebianPackages(['openssh-client'], log);
  const installed = await findOnPath('ssh', ['/usr/bin']);
  if (!installed)
    throw new ProvisionError('openssh-client is installed but no ssh found', 'reinstall openssh-client.');
  return installed;
}

/**
 * An sshd to deploy to (the deploy's own test runs one on a free port, with its own config and keys).
 * Debian starts the system's sshd on port 22 when it installs the package where services may start:
 * that one is stopped and disabled again, as this machine did not run one before.
 */
export async function ensureSshServer(log: Log): Promise<string> {
  await ensureSshClient(log); // ssh-keygen, ssh
  if (await isExecutable(SSHD)) return SSHD;
  const installed = await ensureDebianPackages(['openssh-server'], log);
  if (installed.length > 0) await stopDebianService('ssh', log);
  if (!(await isExecutable(SSHD))) {
    throw new ProvisionError(
      `openssh-server is installed but ${SSHD} is not there`,
      'reinstall openssh-server.',
    );
  }
  return SSHD;
}
