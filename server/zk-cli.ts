// Which ZooKeeper command the page shows, as it works on this machine: `zkCli.sh` when it is on PATH;
// else Debian's, which is not on PATH (/usr/share/zookeeper/bin/zkCli.sh, where `fleetkit
// install-stores` puts ZooKeeper); else the attendee kit's own client (`node fleetkit.mjs zookeeper`,
// served at /kit/ with --classroom), which speaks get / put / ls / watch. Looked up once, at start.
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';

export const DEBIAN_ZKCLI = '/usr/share/zookeeper/bin/zkCli.sh';

/** A zkCli.sh to call by this name or path, or the kit's client. */
export type ZkCli = { kind: 'zkcli'; command: string } | { kind: 'kit' };

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

export function findZkCli(env: NodeJS.ProcessEnv = process.env, debianPath = DEBIAN_ZKCLI): ZkCli {
  const onPath = (env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => path.isAbsolute(dir))
    .some((dir) => executable(path.join(dir, 'zkCli.sh')));
  if (onPath) return { kind: 'zkcli', command: 'zkCli.sh' };
  if (executable(debianPath)) return { kind: 'zkcli', command: debianPath };
  return { kind: 'kit' };
}

let found: ZkCli | undefined;

/** This machine's, looked up on first use. */
export function zkCli(): ZkCli {
  found ??= findZkCli();
  return found;
}
