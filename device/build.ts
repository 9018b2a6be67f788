// `npm run build:agent`: the agent as one JavaScript file for the Pis (Node >= 20, arm64 or armv7):
// no node_modules, no native code. Also copies the systemd unit and the env file template beside it.

import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isEntryPoint } from '../lib/cli/entry-point.ts';
import { bundleForNode } from './node-bundle.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

export interface BuildResult {
  file: string;
  bytes: number;
}

export async function buildAgent(outDir = path.join(root, 'dist')): Promise<BuildResult> {
  const file = path.join(outDir, 'fleetkit-agent.mjs');
  const [code] = await Promise.all([
    bundleForNode('device/bundle-entry.ts'),
    mkdir(outDir, { recursive: true }),
  ]);
  await writeFile(file, code);
  for (const extra of ['fleetkit-agent.service', 'agent.env.example']) {
    await copyFile(path.join(root, 'device', extra), path.join(outDir, extra));
  }
  return { file, bytes: Buffer.byteLength(code) };
}

if (isEntryPoint(import.meta.url)) {
  const outDir = process.argv[2] ? path.resolve(process.argv[2]) : undefined;
  const started = Date.now();
  process.stdout.write('building the agent bundle...\n');
  const { file, bytes } = await buildAgent(outDir);
  process.stdout.write(
    `built ${path.relative(process.cwd(), file)} (${(bytes / 1024).toFixed(0)} KB) in ${Date.now() - started} ms, with fleetkit-agent.service and agent.env.example beside it\n`,
  );
}
