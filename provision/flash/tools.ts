// The Debian programs `fleetkit flash` and its test use, installed with apt-get only when missing.
// Safe to run twice: a second call only checks (a few milliseconds).
import { findOnPath } from '../stores/paths.ts';
import { commandLine, run } from './run.ts';

export type FlashTool = 'mtools' | 'dosfstools' | 'fdisk' | 'python3-yaml';

/** What `fleetkit flash --image` needs: mtools edits the FAT partition inside the image file, no root. */
export const FLASH_TOOLS: readonly FlashTool[] = ['mtools'];
/** What its test needs besides: mkfs.vfat and sfdisk build a disk image, python3-yaml reads the YAML back. */
export const TEST_TOOLS: readonly FlashTool[] = ['mtools', 'dosfstools', 'fdisk', 'python3-yaml'];

interface ToolCheck {
  /** The Debian package. */
  debianPackage: string;
  present(): Promise<boolean>;
}

// A non-root PATH often lacks the sbin folders, where mkfs.vfat and sfdisk live.
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** `command -v`, also looking in the sbin folders. */
export const findProgram = (name: string) => findOnPath(name, SBIN_DIRS);

const programs =
  (...names: string[]) =>
  async () =>
    (await Promise.all(names.map(findProgram))).every((found) => found !== undefined);

const CHECKS: Record<FlashTool, ToolCheck> = {
  mtools: { debianPackage: 'mtools', present: programs('mcopy', 'mdir', 'mtype', 'mmd', 'mdel') },
  dosfstools: { debianPackage: 'dosfstools', present: programs('mkfs.vfat') },
  fdisk: { debianPackage: 'fdisk', present: programs('sfdisk') },
  // Debian's own python3: a python3 first on PATH (pyenv, a venv) may lack the module.
  'python3-yaml': {
    debianPackage: 'python3-yaml',
    present: async () =>
      (await run('/usr/bin/python3', ['-c', 'import yaml']).catch(() => undefined))?.code === 0,
  },
};

/** A tool is missing and could not be installed: `hint` says what to run. */
export class ToolsError extends Error {
  override readonly name = 'ToolsError';
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

export const isToolsError = (error: unknown): error is ToolsError => error instanceof ToolsError;

export interface EnsureToolsOptions {
  log?: (line: string) => void;
  /** Install what is missing (as root, or with `sudo -n`); false: only report it. Default true. */
  install?: boolean;
}

/** Returns the Debian packages it installed (none when all were there). Throws a ToolsError. */
export async function ensureTools(
  tools: readonly FlashTool[],
  options: EnsureToolsOptions = {},
): Promise<string[]> {
  const log = options.log ?? (() => {});
  const missing: string[] = [];
  for (const tool of new Set(tools)) {
    if (!(await CHECKS[tool].present())) missing.push(CHECKS[tool].debianPackage);
  }
  if (missing.length === 0) return [];
  const manual = `sudo apt-get install -y ${missing.join(' ')}`;
  if (options.install === false) {
    throw new ToolsError(`missing Debian packages: ${missing.join(', ')}`, `install them: ${manual}`);
  }
  const asRoot = await rootPrefix();
  if (asRoot === undefined) {
    throw new ToolsError(
      `missing Debian packages: ${missing.join(', ')} (and no root to install them)`,
      `install them: ${manual}, then run it again.`,
    );
  }
  log(`installing ${missing.join(' ')} from Debian (apt-get)...`);
  const install = () =>
    apt(asRoot, ['install', '-y', '--no-install-recommends', '-o', 'DPkg::Lock::Timeout=120', ...missing]);
  let result = await install();
  if (result.code !== 0 && /Unable to locate package|has no installation candidate/.test(result.stderr)) {
    log('updating the package lists (apt-get update)...');
    await apt(asRoot, ['update', '-o', 'DPkg::Lock::Timeout=120']);
    result = await install();
  }
  if (result.code !== 0) {
    throw new ToolsError(
      `apt-get install ${missing.join(' ')} failed: ${lastLines(result.stderr)}`,
      `check that this machine reaches its Debian mirror (try \`apt-get update\`), then: ${manual}`,
    );
  }
  const still = [];
  for (const tool of new Set(tools)) if (!(await CHECKS[tool].present())) still.push(tool);
  if (still.length > 0) {
    throw new ToolsError(`installed, but still missing: ${still.join(', ')}`, `check: ${manual}`);
  }
  return missing;
}

/** [] as root, ['sudo', '-n'] where sudo works without a password, else undefined. */
async function rootPrefix(): Promise<string[] | undefined> {
  if (process.getuid?.() === 0) return [];
  const sudo = await findProgram('sudo');
  if (!sudo) return undefined;
  const check = await run(sudo, ['-n', 'true']).catch(() => undefined);
  return check?.code === 0 ? [sudo, '-n'] : undefined;
}

async function apt(asRoot: string[], args: string[]) {
  const [command, ...prefix] = [...asRoot, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
  const result = await run(command!, prefix, { timeoutMs: 10 * 60_000 });
  if (result.timedOut) {
    throw new ToolsError(`${commandLine(command!, prefix)} took more than 10 minutes`, 'run it again.');
  }
  return result;
}

const lastLines = (text: string) => text.trim().split('\n').slice(-3).join(' / ') || 'no message';
