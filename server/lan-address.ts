// This machine's address on the LAN: what the audience types or scans, and the host the attendees'
// kits are told for stores that listen on every address.
import { networkInterfaces } from 'node:os';

/** The first non-internal IPv4 address (127.0.0.1 when there is none). */
export function lanAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
