// `join`'s settings: the instructor's page (the one argument), the attendee's name (the laptop's
// hostname, cleaned, unless given), how many devices, the load they carry, the first port to try.
import { hostname } from 'node:os';
import { numberSetting, wholeNumber } from '../../lib/cli/checks.ts';
import {
  type ParsedCommand,
  parseCommand,
  type SettingSpec,
  type SettingsInput,
} from '../../lib/cli/settings.ts';
import { portSchema, toFieldIssues } from '../../lib/registry/index.ts';
import { parseInstructor } from './stores-from-page.ts';

/** Devices per attendee: a laptop runs them as processes, and 40 attendees share one page. */
export const MAX_DEVICES = 10;
export const DEFAULT_DEVICES = 3;
export const DEFAULT_FIRST_PORT = 8100;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$/;
const NAME_RULE = "1-24 letters, digits, '-' or '_', starting with a letter or digit";

export const JOIN_SETTINGS: readonly SettingSpec[] = [
  {
    key: 'name',
    flag: 'name',
    env: 'FLEET_KIT_NAME',
    help: `your name on the page; your devices are NAME-1, NAME-2, ... (${NAME_RULE})`,
    defaultText: "this laptop's hostname, cleaned",
  },
  {
    key: 'devices',
    flag: 'devices',
    env: 'FLEET_KIT_DEVICES',
    help: `how many devices to start, 1 to ${MAX_DEVICES}`,
    defaultText: String(DEFAULT_DEVICES),
  },
  {
    key: 'load',
    flag: 'load',
    env: 'FLEET_KIT_LOAD',
    help: 'a load every device carries all the time, % of one core (the prompt\'s "stress" adds one for a while)',
    defaultText: '0',
  },
  {
    key: 'firstPort',
    flag: 'first-port',
    env: 'FLEET_KIT_FIRST_PORT',
    help: "the devices' pages listen on this laptop only (127.0.0.1), from this port upward, skipping taken ones",
    defaultText: String(DEFAULT_FIRST_PORT),
  },
];

const ABOUT = {
  usage: 'Usage: node fleetkit.mjs join INSTRUCTOR [settings]',
  description:
    "Joins the instructor's fleet: asks the live page for its stores, checks your name is free, starts your\ndevices (real agents, as processes of this laptop) in etcd, ZooKeeper and Consul, prints each device's\npage, then takes commands: stress NAME-2 80 [60], status, quit. Ctrl-C (or quit) deregisters them all.\nWrites ./fleetkit.env, so that the kit's other commands in this folder know the stores.",
  positionals: [
    {
      name: 'INSTRUCTOR',
      help: "the live page's address as the instructor shows it: host, host:port (port 3000 if none) or its URL",
    },
  ],
};

export interface JoinConfig {
  instructor: string;
  name: string;
  /** true: the name was made from the hostname (said so, with how to choose one). */
  nameFromHost: boolean;
  devices: number;
  load: number;
  firstPort: number;
}

/** The laptop's hostname as a name: "Alices-MacBook-Pro.local" is "alices-macbook-pro". */
export function nameFromHostname(host: string): string {
  const cleaned = host
    .toLowerCase()
    .split('.')[0]!
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 24)
    .replace(/[-_]+$/, '');
  return cleaned || 'attendee';
}

export function parseJoinConfig(input: SettingsInput): ParsedCommand<JoinConfig> {
  return parseCommand(
    JOIN_SETTINGS,
    input,
    ABOUT,
    (values, issues, { positionals }): JoinConfig | undefined => {
      const [instructor, ...extra] = positionals;
      if (instructor === undefined)
        issues.push({
          field: 'INSTRUCTOR',
          expected: "the live page's address, for example 192.168.1.20:3000",
        });
      else {
        const parsed = parseInstructor(instructor);
        if ('expected' in parsed) issues.push({ field: 'INSTRUCTOR', expected: parsed.expected });
      }
      if (extra.length > 0)
        issues.push({
          field: extra[0]!.slice(0, 40),
          expected: 'one INSTRUCTOR only (settings are --flags)',
        });
      const given = values.name as string | undefined;
      if (given !== undefined && !NAME_RE.test(given)) issues.push({ field: 'name', expected: NAME_RULE });
      const devices = wholeNumber(1, MAX_DEVICES, 'a number of devices').safeParse(
        numberSetting(values.devices) ?? DEFAULT_DEVICES,
      );
      if (!devices.success) issues.push(...toFieldIssues(devices.error, 'devices'));
      const load = wholeNumber(0, 100, 'a whole percent of one core').safeParse(
        numberSetting(values.load) ?? 0,
      );
      if (!load.success) issues.push(...toFieldIssues(load.error, 'load'));
      const firstPort = portSchema.safeParse(numberSetting(values.firstPort) ?? DEFAULT_FIRST_PORT);
      if (!firstPort.success) issues.push(...toFieldIssues(firstPort.error, 'firstPort'));
      if (issues.length > 0 || !devices.success || !load.success || !firstPort.success || !instructor)
        return undefined;
      return {
        instructor,
        name: given ?? nameFromHostname(hostname()),
        nameFromHost: given === undefined,
        devices: devices.data,
        load: load.data,
        firstPort: firstPort.data,
      };
    },
  );
}
