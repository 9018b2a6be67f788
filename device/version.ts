// The agent's version: baked in by the bundle build, else read from package.json.
import { readFileSync } from 'node:fs';

declare const __FLEETKIT_VERSION__: string | undefined;

function fromPackage(): string {
  try {
    return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version ?? 'dev';
  } catch {
    return 'dev';
  }
}

export const AGENT_VERSION: string =
  typeof __FLEETKIT_VERSION__ === 'string' ? __FLEETKIT_VERSION__ : fromPackage();
