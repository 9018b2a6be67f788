// Settings of `fleetkit flash`: flags, FLEET_FLASH_* variables or an env file (lib/cli/settings.ts),
// checked all at once, the image's partition table included, before anything is written. Every value
// ends up in shell scripts and YAML on the card, so each is held to a strict pattern.
import { pbkdf2Sync } from 'node:crypto';
import { constants, readFileSync, statSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { fileProblem } from '../../lib/cli/checks.ts';
import type { PackedCredentials } from '../../lib/cli/credentials-settings.ts';
import {
  type ParsedCommand,
  parseCommand,
  type SettingIssue,
  type SettingSpec,
  type SettingsInput,
  switchValue,
} from '../../lib/cli/settings.ts';
import { hostSchema, toFieldIssues } from '../../lib/registry/index.ts';
import { parsePin } from '../node/versions.ts';
import { COUNTRY_CODES } from './countries.ts';
import { packCredentialsSetting } from './credentials.ts';
import { type FatPartition, findFatPartition, PartitionTableError } from './partition.ts';
import { MAX_KEY_FILE_BYTES, parsePublicKeys, SSH_KEY_EXPECTED } from './ssh-key.ts';

export const FLASH_STYLES = ['firstrun', 'cloud-init', 'both'] as const;
export type FlashStyle = (typeof FLASH_STYLES)[number];
export const NODE_ARCH_SETTINGS = ['auto', 'arm64', 'armv7l'] as const;

export const FLASH_SETTINGS: readonly SettingSpec[] = [
  {
    key: 'image',
    flag: 'image',
    env: 'FLEET_FLASH_IMAGE',
    help: 'Raspberry Pi OS image file to edit (.img)',
  },
  { key: 'boot', flag: 'boot', env: 'FLEET_FLASH_BOOT', help: "or: the card's boot partition, mounted" },
  { key: 'hostname', flag: 'hostname', env: 'FLEET_FLASH_HOSTNAME', help: "the Pi's hostname (required)" },
  { key: 'user', flag: 'user', env: 'FLEET_FLASH_USER', help: 'login user', defaultText: 'pi' },
  {
    key: 'sshKey',
    flag: 'ssh-key',
    env: 'FLEET_FLASH_SSH_KEY',
    help: "SSH public key file for the user's login (required)",
  },
  { key: 'wifiSsid', flag: 'wifi-ssid', env: 'FLEET_FLASH_WIFI_SSID', help: 'Wi-Fi network name' },
  {
    key: 'wifiPassphrase',
    flag: 'wifi-passphrase',
    env: 'FLEET_FLASH_WIFI_PASSPHRASE',
    help: 'Wi-Fi passphrase, in the environment or the --env-file (a flag shows in ps)',
    secret: true,
  },
  {
    key: 'wifiCountry',
    flag: 'wifi-country',
    env: 'FLEET_FLASH_WIFI_COUNTRY',
    help: 'Wi-Fi country, ISO 3166 code such as GB, DE, US (required with Wi-Fi)',
  },
  {
    key: 'controlHost',
    flag: 'control-host',
    env: 'FLEET_FLASH_CONTROL_HOST',
    help: "the control host's address as the Pis reach it (required)",
  },
  {
    key: 'style',
    flag: 'style',
    env: 'FLEET_FLASH_STYLE',
    help: 'first-boot mechanism: firstrun (cmdline.txt), cloud-init, or both',
    defaultText: 'both',
  },
  {
    key: 'nodeFromCard',
    flag: 'node-from-card',
    env: 'FLEET_FLASH_NODE_FROM_CARD',
    help: 'put an official Node.js build on the card: the first boot installs it with no network',
    defaultText: 'on',
    switch: true,
  },
  {
    key: 'noNodeFromCard',
    flag: 'no-node-from-card',
    env: 'FLEET_FLASH_NO_NODE_FROM_CARD',
    help: 'leave Node.js off the card: the Pi downloads it from nodejs.org at a boot with internet',
    switch: true,
  },
  {
    key: 'nodeVersion',
    flag: 'node-version',
    env: 'FLEET_FLASH_NODE_VERSION',
    help: 'pin the Node.js build: a major (22) or an exact version (22.11.0), 20 or newer',
    defaultText: 'the newest LTS line (64-bit images), the newest armv7l build (32-bit)',
  },
  {
    key: 'nodeArch',
    flag: 'node-arch',
    env: 'FLEET_FLASH_NODE_ARCH',
    help: "the image's architecture: auto (from its kernels), arm64 (64-bit) or armv7l (32-bit)",
    defaultText: 'auto, arm64 when the image does not say',
  },
  {
    key: 'credentials',
    flag: 'credentials',
    env: 'FLEET_CREDENTIALS',
    help: "the devices' credentials on the stores: <secure folder>/device/credentials.env (fleetkit stores --secure); the card carries them until the first boot moves them to /etc/fleetkit/credentials/, readable by the agent's user only",
    defaultText: 'none: stores without credentials',
  },
];

export type FlashTarget =
  | { kind: 'image'; file: string; partition: FatPartition }
  | { kind: 'directory'; dir: string };

export interface WifiSettings {
  ssid: string;
  /** The WPA PSK (64 hex digits), derived from the passphrase: the passphrase itself never goes on the card. */
  psk: string;
}

export interface FlashConfig {
  target: FlashTarget;
  hostname: string;
  user: string;
  sshKeyFile: string;
  sshKeys: readonly string[];
  wifi: Readonly<WifiSettings> | undefined;
  /** Wi-Fi regulatory domain; may be set without Wi-Fi. */
  country: string | undefined;
  controlHost: string;
  style: FlashStyle;
  node: NodeSettings;
  /** The devices' credentials to carry (their files, checked), or undefined: none. */
  credentials?: PackedCredentials | undefined;
}

export interface NodeSettings {
  /** Put the build on the card (default); false: the Pi downloads it at a boot with internet. */
  fromCard: boolean;
  /** A pinned version ("22", "22.11.0"), checked by provision/node's parsePin. */
  version: string | undefined;
  arch: (typeof NODE_ARCH_SETTINGS)[number];
}

// RFC 1123 label: what a hostname without dots may be.
const HOSTNAME_LABEL = /^(?=.{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$/;
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
// Accounts Debian and Raspberry Pi OS already have, which the first-boot script must not take over.
const SYSTEM_USERS = new Set(
  'root daemon bin sys sync games man lp mail news uucp proxy www-data backup list irc gnats nobody _apt messagebus sshd avahi polkitd systemd-network systemd-resolve systemd-timesync lightdm'.split(
    ' ',
  ),
);
// biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point of this pattern
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const PRINTABLE_ASCII = /^[\x20-\x7e]{8,63}$/;
const HEX_PSK = /^[0-9A-Fa-f]{64}$/;

const schema = z.strictObject({
  hostname: z
    .string()
    .regex(
      HOSTNAME_LABEL,
      "1-63 letters, digits or '-', not starting or ending with '-' (an RFC 1123 host label: no spaces, dots or '_')",
    ),
  user: z
    .string()
    .regex(USER_NAME, "a Linux user name: a lowercase letter or '_', then up to 31 of a-z, 0-9, '_', '-'")
    .refine((name) => !SYSTEM_USERS.has(name), 'a user of your own, not a system account such as root'),
  wifiSsid: z
    .string()
    .refine(
      (ssid) => ssid.length > 0 && Buffer.byteLength(ssid) <= 32 && !UNPRINTABLE.test(ssid),
      'a Wi-Fi network name: 1-32 bytes of printable text',
    )
    .optional(),
  wifiPassphrase: z
    .string()
    .refine(
      (pass) => PRINTABLE_ASCII.test(pass) || HEX_PSK.test(pass),
      'a WPA passphrase of 8 to 63 printable ASCII characters, or 64 hex digits (the PSK itself)',
    )
    .optional(),
  wifiCountry: z
    .string()
    .transform((code) => code.toUpperCase())
    .refine(
      (code) => COUNTRY_CODES.has(code),
      'an ISO 3166 two-letter country code, such as GB (not UK), DE, FR, US, JP',
    )
    .optional(),
  controlHost: hostSchema.refine(
    (host) => !isLoopback(host),
    'the address the Pis reach the control host at: not a loopback or any-address such as 127.0.0.1',
  ),
  style: z.enum(FLASH_STYLES, { error: `one of ${FLASH_STYLES.join(', ')}` }),
  nodeVersion: z.string().superRefine((text, ctx) => {
    const pin = parsePin(text);
    if ('problem' in pin) ctx.addIssue({ code: 'custom', message: pin.problem });
  }),
  nodeArch: z.enum(NODE_ARCH_SETTINGS, { error: `one of ${NODE_ARCH_SETTINGS.join(', ')}` }),
});

function isLoopback(host: string): boolean {
  const lower = host.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return true;
  if (isIP(lower) === 4) return lower.startsWith('127.') || lower === '0.0.0.0';
  if (isIP(lower) === 6)
    return /^(::1?|0*:0*:0*:0*:0*:0*:0*:0*1?)$/.test(lower) || lower === '::ffff:127.0.0.1';
  return false;
}

/** The WPA2 PSK: PBKDF2-HMAC-SHA1(passphrase, SSID, 4096 rounds, 32 bytes), as wpa_passphrase computes it. */
export function wpaPsk(passphrase: string, ssid: string): string {
  if (HEX_PSK.test(passphrase)) return passphrase.toLowerCase();
  return pbkdf2Sync(Buffer.from(passphrase, 'utf8'), Buffer.from(ssid, 'utf8'), 4096, 32, 'sha1').toString(
    'hex',
  );
}

export type ParsedFlashArgs = ParsedCommand<FlashConfig>;

const DESCRIPTION = `Writes the first-boot setup of a Raspberry Pi onto a Raspberry Pi OS image file (edited in place with
mtools: no root, no mount) or onto a mounted card's boot partition: hostname, user and SSH key, Wi-Fi,
the fleetkit agent with its settings pointing at the control host, and an official Node.js build for
the image's architecture (fetched once with npm into .cache/node). At first boot the Pi installs Node.js
from the card, with no network, and starts the agent. Safe to run again on the same image or card.`;

const ABOUT = {
  usage: 'Usage: fleetkit flash (--image FILE | --boot DIR) [settings]',
  description: DESCRIPTION,
};

/** Throws one SettingsError naming every bad setting by its flag and variable. Nothing is written. */
export function loadFlashConfig(input: SettingsInput): Promise<ParsedFlashArgs> {
  return parseCommand(FLASH_SETTINGS, input, ABOUT, (values, issues, { sources }) =>
    checkFlashSettings(values, issues, sources),
  );
}

async function checkFlashSettings(
  values: Record<string, string | string[] | undefined>,
  issues: SettingIssue[],
  sources: Readonly<Record<string, string>> = {},
): Promise<FlashConfig | undefined> {
  const text = (key: string) => {
    const value = values[key];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  for (const [key, what] of [
    ['hostname', "the Pi's hostname"],
    ['sshKey', SSH_KEY_EXPECTED],
    ['controlHost', "the control host's address (IP or hostname)"],
  ] as const) {
    if (text(key) === undefined) issues.push({ field: key, expected: `required: ${what}` });
  }
  const parsed = schema.partial().safeParse({
    hostname: text('hostname'),
    user: text('user') ?? 'pi',
    wifiSsid: text('wifiSsid'),
    wifiPassphrase: text('wifiPassphrase'),
    wifiCountry: text('wifiCountry'),
    controlHost: text('controlHost'),
    style: text('style') ?? 'both',
    nodeVersion: text('nodeVersion'),
    nodeArch: text('nodeArch') ?? 'auto',
  });
  if (!parsed.success) issues.push(...toFieldIssues(parsed.error));
  const fromCard = switchValue(values.nodeFromCard);
  const notFromCard = switchValue(values.noNodeFromCard);
  if (fromCard === undefined) {
    issues.push({ field: 'nodeFromCard', expected: 'true or false (or the flag alone)' });
  }
  if (notFromCard === undefined) {
    issues.push({ field: 'noNodeFromCard', expected: 'true or false (or the flag alone)' });
  }
  if (fromCard === true && notFromCard === true) {
    issues.push({
      field: 'noNodeFromCard',
      expected: 'not together with --node-from-card: one or the other',
    });
  }
  const given = {
    ssid: text('wifiSsid') !== undefined,
    passphrase: text('wifiPassphrase') !== undefined,
    country: text('wifiCountry') !== undefined,
  };
  if (given.ssid && !given.passphrase) {
    issues.push({
      field: 'wifiPassphrase',
      expected: 'required with --wifi-ssid (open networks are not supported)',
    });
  }
  if (given.ssid && !given.country) {
    issues.push({
      field: 'wifiCountry',
      expected: 'required with --wifi-ssid: the radio stays off without it',
    });
  }
  if (given.passphrase && !given.ssid) {
    issues.push({
      field: 'wifiSsid',
      expected: 'required with FLEET_FLASH_WIFI_PASSPHRASE: the network name',
    });
  }

  const sshKeyFile = text('sshKey');
  const sshKeys = sshKeyFile ? readPublicKeys(sshKeyFile, issues) : [];
  const target = await findTarget(text('image'), text('boot'), issues);
  const credentials = packCredentialsSetting(text('credentials'), sources, issues);

  if (!parsed.success || !target) return undefined;
  const p = parsed.data;
  const wifi =
    p.wifiSsid !== undefined && p.wifiPassphrase !== undefined
      ? Object.freeze({ ssid: p.wifiSsid, psk: wpaPsk(p.wifiPassphrase, p.wifiSsid) })
      : undefined;
  // A missing required setting is an issue, so that parseCommand throws before this is used.
  return {
    target,
    hostname: p.hostname!,
    user: p.user!,
    sshKeyFile: path.resolve(sshKeyFile ?? ''),
    sshKeys: Object.freeze(sshKeys),
    wifi,
    country: p.wifiCountry,
    controlHost: p.controlHost!,
    style: p.style!,
    node: {
      // Unset: on. FLEET_FLASH_NODE_FROM_CARD=false or --no-node-from-card: off.
      fromCard: (values.nodeFromCard === undefined || fromCard === true) && notFromCard !== true,
      version: p.nodeVersion,
      arch: p.nodeArch ?? 'auto',
    },
    credentials,
  };
}

function readPublicKeys(file: string, issues: SettingIssue[]): string[] {
  let content: string;
  try {
    const stats = statSync(file);
    if (!stats.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    if (stats.size > MAX_KEY_FILE_BYTES) {
      issues.push({
        field: 'sshKey',
        expected: `${SSH_KEY_EXPECTED}; ${file}: ${stats.size} bytes, too big for one`,
      });
      return [];
    }
    content = readFileSync(file, 'utf8');
  } catch (error) {
    issues.push({ field: 'sshKey', expected: `${SSH_KEY_EXPECTED}; ${file}: ${fileProblem(error)}` });
    return [];
  }
  const parsed = parsePublicKeys(content);
  if ('problem' in parsed) {
    issues.push({ field: 'sshKey', expected: `${SSH_KEY_EXPECTED}; ${file}: ${parsed.problem}` });
    return [];
  }
  return parsed.keys;
}

async function findTarget(
  image: string | undefined,
  boot: string | undefined,
  issues: SettingIssue[],
): Promise<FlashTarget | undefined> {
  if ((image === undefined) === (boot === undefined)) {
    issues.push({
      field: 'image',
      expected: `exactly one of --image FILE (an image file) or --boot DIR (a mounted boot partition)${image ? ', not both' : ''}`,
    });
    return undefined;
  }
  if (image !== undefined) {
    const file = path.resolve(image);
    const expected = 'a Raspberry Pi OS image file (.img, uncompressed) with a FAT boot partition';
    try {
      if (!statSync(file).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
      await access(file, constants.R_OK | constants.W_OK);
    } catch (error) {
      issues.push({ field: 'image', expected: `${expected}; ${image}: ${fileProblem(error)}` });
      return undefined;
    }
    try {
      return { kind: 'image', file, partition: await findFatPartition(file) };
    } catch (error) {
      if (!(error instanceof PartitionTableError)) throw error;
      const compressed = /\.(xz|gz|zip|zst|bz2|7z)$/i.test(file)
        ? ' (it looks compressed: decompress it first, e.g. `xz -dk FILE`)'
        : '';
      issues.push({ field: 'image', expected: `${expected}; ${image}: ${error.message}${compressed}` });
      return undefined;
    }
  }
  const dir = path.resolve(boot!);
  try {
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await access(dir, constants.W_OK);
  } catch (error) {
    issues.push({
      field: 'boot',
      expected: `the mounted boot partition of a card (a writable folder); ${boot}: ${fileProblem(error)}`,
    });
    return undefined;
  }
  return { kind: 'directory', dir };
}
