// Simulated devices as real hosts: each in its own network namespace, with its own address on a
// bridge, so that unplugging one cuts its link and the agent gets no chance to say goodbye.
// Needs root and iproute2. Every name starts with "fk" so that teardown finds exactly what it made.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { $quiet } from '../zx.ts';

export const BRIDGE = 'fkbr0';
/** The bridge's address: the host as the devices see it (the stores must listen on it). */
export const BRIDGE_ADDRESS = '10.77.0.1';
const PREFIX_LENGTH = 24;

export const namespaceOf = (index: number) => `fk-${index}`;
export const hostLinkOf = (index: number) => `fkh${index}`;
export const addressOf = (index: number) => `10.77.0.${10 + index}`;
export const MAX_NAMESPACE_DEVICES = 240;

export function canUseNamespaces(): boolean {
  return process.getuid?.() === 0 && process.platform === 'linux';
}

async function exists(kind: 'link' | 'netns', name: string): Promise<boolean> {
  const result =
    kind === 'link' ? await $quiet`ip link show ${name}`.nothrow() : await $quiet`ip netns list`.nothrow();
  return kind === 'link'
    ? result.exitCode === 0
    : result.stdout.split('\n').some((l) => l.split(' ')[0] === name);
}

/** Who owns the namespaces and the bridge: one simulated fleet per machine (they share one /24). */
export const OWNER_FILE = '/run/fleetkit-sim.pid';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Takes the namespaces for this process, then clears what a crashed run left. Refuses while another
 * live process holds them: clearing would cut that fleet's devices off.
 */
export async function claimNamespaces(): Promise<void> {
  let owner: number | undefined;
  try {
    owner = Number(readFileSync(OWNER_FILE, 'utf8').trim()) || undefined;
  } catch {
    // nobody
  }
  if (owner !== undefined && owner !== process.pid && alive(owner)) {
    throw new Error(
      `another simulated fleet (process ${owner}) is using the network namespaces: stop it first ` +
        '(Ctrl-C where `npm run demo` or `fleetkit sim` runs), or start this one with --mode processes',
    );
  }
  // Claimed already by this process (the demo makes the bridge before its stores listen on it):
  // clearing now would take the stores' address away.
  if (owner === process.pid) return ensureBridge();
  writeFileSync(OWNER_FILE, `${process.pid}\n`);
  await removeAll(); // what a crashed run may have left
  await ensureBridge();
}

/** Removes every namespace and link, and gives the namespaces up (only if this process holds them). */
export async function releaseNamespaces(): Promise<void> {
  await removeAll();
  try {
    if (Number(readFileSync(OWNER_FILE, 'utf8').trim()) === process.pid) rmSync(OWNER_FILE);
  } catch {
    // already gone
  }
}

/** The bridge with the host's address on it; safe to call again. */
export async function ensureBridge(): Promise<void> {
  if (!(await exists('link', BRIDGE))) {
    await $quiet`ip link add ${BRIDGE} type bridge`;
    await $quiet`ip addr add ${`${BRIDGE_ADDRESS}/${PREFIX_LENGTH}`} dev ${BRIDGE}`;
  }
  await $quiet`ip link set ${BRIDGE} up`;
}

/** Namespace `fk-N` with `eth0` = 10.77.0.(10+N), plugged into the bridge; safe to call again. */
export async function createHost(index: number): Promise<void> {
  const ns = namespaceOf(index);
  const hostLink = hostLinkOf(index);
  if (await exists('netns', ns)) await removeHost(index);
  await $quiet`ip netns add ${ns}`;
  await $quiet`ip link add ${hostLink} type veth peer name fkn${index}`;
  await $quiet`ip link set fkn${index} netns ${ns}`;
  await $quiet`ip link set ${hostLink} master ${BRIDGE} up`;
  await $quiet`ip -n ${ns} link set lo up`;
  await $quiet`ip -n ${ns} link set fkn${index} name eth0`;
  await $quiet`ip -n ${ns} addr add ${`${addressOf(index)}/${PREFIX_LENGTH}`} dev eth0`;
  await $quiet`ip -n ${ns} link set eth0 up`;
  await $quiet`ip -n ${ns} route add default via ${BRIDGE_ADDRESS}`;
}

/** Unplug (down) or replug (up) the device's cable: its host-side link. */
export async function setLink(index: number, up: boolean): Promise<void> {
  await $quiet`ip link set ${hostLinkOf(index)} ${up ? 'up' : 'down'}`;
}

export async function removeHost(index: number): Promise<void> {
  await $quiet`ip netns del ${namespaceOf(index)}`.nothrow(); // takes its end of the veth pair, and so both
  await $quiet`ip link del ${hostLinkOf(index)}`.nothrow();
}

/** Removes every namespace and link this kit made (also those of a run that crashed). */
export async function removeAll(): Promise<string[]> {
  const removed: string[] = [];
  for (const line of (await $quiet`ip netns list`.nothrow()).stdout.split('\n')) {
    const name = line.split(' ')[0];
    if (name && /^fk-\d+$/.test(name)) {
      await $quiet`ip netns del ${name}`.nothrow();
      removed.push(name);
    }
  }
  for (const line of (await $quiet`ip -o link show`.nothrow()).stdout.split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (name && (/^fkh\d+$/.test(name) || name === BRIDGE)) {
      await $quiet`ip link del ${name}`.nothrow();
      removed.push(name);
    }
  }
  return removed;
}

/** What is left of the kit's namespaces and links (for checks that nothing leaked). */
export async function leftovers(): Promise<string[]> {
  const namespaces = (await $quiet`ip netns list`.nothrow()).stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => /^fk-\d+$/.test(n));
  const links = (await $quiet`ip -o link show`.nothrow()).stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => /^fkh\d+$/.test(n) || n === BRIDGE);
  return [...namespaces, ...links];
}
