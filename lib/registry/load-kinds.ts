// A record's load is a machine's (an agent on a Pi or a laptop) or a browser's (an audience phone):
// what reads CPU, memory or temperature asks for the machine's, and a phone's load is then none. Pure,
// with no import: the page's bundle uses it too.
import type { BrowserLoad, Load, MachineLoad } from './types.ts';

export function machineLoad(load: Load | null | undefined): MachineLoad | null {
  return load && !('kind' in load) ? load : null;
}

export function browserLoad(load: Load | null | undefined): BrowserLoad | null {
  return load && 'kind' in load && load.kind === 'browser' ? load : null;
}
