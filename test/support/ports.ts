import { allocatePorts } from '../../provision/stores/ports.ts';

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  return (await allocatePorts('127.0.0.1', ['port'])).port!;
}
