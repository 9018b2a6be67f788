// The boot partition inside an image file, edited in place with mtools (`-i image@@offset`): no root,
// no loop device, no mount. The offset comes from partition.ts, which has checked it holds FAT.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BootWriter, checkName } from './boot-writer.ts';
import { describePartition, type FatPartition } from './partition.ts';
import { commandLine, run } from './run.ts';

/** An mtools command failed: the message has the command and what mtools said. */
export class FatImageError extends Error {
  override readonly name = 'FatImageError';
}

// MTOOLS_SKIP_CHECK: images made by other tools often have a geometry mtools would otherwise refuse.
// MTOOLS_NO_VFAT would drop the long names (fleetkit-agent.service) a Pi expects.
const mtoolsEnv = (() => {
  const env: NodeJS.ProcessEnv = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
  delete env.MTOOLS_NO_VFAT;
  return env;
})();

export async function imageWriter(imageFile: string, partition: FatPartition): Promise<BootWriter> {
  const drive = `${imageFile}@@${partition.offset}`;
  const staging = await mkdtemp(path.join(tmpdir(), 'fleetkit-flash-'));
  const knownDirs = new Set<string>();
  let staged = 0;

  const mtools = async (command: string, args: string[]) => {
    const result = await run(command, ['-i', drive, ...args], { env: mtoolsEnv, timeoutMs: 60_000 });
    return { ...result, line: commandLine(command, ['-i', drive, ...args]) };
  };
  const fail = (line: string, stderr: string): never => {
    throw new FatImageError(`${line} failed: ${stderr.trim() || 'no message from mtools'}`);
  };
  const ensureDir = async (dir: string) => {
    if (dir === '' || knownDirs.has(dir)) return;
    await ensureDir(path.posix.dirname(dir) === '.' ? '' : path.posix.dirname(dir));
    // mmd of an existing folder would ask what to do; ask mdir first.
    if ((await mtools('mdir', ['-b', `::/${dir}`])).code !== 0) {
      const made = await mtools('mmd', [`::/${dir}`]);
      if (made.code !== 0) fail(made.line, made.stderr);
    }
    knownDirs.add(dir);
  };

  return {
    description: `${imageFile}, ${describePartition(partition)}`,
    async read(name) {
      checkName(name);
      const result = await mtools('mtype', [`::/${name}`]);
      if (result.code === 0) return result.stdout;
      if (/not found/i.test(result.stderr)) return undefined;
      return fail(result.line, result.stderr);
    },
    async write(name, data) {
      const parts = checkName(name);
      await ensureDir(parts.slice(0, -1).join('/'));
      const local = path.join(staging, `${++staged}-${parts.at(-1)}`);
      await writeFile(local, data);
      // -D o: replace a file of that name without asking.
      const result = await mtools('mcopy', ['-D', 'o', local, `::/${name}`]);
      await rm(local, { force: true });
      if (result.code !== 0) fail(result.line, result.stderr);
    },
    async remove(name) {
      checkName(name);
      const result = await mtools('mdel', [`::/${name}`]);
      if (result.code !== 0 && !/not found/i.test(result.stderr)) fail(result.line, result.stderr);
    },
    async list(dir) {
      if (dir !== '') checkName(dir);
      const result = await mtools('mdir', ['-/', '-b', `::/${dir}`]);
      if (result.code !== 0) {
        if (/not found/i.test(result.stderr)) return [];
        return fail(result.line, result.stderr);
      }
      // One path a line ("::/fleetkit/install.sh"); folders end with '/'; -/ also lists subfolders.
      const prefix = dir === '' ? '::/' : `::/${dir}/`;
      return result.stdout
        .toString('utf8')
        .split('\n')
        .map((line) => line.trim())
        .filter((line) => line.startsWith(prefix) && !line.endsWith('/'))
        .map((line) => line.slice(prefix.length))
        .filter((name) => !name.includes('/'));
    },
    async freeBytes() {
      const result = await mtools('mdir', ['::/']);
      if (result.code !== 0) fail(result.line, result.stderr);
      // "66 056 704 bytes free": mtools groups the digits with spaces.
      const match = /([\d][\d\s,.]*)\s+bytes free/.exec(result.stdout.toString('utf8'));
      if (!match?.[1]) throw new FatImageError(`${result.line}: no "bytes free" line in its output`);
      return Number(match[1].replace(/\D/g, ''));
    },
    async close() {
      await rm(staging, { recursive: true, force: true });
    },
  };
}
