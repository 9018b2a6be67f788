// One interface over the two places a boot partition can be: a FAT partition inside an image file
// (fat-image.ts, through mtools, no root, no mount) and a mounted card (a directory, written with fs).
// main.ts never branches on which one it has.
import { mkdir, readdir, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface BootWriter {
  /** What is written, for messages: "pi.img, partition 1 (FAT32, 64 MiB at 4 MiB)". */
  readonly description: string;
  /** The file's bytes, or undefined when there is no such file. */
  read(name: string): Promise<Buffer | undefined>;
  /** Creates or replaces the file (and its folder). */
  write(name: string, data: Buffer | string): Promise<void>;
  /** Removes the file if it is there. */
  remove(name: string): Promise<void>;
  /** The names of the files (not folders) in a folder ('' for the top), none when it is not there. */
  list(dir: string): Promise<string[]>;
  freeBytes(): Promise<number>;
  /** Releases temporary files. */
  close(): Promise<void>;
}

/** Names on the boot partition: relative, '/'-separated, nothing that climbs out of it. */
export function checkName(name: string): string[] {
  const parts = name.split('/');
  if (parts.some((part) => part === '' || part === '.' || part === '..' || part.includes('\\'))) {
    throw new Error(`bad file name on the boot partition: "${name}"`);
  }
  return parts;
}

export function directoryWriter(dir: string): BootWriter {
  const resolve = (name: string) => path.join(dir, ...checkName(name));
  return {
    description: dir,
    async read(name) {
      try {
        return await readFile(resolve(name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async write(name, data) {
      const file = resolve(name);
      await mkdir(path.dirname(file), { recursive: true });
      // Write beside, then rename: a card pulled out mid-write keeps the old file or the new one.
      const partial = `${file}.fleetkit-partial`;
      await writeFile(partial, data);
      await rename(partial, file);
    },
    async remove(name) {
      await rm(resolve(name), { force: true });
    },
    async list(name) {
      const folder = name === '' ? dir : resolve(name);
      try {
        const entries = await readdir(folder, { withFileTypes: true });
        return entries.filter((entry) => entry.isFile()).map((entry) => entry.name);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw error;
      }
    },
    async freeBytes() {
      const stats = await statfs(dir);
      return stats.bavail * stats.bsize;
    },
    async close() {},
  };
}
