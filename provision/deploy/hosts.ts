// Host strings and ssh options come from the user (flags, a hosts file): untrusted. Each is checked
// here, and whatever is wrong is said with the value, so that one bad line among thirty is easy to find.
import { isIP } from 'node:net';
import { hostSchema } from '../../lib/registry/index.ts';
import type { SshTarget } from './ssh.ts';

export interface DeployTarget extends SshTarget {
  /** As given: `pi@pi-3.local:22`. */
  spec: string;
  /** Short name for progress lines: the host, with its port when one was given. */
  label: string;
}

const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
const PORT_RE = /^[0-9]{1,5}$/;
export const HOST_FORMAT = 'user@host[:port] (user@[ipv6]:port for IPv6)';

/** A target, or the reason it is not one (in words that name the value). */
export function parseHostSpec(spec: string): DeployTarget | string {
  const shown = JSON.stringify(spec);
  if (spec === '') return `${HOST_FORMAT}, not an empty string`;
  if (/\s/.test(spec)) return `${HOST_FORMAT}, not ${shown}: no spaces in a host`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
  if (/[\u0000-\u001f\u007f]/.test(spec)) return `${HOST_FORMAT}, not ${shown}: no control characters`;
  if (spec.startsWith('-'))
    return `${HOST_FORMAT}, not ${shown}: a host may not start with '-' (ssh would read it as an option)`;
  const at = spec.indexOf('@');
  if (at !== spec.lastIndexOf('@')) return `${HOST_FORMAT}, not ${shown}: one '@' at most`;
  const user = at >= 0 ? spec.slice(0, at) : undefined;
  const rest = at >= 0 ? spec.slice(at + 1) : spec;
  if (user !== undefined && !USER_RE.test(user)) {
    return `${HOST_FORMAT}, not ${shown}: the user is 1-32 letters, digits, '_', '.' or '-', starting with a letter or '_'`;
  }
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    const after = close >= 0 ? rest.slice(close + 1) : '';
    if (close < 0 || (after !== '' && !after.startsWith(':'))) {
      return `${HOST_FORMAT}, not ${shown}: an IPv6 address in brackets, then optionally :port`;
    }
    host = rest.slice(1, close);
    portText = after === '' ? undefined : after.slice(1);
    if (isIP(host) !== 6) return `${HOST_FORMAT}, not ${shown}: "${host}" is not an IPv6 address`;
  } else if (isIP(rest) === 6) {
    host = rest; // a bare IPv6 address, no port
  } else {
    const colon = rest.indexOf(':');
    host = colon >= 0 ? rest.slice(0, colon) : rest;
    portText = colon >= 0 ? rest.slice(colon + 1) : undefined;
    if (!hostSchema.safeParse(host).success || host.startsWith('-')) {
      return `${HOST_FORMAT}, not ${shown}: the host is an IP address or a hostname (letters, digits, '-', '.')`;
    }
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = PORT_RE.test(portText) ? Number(portText) : Number.NaN;
    if (!(port >= 1 && port <= 65535))
      return `${HOST_FORMAT}, not ${shown}: the port is a number from 1 to 65535`;
  }
  const hostPart = isIP(host) === 6 && port !== undefined ? `[${host}]` : host;
  return { spec, user, host, port, label: port === undefined ? hostPart : `${hostPart}:${port}` };
}

/** A hosts file: one host a line; '#' starts a comment; blank lines are skipped. */
export function hostsFileLines(text: string): { line: number; spec: string }[] {
  return text
    .split(/\r?\n/)
    .map((raw, index) => ({ line: index + 1, spec: raw.replace(/#.*$/, '').trim() }))
    .filter((entry) => entry.spec !== '');
}

interface OptionRule {
  name: string;
  valid: (value: string) => boolean;
  expected: string;
}

const oneOf = (name: string, values: readonly string[]): OptionRule => ({
  name,
  valid: (value) => values.includes(value.toLowerCase()),
  expected: values.join(', '),
});
const wholeNumber = (name: string, min: number, max: number): OptionRule => ({
  name,
  valid: (value) => /^[0-9]{1,6}$/.test(value) && Number(value) >= min && Number(value) <= max,
  expected: `a whole number from ${min} to ${max}`,
});

/**
 * The ssh options a deploy may set. Nothing that runs a command or opens a tunnel (ProxyCommand,
 * LocalCommand, RemoteForward, ...): an option is only here when it cannot do more than its name says.
 */
const SSH_OPTIONS: readonly OptionRule[] = [
  oneOf('StrictHostKeyChecking', ['yes', 'no', 'accept-new', 'ask', 'off']),
  {
    name: 'UserKnownHostsFile',
    valid: (value) => /^[A-Za-z0-9_.~/-]{1,4096}$/.test(value) && !value.startsWith('-'),
    expected: "one file path (letters, digits, '_', '.', '~', '/', '-')",
  },
  wholeNumber('ConnectTimeout', 1, 600),
  wholeNumber('Port', 1, 65535),
  wholeNumber('ServerAliveInterval', 0, 3600),
  wholeNumber('ServerAliveCountMax', 1, 100),
  oneOf('IdentitiesOnly', ['yes', 'no']),
  oneOf('Compression', ['yes', 'no']),
  oneOf('LogLevel', ['quiet', 'fatal', 'error', 'info', 'verbose', 'debug', 'debug1', 'debug2', 'debug3']),
];
export const ALLOWED_SSH_OPTIONS = SSH_OPTIONS.map((rule) => rule.name);

/** `Name=value` with the option's own spelling, or the reason it is refused. */
export function parseSshOption(text: string): { option: string } | { problem: string } {
  const shown = JSON.stringify(text);
  const match = /^([A-Za-z]+)=(.*)$/.exec(text);
  if (!match) return { problem: `Name=value (no spaces), not ${shown}` };
  const [, name, value] = match as unknown as [string, string, string];
  const rule = SSH_OPTIONS.find((r) => r.name.toLowerCase() === name.toLowerCase());
  if (!rule) {
    return { problem: `${shown}: ${name} is not allowed here; allowed: ${ALLOWED_SSH_OPTIONS.join(', ')}` };
  }
  if (!rule.valid(value)) return { problem: `${shown}: ${rule.name} takes ${rule.expected}` };
  return { option: `${rule.name}=${value}` };
}
