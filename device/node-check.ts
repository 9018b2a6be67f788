// The oldest Node.js the kit runs on (package.json's engines, baked into the bundles by their build):
// a Pi or a laptop with an older one is told so in words, not with a syntax error from deep inside.
import { readFileSync } from 'node:fs';

declare const __FLEETKIT_MIN_NODE__: number | undefined;

function fromPackage(): number {
  try {
    const { engines } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return Number(/(\d+)/.exec(String(engines?.node))?.[1] ?? 20);
  } catch {
    return 20;
  }
}

export const MIN_NODE_MAJOR: number =
  typeof __FLEETKIT_MIN_NODE__ === 'number' ? __FLEETKIT_MIN_NODE__ : fromPackage();

/** What is wrong with this Node.js, or undefined when it is new enough. */
export function nodeTooOld(
  version: string = process.versions.node,
  execPath = process.execPath,
): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return undefined;
  return `this is Node.js ${version} (${execPath}); fleetkit needs Node.js ${MIN_NODE_MAJOR} or newer: install a current LTS from https://nodejs.org/ (on a Pi: fleetkit deploy or a card from fleetkit flash puts one in /opt/fleetkit/node)`;
}
