// Labels every device reports by itself: what board, what OS, what agent. Configured labels win.
import { readFile } from 'node:fs/promises';
import { arch } from 'node:os';

const printable = (text: string) =>
  text
    .replace(/\0/g, '')
    .replace(/[^\x20-\x7e]/g, '')
    .trim()
    .slice(0, 256);

async function firstLine(
  path: string,
  pick: (text: string) => string | undefined,
): Promise<string | undefined> {
  try {
    const value = pick(await readFile(path, 'utf8'));
    return value ? printable(value) || undefined : undefined;
  } catch {
    return undefined;
  }
}

export async function deviceLabels(
  version: string,
  configured: Record<string, string>,
): Promise<Record<string, string>> {
  const [model, os] = await Promise.all([
    firstLine('/proc/device-tree/model', (t) => t),
    firstLine('/etc/os-release', (t) => /^PRETTY_NAME="?([^"\n]*)"?/m.exec(t)?.[1]),
  ]);
  const found: Record<string, string> = { arch: arch(), agent: version };
  if (model) found.model = model;
  if (os) found.os = os;
  return { ...found, ...configured };
}
