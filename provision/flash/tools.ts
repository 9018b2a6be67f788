// The Debian programs `fleetkit flash` and its test use, installed with apt-get only when missing.
// Safe to run twice: a second call only checks (a few milliseconds).
import { installMissing, manualInstall, ProvisionError } from '../apt.ts';
import { findOnPath } from '../stores/paths.ts';
import { run } from './run.ts';

export type FlashTool = 'mtools' | 'dosfstools' | 'fdisk' | 'python3-yaml' | 'systemd-analyze' | 'curl';

/** What `fleetkit flash --image` needs: mtools edits the FAT partition inside the image file, no root. */
export const FLASH_TOOLS: readonly FlashTool[] = ['mtools'];
/** What its test needs besides: mkfs.vfat and sfdisk build a disk image, python3-yaml reads the YAML back. */
export const TEST_TOOLS: readonly FlashTool[] = ['mtools', 'dosfstools', 'fdisk', 'python3-yaml'];
/** The unit check (flash-units.test.ts): systemd-analyze verify, from Debian's systemd. */
export const UNIT_TEST_TOOLS: readonly FlashTool[] = ['systemd-analyze'];
/** The first-boot scripts' test (flash-scripts.test.ts): setup.sh downloads with curl, as on a Pi. */
export const SCRIPT_TEST_TOOLS: readonly FlashTool[] = ['curl'];

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
  'systemd-analyze': { debianPackage: 'systemd', present: programs('systemd-analyze') },
  curl: { debianPackage: 'curl', present: programs('curl') },
  // Debian's own python3: a python3 first on PATH (pyenv, a venv) may lack the module.
  'python3-yaml': {
    debianPackage: 'python3-yaml',
    present: async () =>
      (await run('/usr/bin/python3', ['-c', 'import yaml']).catch(() => undefined))?.code === 0,
  },
};

export interface EnsureToolsOptions {
  log?: (line: string) => void;
  /** Install what is missing (as root, or with `sudo -n`); false: only report it. Default true. */
  install?: boolean;
}

/** Returns the Debian packages it installed (none when all were there). Throws a ProvisionError. */
export async function ensureTools(
  tools: readonly FlashTool[],
  options: EnsureToolsOptions = {},
): Promise<string[]> {
  const missing: string[] = [];
  for (const tool of new Set(tools)) {
    if (!(await CHECKS[tool].present())) missing.push(CHECKS[tool].debianPackage);
  }
  if (missing.length === 0) return [];
  const manual = manualInstall(missing);
  if (options.install === false) {
    throw new ProvisionError(`missing Debian packages: ${missing.join(', ')}`, `install them: ${manual}`);
  }
  const installed = await installMissing(missing, { log: options.log, installTimeout: '10m' });
  const still = [];
  for (const tool of new Set(tools)) if (!(await CHECKS[tool].present())) still.push(tool);
  if (still.length > 0) {
    throw new ProvisionError(`installed, but still missing: ${still.join(', ')}`, `check: ${manual}`);
  }
  return installed;
}
