// What goes onto the boot partition for a set of settings: every file's full contents, computed before
// anything is written, and the same for the same settings and agent bundle (no dates, no random ids).
import { AGENT_DIR, agentEnv, FLASH_MARKER, installScript, setupScript, setupUnit } from './agent-files.ts';
import type { BootWriter } from './boot-writer.ts';
import { cloudInitFiles } from './cloud-init.ts';
import { CARD_CREDENTIALS_DIR, envWithCredentials } from './credentials.ts';
import { editCmdline, FIRSTRUN_FILE, firstrunScript } from './firstrun.ts';
import { type CardArch, LIBATOMIC_FILES, nodeFileNames, staleNodeFiles } from './node-on-card.ts';
import type { FlashConfig } from './settings.ts';

/** The agent bundle as device/build.ts writes it. */
export interface AgentBundle {
  script: Buffer;
  unit: string;
  envTemplate: string;
}

export interface BootFile {
  name: string;
  data: Buffer;
}

/** The Node.js build for the card, from provision/node's cache. */
export interface CardNodeBuild {
  version: string;
  arch: CardArch;
  data: Buffer;
  sha256: string;
}

/** What the card carries of Node.js: a build, or the nodejs.org folder setup.sh downloads from. */
export interface NodePlan {
  build: CardNodeBuild | undefined;
  /** libatomic.so.1 for the build's architecture (which links it), when the control host could get one. */
  libatomic?: { data: Buffer; sha256: string };
  /** nodejs.org/dist/<dist>: v26.12.1, or latest-v22.x. */
  dist: string;
}

export interface BootPlan {
  /** In the order to write them: cmdline.txt last, so that the first boot never starts half set up. */
  files: BootFile[];
  /** Files of an earlier run in the style not chosen now: removed after the writes. */
  removals: string[];
  /** Node.js builds of earlier runs (another version or architecture): removed before the writes, for room. */
  staleBuilds: string[];
  notes: string[];
}

/** A boot partition without cmdline.txt is not a Raspberry Pi's: the caller reports it as a bad target. */
export class NotABootPartitionError extends Error {
  override readonly name = 'NotABootPartitionError';
}

/** cmdline.txt of the boot partition; throws a NotABootPartitionError when there is none. */
export async function readCmdline(boot: Pick<BootWriter, 'read'>): Promise<Buffer> {
  const cmdline = await boot.read('cmdline.txt');
  if (cmdline === undefined) {
    throw new NotABootPartitionError(
      'a Raspberry Pi boot partition: it has no cmdline.txt (is it the right partition, or an image of Raspberry Pi OS?)',
    );
  }
  return cmdline;
}

export async function planBootFiles(
  config: FlashConfig,
  bundle: AgentBundle,
  node: NodePlan,
  boot: Pick<BootWriter, 'read' | 'list'>,
): Promise<BootPlan> {
  const cmdline = await readCmdline(boot);
  const withFirstrun = config.style !== 'cloud-init';
  const withCloudInit = config.style !== 'firstrun';
  const ours = async (name: string) =>
    (await boot.read(name))?.toString('utf8').includes(FLASH_MARKER) === true;
  const notes: string[] = [];
  const removals: string[] = [];
  const files: BootFile[] = [];
  const names = node.build ? nodeFileNames(node.build.version, node.build.arch) : undefined;
  if (node.build && names) {
    // The build first and its checksum after it: install.sh trusts the pair only when both are whole.
    files.push(
      { name: names.tgz, data: node.build.data },
      {
        name: names.sha256,
        data: Buffer.from(`${node.build.sha256}  ${names.tgz.slice(AGENT_DIR.length + 1)}\n`),
      },
    );
  }
  const libatomicOnCard = (await boot.list(AGENT_DIR)).includes('libatomic.so.1');
  if (node.build && node.libatomic) {
    files.push(
      { name: LIBATOMIC_FILES.lib, data: node.libatomic.data },
      { name: LIBATOMIC_FILES.sha256, data: Buffer.from(`${node.libatomic.sha256}  libatomic.so.1\n`) },
    );
  } else if (libatomicOnCard) {
    // An earlier run's copy, perhaps for another architecture: not left behind.
    removals.push(LIBATOMIC_FILES.lib, LIBATOMIC_FILES.sha256);
  }
  const staleBuilds = staleNodeFiles(await boot.list(AGENT_DIR), names ? [names.tgz, names.sha256] : []);
  const cardNode =
    node.build && names
      ? { fileName: names.tgz.slice(AGENT_DIR.length + 1), version: node.build.version }
      : undefined;
  files.push(
    { name: `${AGENT_DIR}/fleetkit-agent.mjs`, data: bundle.script },
    { name: `${AGENT_DIR}/fleetkit-agent.service`, data: Buffer.from(bundle.unit) },
    {
      name: `${AGENT_DIR}/agent.env`,
      data: Buffer.from(
        envWithCredentials(agentEnv(bundle.envTemplate, config.controlHost), config.credentials),
      ),
    },
    { name: `${AGENT_DIR}/install.sh`, data: Buffer.from(installScript(cardNode)) },
    { name: `${AGENT_DIR}/setup.sh`, data: Buffer.from(setupScript(node.dist)) },
    { name: `${AGENT_DIR}/fleetkit-setup.service`, data: Buffer.from(setupUnit()) },
  );

  // The devices' credentials, until the first boot moves them off the card (credentials.ts); an earlier
  // run's that are not carried now are removed.
  const carried = (config.credentials?.files ?? []).map((f) => ({
    name: `${CARD_CREDENTIALS_DIR}/${f.name}`,
    data: f.data,
  }));
  files.push(...carried);
  for (const name of await boot.list(CARD_CREDENTIALS_DIR)) {
    const onCard = `${CARD_CREDENTIALS_DIR}/${name}`;
    if (!carried.some((f) => f.name === onCard)) removals.push(onCard);
  }

  const firstrunIsOurs = await ours(FIRSTRUN_FILE);
  if (withFirstrun) {
    if (!firstrunIsOurs && (await boot.read(FIRSTRUN_FILE)) !== undefined) {
      notes.push(`replaced a ${FIRSTRUN_FILE} that another tool wrote (Raspberry Pi Imager?)`);
    }
    files.push({ name: FIRSTRUN_FILE, data: Buffer.from(firstrunScript(config)) });
  } else if (firstrunIsOurs) {
    removals.push(FIRSTRUN_FILE);
  }
  for (const [name, text] of Object.entries(cloudInitFiles(config))) {
    if (withCloudInit) files.push({ name, data: Buffer.from(text) });
    else if (await ours(name)) removals.push(name);
  }

  // Our hook comes out with our firstrun.sh; another tool's stays when we do not need the hook.
  const hook = withFirstrun ? 'add' : firstrunIsOurs ? 'remove' : 'keep';
  const edited = editCmdline(cmdline.toString('utf8'), { hook, country: config.country });
  if (edited.replacedHook) notes.push(`cmdline.txt ran ${edited.replacedHook} at first boot: now fleetkit's`);
  files.push({ name: 'cmdline.txt', data: Buffer.from(edited.text) });
  return { files, removals, staleBuilds, notes };
}
