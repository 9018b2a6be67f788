import type { Load } from '../../lib/registry/index.ts';

/** A device's load with this CPU figure and ordinary values for the rest (for tests of who is picked). */
export const loadOf = (cpuPercent: number): Load => ({
  cpuPercent,
  load1: 0.2,
  memUsedPercent: 25,
  temperatureC: null,
  uptimeSeconds: 60,
});
