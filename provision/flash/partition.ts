// Finds the boot partition inside a Raspberry Pi OS image file: reads the MBR (DOS) partition table
// and checks that the partition really holds a FAT file system, before anything is written to it.
import { open } from 'node:fs/promises';

const SECTOR = 512;

export interface FatPartition {
  /** 1-4, as `sfdisk` and Linux number them. */
  number: number;
  type: number;
  /** Byte offset of the partition in the image: what mtools' `-i image@@offset` takes. */
  offset: number;
  bytes: number;
  /** 'FAT12', 'FAT16' or 'FAT32', from the file system's own boot sector. */
  fileSystem: string;
}

/** The image is not a disk with a usable FAT partition: `reason` says why, in words a user can act on. */
export class PartitionTableError extends Error {
  override readonly name = 'PartitionTableError';
}

// DOS partition types that hold FAT: 0x0c is what Raspberry Pi OS uses (FAT32, LBA).
const FAT_TYPES: ReadonlyMap<number, string> = new Map([
  [0x01, 'FAT12'],
  [0x04, 'FAT16 <32M'],
  [0x06, 'FAT16'],
  [0x0b, 'FAT32'],
  [0x0c, 'FAT32 (LBA)'],
  [0x0e, 'FAT16 (LBA)'],
]);

interface MbrEntry {
  number: number;
  type: number;
  startSector: number;
  sectors: number;
}

/** The four primary entries of an MBR sector; empty entries left out. */
export function parseMbr(sector: Buffer): MbrEntry[] {
  if (sector.length < SECTOR || sector[510] !== 0x55 || sector[511] !== 0xaa) {
    throw new PartitionTableError(
      'no partition table (no MBR signature 55 AA at byte 510): not a disk image',
    );
  }
  const entries: MbrEntry[] = [];
  for (let index = 0; index < 4; index++) {
    const at = 446 + index * 16;
    const type = sector[at + 4]!;
    const startSector = sector.readUInt32LE(at + 8);
    const sectors = sector.readUInt32LE(at + 12);
    if (type !== 0 && sectors > 0) entries.push({ number: index + 1, type, startSector, sectors });
  }
  return entries;
}

/** The first FAT partition of the image file, checked against the file's size and its own boot sector. */
export async function findFatPartition(imageFile: string): Promise<FatPartition> {
  const handle = await open(imageFile, 'r');
  try {
    const size = (await handle.stat()).size;
    const mbr = Buffer.alloc(SECTOR);
    await handle.read(mbr, 0, SECTOR, 0);
    const entries = parseMbr(mbr);
    if (entries.some((entry) => entry.type === 0xee)) {
      throw new PartitionTableError(
        'a GPT disk: only DOS (MBR) partition tables are supported, as on Raspberry Pi OS images',
      );
    }
    const fat = entries.find((entry) => FAT_TYPES.has(entry.type));
    if (!fat) {
      const found = entries.map((e) => `${e.number}: type ${hex(e.type)}`).join(', ') || 'no partitions';
      throw new PartitionTableError(`no FAT partition in its partition table (${found})`);
    }
    const offset = fat.startSector * SECTOR;
    const bytes = fat.sectors * SECTOR;
    if (offset + bytes > size) {
      throw new PartitionTableError(
        `partition ${fat.number} ends at byte ${offset + bytes}, past the end of the file (${size} bytes): a truncated image?`,
      );
    }
    const boot = Buffer.alloc(SECTOR);
    await handle.read(boot, 0, SECTOR, offset);
    const fileSystem = fatSignature(boot);
    if (!fileSystem) {
      throw new PartitionTableError(
        `partition ${fat.number} is marked ${FAT_TYPES.get(fat.type)} but holds no FAT file system (not formatted?)`,
      );
    }
    return { number: fat.number, type: fat.type, offset, bytes, fileSystem };
  } finally {
    await handle.close();
  }
}

/** 'FAT32' etc. from a FAT boot sector, or undefined when it is not one. */
export function fatSignature(boot: Buffer): string | undefined {
  if (boot[510] !== 0x55 || boot[511] !== 0xaa) return undefined;
  const bytesPerSector = boot.readUInt16LE(11);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) return undefined;
  // FAT32 names itself at byte 82, FAT12/16 at byte 54 ("FAT32   ", "FAT16   ").
  for (const at of [82, 54]) {
    const label = boot.toString('latin1', at, at + 8).trim();
    if (/^FAT(12|16|32)?$/.test(label)) return label === 'FAT' ? 'FAT' : label;
  }
  return undefined;
}

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

export const describePartition = (p: FatPartition) =>
  `partition ${p.number} (${p.fileSystem}, ${(p.bytes / 2 ** 20).toFixed(0)} MiB at ${formatOffset(p.offset)})`;

const formatOffset = (bytes: number) =>
  bytes % 2 ** 20 === 0 ? `${bytes / 2 ** 20} MiB` : `byte ${bytes.toLocaleString('en')}`;
