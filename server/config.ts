// The control host's settings: which stores to watch (the devices' liveness settings too, to show
// their windows and Consul's reaping countdown), where to serve the page, the presenter's token.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import {
  LIVENESS_SETTINGS,
  LOG_SETTING,
  numberSetting,
  parseLiveness,
  parseStores,
  STORE_SETTINGS,
} from '../lib/cli/common-settings.ts';
import {
  CREDENTIAL_SETTINGS,
  loadCredentials,
  type PackedCredentials,
  packCredentials,
} from '../lib/cli/credentials-settings.ts';
import { LOG_LEVELS } from '../lib/cli/log.ts';
import {
  type ParsedCommand,
  parseCommand,
  type SettingSpec,
  type SettingsInput,
  switchValue,
} from '../lib/cli/settings.ts';
import type { LivenessSettings, StoreCredentials, StoreKind } from '../lib/registry/index.ts';
import {
  hostSchema,
  namespaceSchema,
  portSchema,
  serviceSchema,
  toFieldIssues,
} from '../lib/registry/index.ts';
import { AUDIENCE_SERVICE, DEFAULT_AUDIENCE_CAP, MAX_AUDIENCE_CAP } from './audience-contract.ts';
import { isClassCode, makeClassCode } from './kit-contract.ts';
import { SECRET_PATTERN as STORE_CONTROL_SECRET } from './store-control-contract.ts';

/**
 * Above the 1,000-device scale the kit is measured at, below what a browser can draw: anyone on the
 * venue's network can register devices, and every page would get them all.
 */
export const DEFAULT_MAX_DEVICES = 2000;

/** Beside the stores' own data of `fleetkit stores` (.cache/stores/data), in the working directory. */
export const DEFAULT_DATA_DIR = '.cache/server';

export const SERVER_SETTINGS: readonly SettingSpec[] = [
  ...STORE_SETTINGS,
  ...CREDENTIAL_SETTINGS,
  { key: 'port', flag: 'port', env: 'FLEET_SERVER_PORT', help: 'port of the live page', defaultText: '3000' },
  {
    key: 'listen',
    flag: 'listen',
    env: 'FLEET_SERVER_LISTEN',
    help: 'address the page listens on (the audience on phones needs the network)',
    defaultText: '0.0.0.0',
  },
  {
    key: 'publicUrl',
    flag: 'public-url',
    env: 'FLEET_PUBLIC_URL',
    help: 'the URL the audience opens (QR code)',
    defaultText: 'http://<this host address>:<port>/',
  },
  {
    key: 'token',
    flag: 'presenter-token',
    env: 'FLEET_PRESENTER_TOKEN',
    help: 'the presenter URL carries it; without it the page is read-only',
    defaultText: 'random, printed at start',
    secret: true,
  },
  {
    key: 'simControl',
    flag: 'sim-control',
    env: 'FLEET_SIM_CONTROL',
    help: 'a simulated fleet to control from the page (fleetkit sim prints it)',
    defaultText: 'none',
  },
  {
    key: 'simControlSecret',
    flag: 'sim-control-secret',
    env: 'FLEET_SIM_CONTROL_SECRET',
    help: 'the secret of --sim-control (npm run demo sets it; fleetkit sim start writes it to .cache/sim/control-PORT.env)',
    defaultText: 'none',
    secret: true,
  },
  {
    key: 'storeControl',
    flag: 'store-control',
    env: 'FLEET_STORE_CONTROL',
    help: 'the stores the kit started, for the presenter to stop, kill and restart (npm run demo sets it)',
    defaultText: 'none: the store columns are read-only',
  },
  {
    key: 'storeControlSecret',
    flag: 'store-control-secret',
    env: 'FLEET_STORE_CONTROL_SECRET',
    help: 'the secret of --store-control',
    defaultText: 'none',
    secret: true,
  },
  {
    key: 'maxDevices',
    flag: 'max-devices',
    env: 'FLEET_MAX_DEVICES',
    help: 'tiles per store column; more devices are counted ("and 1,234 more"), not drawn',
    defaultText: String(DEFAULT_MAX_DEVICES),
  },
  {
    key: 'classroom',
    flag: 'classroom',
    env: 'FLEET_CLASSROOM',
    switch: true,
    help: 'serve the attendee kit at /kit/ (fleetkit.mjs, the stores as attendees reach them): laptops join with `node fleetkit.mjs join`',
  },
  {
    key: 'classCredentials',
    flag: 'class-credentials',
    env: 'FLEET_CLASS_CREDENTIALS',
    help: "with --classroom and stores requiring credentials: the devices' credentials file to hand to each attendee who gives the class code (<secure folder>/device/credentials.env)",
    defaultText: 'none: attendees get no credentials',
    secret: true,
  },
  {
    key: 'classCode',
    flag: 'class-code',
    env: 'FLEET_CLASS_CODE',
    help: 'the code attendees type to get FLEET_CLASS_CREDENTIALS (6-64 letters or digits; say it in the room, never on a page)',
    defaultText: 'made at start and printed once on this terminal',
    secret: true,
  },
  {
    key: 'audienceDevices',
    flag: 'audience-devices',
    env: 'FLEET_AUDIENCE_DEVICES',
    switch: true,
    help: 'phones that open /join (linked from the audience page) become devices in every store (service audience), registered by this server while they heartbeat',
  },
  {
    key: 'audienceCap',
    flag: 'audience-cap',
    env: 'FLEET_AUDIENCE_CAP',
    help: 'at most this many phones registered at once; the next is told the room is full',
    defaultText: String(DEFAULT_AUDIENCE_CAP),
  },
  {
    key: 'dataDir',
    flag: 'data-dir',
    env: 'FLEET_SERVER_DATA',
    help: 'where the server keeps what outlives a restart (the timeline: timeline-<namespace>-<service>.jsonl)',
    defaultText: DEFAULT_DATA_DIR,
  },
  {
    key: 'benchTrace',
    flag: 'bench-trace',
    env: 'FLEET_BENCH_TRACE',
    switch: true,
    help: "for npm run bench only: each batch to the pages carries when the server's watches got its changes and when it left, and when a color's writes were acknowledged (the page shows none of it)",
  },
  ...LIVENESS_SETTINGS,
  LOG_SETTING,
];

export interface ServerConfig {
  stores: Partial<Record<StoreKind, string[]>>;
  /** The server role's credentials on the stores (never logged, never on a page). */
  credentials: StoreCredentials;
  /** Which credentials were given, in words without a secret (for the start line), or null. */
  credentialsSummary: string | null;
  namespace: string;
  service: string;
  port: number;
  listen: string;
  publicUrl: string | undefined;
  token: string;
  simControl: string | undefined;
  /** The secret of the simulated fleet's control API (simulation-contract.ts); set whenever simControl is. */
  simControlSecret?: string | undefined;
  /** The kit's store control API (store-control-contract.ts) and its secret; undefined: read-only stores. */
  storeControl?: { url: string; secret: string } | undefined;
  /** Devices shown per store; the others are counted. */
  maxDevices: number;
  /** Serve the attendee kit (/kit/); off: /kit/ answers 404 saying how to turn it on. */
  classroom: boolean;
  /**
   * The devices' credentials handed to attendees at /kit/credentials with the class code (classroom
   * only), and that code; undefined: the kit gets none. Never logged, never on a page.
   */
  classCredentials?: ClassCredentials | undefined;
  liveness: LivenessSettings;
  logLevel: (typeof LOG_LEVELS)[number];
  /** An absolute path: where the timeline's file lives. */
  dataDir: string;
  /** The bench's hop stamps in every batch (FleetChanges.trace); off everywhere else. */
  benchTrace?: boolean;
  /** Phones join as devices at /join (server/audience/); off: /join says how to turn it on. */
  audienceDevices: boolean;
  /** At most this many phones registered at once. */
  audienceCap: number;
}

const schema = z.strictObject({
  namespace: namespaceSchema,
  service: serviceSchema,
  port: portSchema,
  listen: hostSchema,
  publicUrl: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).optional(),
  token: z.string().regex(/^[A-Za-z0-9_-]{8,128}$/, '8-128 letters, digits, - or _'),
  simControl: z
    .url({
      protocol: /^http$/,
      hostname: /^(127\.0\.0\.1|localhost)$/,
      error: 'an http:// URL on this machine',
    })
    .optional(),
  storeControl: z
    .url({
      protocol: /^http$/,
      hostname: /^(127\.0\.0\.1|localhost)$/,
      error: 'an http:// URL on this machine (the kit serves it on 127.0.0.1)',
    })
    .optional(),
  simControlSecret: z
    .string()
    .regex(STORE_CONTROL_SECRET, '16-128 letters, digits, - or _ (the secret the simulated fleet made)')
    .optional(),
  storeControlSecret: z
    .string()
    .regex(STORE_CONTROL_SECRET, '16-128 letters, digits, - or _ (the secret the kit made)')
    .optional(),
  maxDevices: z
    .number({ error: 'a whole number from 1 to 100000' })
    .int('a whole number from 1 to 100000')
    .min(1, 'a whole number from 1 to 100000')
    .max(100_000, 'a whole number from 1 to 100000'),
  audienceCap: z
    .number({ error: `a whole number from 1 to ${MAX_AUDIENCE_CAP}` })
    .int(`a whole number from 1 to ${MAX_AUDIENCE_CAP}`)
    .min(1, `a whole number from 1 to ${MAX_AUDIENCE_CAP}`)
    .max(MAX_AUDIENCE_CAP, `a whole number from 1 to ${MAX_AUDIENCE_CAP}`),
  logLevel: z.enum(LOG_LEVELS, { error: `one of ${LOG_LEVELS.join(', ')}` }),
  dataDir: z
    .string()
    .min(1, 'a directory path')
    .max(4096, 'a directory path of at most 4096 characters')
    .refine(
      (text) => ![...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f),
      'a directory path without line breaks or control characters',
    ),
});

export interface ClassCredentials {
  /** The device role's folder as files (credentials.env with relative paths, the PEM files). */
  packed: PackedCredentials;
  /** The code as given or made (shown to the instructor when made). */
  code: string;
  /** Made at start (true: the server prints it once on its terminal). */
  codeMade: boolean;
}

/** The class credentials, which show no secret when logged or serialized by mistake. */
function hiddenClass(c: ClassCredentials): ClassCredentials {
  const shown = () => '[class credentials]';
  Object.defineProperty(c, 'toJSON', { value: shown, enumerable: false });
  Object.defineProperty(c, Symbol.for('nodejs.util.inspect.custom'), { value: shown, enumerable: false });
  return c;
}

export type ParsedServerArgs = ParsedCommand<ServerConfig>;

const ABOUT = {
  usage: 'Usage: fleetkit server [settings]',
  description:
    "Watches the devices in etcd, ZooKeeper and/or Consul and serves the live page of each store's view.",
};

export function parseServerConfig(input: SettingsInput): ParsedServerArgs {
  return parseCommand(
    SERVER_SETTINGS,
    input,
    ABOUT,
    (values, issues, { sources }): ServerConfig | undefined => {
      const stores = parseStores(values, issues);
      const credentials = loadCredentials(values, sources, issues);
      const liveness = parseLiveness(values, issues);
      const classroom = switchValue(values.classroom);
      if (classroom === undefined)
        issues.push({ field: 'classroom', expected: 'on/1/true/yes or off/0/false/no' });
      const benchTrace = switchValue(values.benchTrace);
      if (benchTrace === undefined)
        issues.push({ field: 'benchTrace', expected: 'on/1/true/yes or off/0/false/no' });
      const audienceDevices = switchValue(values.audienceDevices);
      if (audienceDevices === undefined)
        issues.push({ field: 'audienceDevices', expected: 'on/1/true/yes or off/0/false/no' });
      const parsed = schema.safeParse({
        namespace: values.namespace ?? 'fleet',
        service: values.service ?? 'web',
        port: numberSetting(values.port) ?? 3000,
        listen: values.listen ?? '0.0.0.0',
        publicUrl: values.publicUrl,
        token: values.token ?? randomBytes(12).toString('base64url'),
        simControl: values.simControl,
        simControlSecret: values.simControlSecret,
        storeControl: values.storeControl,
        storeControlSecret: values.storeControlSecret,
        maxDevices: numberSetting(values.maxDevices) ?? DEFAULT_MAX_DEVICES,
        audienceCap: numberSetting(values.audienceCap) ?? DEFAULT_AUDIENCE_CAP,
        logLevel: values.logLevel ?? 'info',
        dataDir: values.dataDir ?? DEFAULT_DATA_DIR,
      });
      if (!parsed.success) {
        issues.push(...toFieldIssues(parsed.error));
        return undefined;
      }
      // Both or neither: the API refuses every request without its secret.
      const { storeControl: controlUrl, storeControlSecret, ...rest } = parsed.data;
      if (controlUrl !== undefined && storeControlSecret === undefined)
        issues.push({
          field: 'storeControlSecret',
          expected: 'the secret of --store-control (FLEET_STORE_CONTROL_SECRET)',
        });
      if (controlUrl === undefined && storeControlSecret !== undefined)
        issues.push({
          field: 'storeControl',
          expected: 'the URL the secret belongs to (FLEET_STORE_CONTROL)',
        });
      if (parsed.data.simControl !== undefined && parsed.data.simControlSecret === undefined)
        issues.push({
          field: 'simControlSecret',
          expected: 'the secret of --sim-control (FLEET_SIM_CONTROL_SECRET: in .cache/sim/control-PORT.env)',
        });
      // The phones' service is theirs alone: a Pi's registration is never one a phone could overwrite.
      if (audienceDevices && parsed.data.service === AUDIENCE_SERVICE)
        issues.push({
          field: 'service',
          expected: `a service other than ${AUDIENCE_SERVICE} while audience devices are on (the phones are registered under ${AUDIENCE_SERVICE})`,
        });
      const classCredentials = parseClassCredentials(values, sources, classroom, issues);
      if (issues.length > 0) return undefined;
      if (classroom === undefined || benchTrace === undefined || audienceDevices === undefined)
        return undefined;
      return {
        ...rest,
        storeControl:
          controlUrl && storeControlSecret
            ? { url: controlUrl.replace(/\/+$/, ''), secret: storeControlSecret }
            : undefined,
        publicUrl: parsed.data.publicUrl,
        simControl: parsed.data.simControl,
        dataDir: path.resolve(parsed.data.dataDir),
        stores,
        credentials: credentials.credentials,
        credentialsSummary: credentials.summary,
        classroom,
        classCredentials,
        liveness,
        benchTrace,
        audienceDevices,
      };
    },
  );
}

/** FLEET_CLASS_CREDENTIALS (the device role's file, checked as flash checks it) and FLEET_CLASS_CODE. */
function parseClassCredentials(
  values: Record<string, unknown>,
  sources: Readonly<Record<string, string>>,
  classroom: boolean | undefined,
  issues: { field: string; expected: string }[],
): ClassCredentials | undefined {
  const file = values.classCredentials as string | undefined;
  const code = values.classCode as string | undefined;
  if (code !== undefined && !isClassCode(code))
    // The value is never echoed: it is a secret.
    issues.push({
      field: 'FLEET_CLASS_CODE',
      expected: '6-64 letters or digits (dashes and spaces allowed)',
    });
  if (file === undefined || file === '') {
    if (code !== undefined)
      issues.push({
        field: 'FLEET_CLASS_CODE',
        expected: 'given with FLEET_CLASS_CREDENTIALS (the code gives attendees those credentials)',
      });
    return undefined;
  }
  if (classroom === false) {
    issues.push({
      field: 'FLEET_CLASS_CREDENTIALS',
      expected: 'given with --classroom (FLEET_CLASSROOM=on): attendees get them from /kit/credentials',
    });
    return undefined;
  }
  const where = sources.classCredentials ?? 'FLEET_CLASS_CREDENTIALS';
  const field = where === 'FLEET_CLASS_CREDENTIALS' ? where : `FLEET_CLASS_CREDENTIALS (${where})`;
  const packed = packCredentials(file, field, issues);
  if (!packed || (code !== undefined && !isClassCode(code))) return undefined;
  return hiddenClass({ packed, code: code ?? makeClassCode(), codeMade: code === undefined });
}
