// The attendee kit as one file (`fleetkit.mjs`): every kit command, the agent and the stores' own
// clients, for a laptop with Node 20+ and nothing else. The live page builds it once at start with
// --classroom and serves it at /kit/fleetkit.mjs; `npm run build:kit [DIR]` writes it.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isEntryPoint } from '../../lib/cli/entry-point.ts';
import { bundleForNode } from '../node-bundle.ts';

export const KIT_FILE = 'fleetkit.mjs';

/** The kit's code, in memory. */
export function buildKit(): Promise<string> {
  return bundleForNode('device/kit/entry.ts');
}

/** Writes the kit into `outDir` (default dist/); its path and size. */
export async function writeKit(outDir: string): Promise<{ file: string; bytes: number }> {
  const [code] = await Promise.all([buildKit(), mkdir(outDir, { recursive: true })]);
  const file = path.join(outDir, KIT_FILE);
  await writeFile(file, code);
  return { file, bytes: Buffer.byteLength(code) };
}

if (isEntryPoint(import.meta.url)) {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const outDir = process.argv[2] ? path.resolve(process.argv[2]) : path.join(root, 'dist');
  const started = Date.now();
  process.stdout.write('building the attendee kit...\n');
  const { file, bytes } = await writeKit(outDir);
  process.stdout.write(
    `built ${path.relative(process.cwd(), file)} (${(bytes / 1024).toFixed(0)} KB) in ${Date.now() - started} ms: node ${KIT_FILE} --help\n`,
  );
}
