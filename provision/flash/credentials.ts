// The devices' credentials on a Pi (docs/security.md, "Settings"): flash carries the folder on the card's
// FAT partition (fleetkit/credentials/, readable by anyone holding the card) only until the first boot,
// whose install.sh moves it to /etc/fleetkit/credentials/ (folder 0700, files 0600, owned by the agent's
// user) and deletes it from the boot partition; deploy copies it there over ssh with the same modes. The
// agent's env file names it: FLEET_CREDENTIALS=/etc/fleetkit/credentials/credentials.env.
import path from 'node:path';
import { agentAccount, installPaths } from '../../device/unit.ts';
import {
  PACKED_ENV_NAME,
  type PackedCredentials,
  packCredentials,
} from '../../lib/cli/credentials-settings.ts';
import type { SettingIssue } from '../../lib/cli/settings.ts';
import { shellWord as q } from '../../lib/cli/shell-quote.ts';

/** On the boot partition, beside the agent's files. */
export const CARD_CREDENTIALS_DIR = 'fleetkit/credentials';

/** Where the credentials live on the Pi (beside agent.env), under `prefix` (deploy's --prefix). */
export function piCredentials(prefix = '/'): { dir: string; file: string } {
  const dir = path.posix.join(prefix, installPaths().configDir, 'credentials');
  return { dir, file: path.posix.join(dir, PACKED_ENV_NAME) };
}

/**
 * flash's and deploy's --credentials / FLEET_CREDENTIALS: the file read and checked as a device's
 * (packCredentials), its problems named as every other setting is (settings.ts nameFields): the
 * source first. Undefined when none was given or it has problems (then in `issues`).
 */
export function packCredentialsSetting(
  file: string | undefined,
  sources: Readonly<Record<string, string>>,
  issues: SettingIssue[],
): PackedCredentials | undefined {
  if (file === undefined || file === '') return undefined;
  const field =
    sources.credentials === '--credentials'
      ? '--credentials (FLEET_CREDENTIALS)'
      : `${sources.credentials ?? 'FLEET_CREDENTIALS'} (--credentials)`;
  return packCredentials(file, field, issues);
}

/**
 * The agent's env file with the credentials named (FLEET_CREDENTIALS, the Pi's path) and, when they
 * carry an etcd CA, etcd reached over https://.
 */
export function envWithCredentials(
  text: string,
  packed: PackedCredentials | undefined,
  prefix = '/',
): string {
  let env = text.replace(/^#?\s*FLEET_CREDENTIALS=.*\n?/gm, '');
  if (!packed) return env;
  if (packed.etcdTls) env = env.replace(/^FLEET_ETCD=http:\/\//m, 'FLEET_ETCD=https://');
  // The path the agent reads on the Pi (under deploy's --prefix, as every other file).
  const onPi = piCredentials(prefix).file;
  return `${env.replace(/\n?$/, '\n')}# the devices' credentials on the stores (${packed.summary}): readable by the agent's user only\nFLEET_CREDENTIALS=${onPi}\n`;
}

/**
 * install.sh's step (a shell fragment; HERE is the card's fleetkit/ folder): the card's credentials
 * moved into place, then deleted from the boot partition. The owner is the unit's User= (device/unit.ts
 * agentAccount) when that user exists (else root, said in the log).
 */
export function credentialsInstallShell(): string {
  const { dir } = piCredentials();
  const user = agentAccount();
  return `# The stores' credentials (fleetkit flash --credentials): moved off the boot partition, which anyone holding
# the card can read, into a folder only the agent's user reads; then deleted from the card.
CRED_CARD="$HERE/credentials"
CRED_DIR=${q(dir)}
if [ -d "$CRED_CARD" ]; then
  cred_owner=${q(user)}
  if ! id "$cred_owner" >/dev/null 2>&1; then
    log "the agent's user $cred_owner does not exist (yet): the credentials are owned by root"
    cred_owner=root
  fi
  cred_group=$(id -gn "$cred_owner")
  rm -rf "$CRED_DIR.fleetkit-new"
  (
    umask 077
    install -d -m 700 -o "$cred_owner" -g "$cred_group" "$CRED_DIR.fleetkit-new"
    for f in "$CRED_CARD"/*; do
      if [ -f "$f" ]; then install -m 600 -o "$cred_owner" -g "$cred_group" "$f" "$CRED_DIR.fleetkit-new/"; fi
    done
  )
  rm -rf "$CRED_DIR.fleetkit-old"
  if [ -e "$CRED_DIR" ]; then mv "$CRED_DIR" "$CRED_DIR.fleetkit-old"; fi
  mv "$CRED_DIR.fleetkit-new" "$CRED_DIR"
  rm -rf "$CRED_DIR.fleetkit-old" "$CRED_CARD"
  sync
  log "installed the stores' credentials in $CRED_DIR (folder 0700, files 0600, owner $cred_owner); deleted them from the boot partition"
fi
`;
}
