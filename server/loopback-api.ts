// The guard of the kit's loopback control APIs: the store control (store-control-contract.ts,
// served by provision/stores/control.ts) and the simulated fleet's (simulation-contract.ts, served by
// provision/sim/control.ts). Both stop or kill processes, so both are guarded like a door, not a page:
// - they listen on 127.0.0.1 only (LOOPBACK);
// - every request carries the secret the kit made at start (`authorization: Bearer SECRET`), which
//   reaches the server through its environment and a terminal through a 0600 file, never a flag or a
//   page;
// - Host must be this loopback address and port: a DNS-rebinding page names its own host;
// - a request with an Origin header, or a Sec-Fetch-Site other than none, is refused: a browser adds
//   them to a request a web page makes; the kit's clients never send them.
// A Consul HTTP check aimed at such an API (anyone may register one with the control host's Consul
// agent) sends neither the secret nor, being Consul's own request, anything that passes for it.
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { sameToken as sameSecret } from './http/socket-guard.ts';

/** The secret compared in constant time (the presenter token's comparison: any input, any length). */
export { sameSecret };

/** The address both APIs listen on. */
export const LOOPBACK = '127.0.0.1';

/** What a secret looks like: the kit makes 32 random bytes in base64url (43 characters). */
export const SECRET_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/** A fresh secret for a control API. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The header a kit client sends with every request. */
export function bearer(secret: string): { authorization: string } {
  return { authorization: `Bearer ${secret}` };
}

/** A request the guard refuses: its HTTP status (403 for a browser's or a foreign host's, 401 without the secret) and why. */
export interface Refusal {
  status: 401 | 403;
  error: string;
}

/**
 * The checks every request to a loopback control API passes before its route is looked at.
 * `secretVariable` names where the server gets the secret, for the 401's message.
 */
export function guardLoopbackRequest(
  headers: IncomingHttpHeaders,
  api: { port: number; secret: string; secretVariable: string },
): Refusal | undefined {
  const host = headers.host ?? '';
  if (host !== `${LOOPBACK}:${api.port}` && host !== `localhost:${api.port}`)
    return {
      status: 403,
      error: `Host: ${LOOPBACK}:${api.port} expected (this API answers on loopback only)`,
    };
  if (headers.origin !== undefined || (headers['sec-fetch-site'] ?? 'none') !== 'none')
    return {
      status: 403,
      error: 'requests from a web page are refused: the live page acts through its server',
    };
  const auth = headers.authorization ?? '';
  const given = auth.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
  if (!sameSecret(given, api.secret))
    return {
      status: 401,
      error: `authorization: Bearer SECRET expected, the secret the kit made at start (the server gets it as ${api.secretVariable})`,
    };
  return undefined;
}
