// How many members each store runs with, as `npm run demo` and `fleetkit stores` take it (--members):
// one process, or a cluster of 3 or 5 on this host. Even sizes are refused: a cluster of 2 or 4 stops
// at the loss of as many members as one of 1 or 3 does, with more processes to run.
import type { SettingIssue } from '../../lib/cli/settings.ts';

export const MEMBER_COUNTS = [1, 3, 5] as const;

/** The setting as given (a flag, a variable, a settings file line), or undefined with the issue named. */
export function parseMembers(raw: string | string[] | undefined, issues: SettingIssue[]): number | undefined {
  if (raw === undefined) return 1;
  if (typeof raw === 'string' && /^[135]$/.test(raw.trim())) return Number(raw.trim());
  issues.push({ field: 'members', expected: '1, 3 or 5 (a cluster of that many members per store)' });
  return undefined;
}
