// Node.js on the card: which build the image needs (its architecture, read from the kernels on its boot
// partition), and the two files that carry it (fleetkit/node-v<version>-linux-<arch>.tgz and its .sha256),
// which install.sh unpacks into /opt/fleetkit/node at first boot, with no network.
import type { NodeArch } from '../node/index.ts';
import { AGENT_DIR } from './agent-files.ts';
import type { BootWriter } from './boot-writer.ts';

export const CARD_ARCHES = ['arm64', 'armv7l'] as const;
export type CardArch = (typeof CARD_ARCHES)[number];

export interface ImageArch {
  arch: CardArch;
  /** How it was told, for the output. */
  because: string;
  /** The partition did not say: the default was taken. */
  guessed: boolean;
}

// Raspberry Pi OS installs the kernels of every Pi its userland runs on. The 32-bit (armhf) images carry
// kernel.img (v6), kernel7.img (v7) and kernel7l.img (v7l), and also kernel8.img (a 64-bit kernel that a
// Pi 4 boots by default under the 32-bit userland); the 64-bit images carry only kernel8.img and
// kernel_2712.img. So: any 32-bit kernel means a 32-bit userland, which is what Node must match.
const KERNELS_32 = ['kernel.img', 'kernel7.img', 'kernel7l.img'];
const KERNELS_64 = ['kernel8.img', 'kernel_2712.img'];

/** The image's userland architecture, from the kernels on its boot partition; arm64 when none is there. */
export async function imageArch(boot: Pick<BootWriter, 'list'>): Promise<ImageArch> {
  const names = new Set((await boot.list('')).map((name) => name.toLowerCase()));
  const found32 = KERNELS_32.filter((name) => names.has(name));
  if (found32.length > 0) {
    return {
      arch: 'armv7l',
      because: `a 32-bit image (${found32.join(', ')} on its boot partition)`,
      guessed: false,
    };
  }
  const found64 = KERNELS_64.filter((name) => names.has(name));
  if (found64.length > 0) {
    return {
      arch: 'arm64',
      because: `a 64-bit image (${found64.join(', ')} and no 32-bit kernel on its boot partition)`,
      guessed: false,
    };
  }
  return {
    arch: 'arm64',
    because:
      'no kernel*.img on the boot partition to tell 32-bit from 64-bit: taken as 64-bit (--node-arch sets it)',
    guessed: true,
  };
}

export const isCardArch = (arch: NodeArch): arch is CardArch =>
  (CARD_ARCHES as readonly string[]).includes(arch);

/** The names on the boot partition. */
export function nodeFileNames(version: string, arch: CardArch): { tgz: string; sha256: string } {
  const tgz = `${AGENT_DIR}/node-v${version}-linux-${arch}.tgz`;
  return { tgz, sha256: `${tgz}.sha256` };
}

/**
 * libatomic.so.1 for the build's architecture (provision/node/libatomic.ts), with a .sha256 beside it:
 * install.sh installs it as /usr/local/lib/libatomic.so.1 only when the card's node does not run for lack
 * of it. One name whatever the architecture: a later run replaces it.
 */
export const LIBATOMIC_FILES = {
  lib: `${AGENT_DIR}/libatomic.so.1`,
  sha256: `${AGENT_DIR}/libatomic.so.1.sha256`,
} as const;

/** fleetkit/node-v*.tgz(.sha256) of earlier runs that are not `keep`: a card carries one build. */
export function staleNodeFiles(namesInAgentDir: readonly string[], keep: readonly string[]): string[] {
  return namesInAgentDir
    .filter((name) => /^node-v\d+\.\d+\.\d+-linux-[a-z0-9]+\.tgz(\.sha256)?$/.test(name))
    .map((name) => `${AGENT_DIR}/${name}`)
    .filter((name) => !keep.includes(name));
}
