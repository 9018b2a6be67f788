// `fleetkit sim`: a simulated fleet on this machine.
//   fleetkit sim start [N]   N devices (default 6), in the foreground; Ctrl-C stops them all
//   fleetkit sim list | unplug ID | replug ID | kill ID | stop     acting on the running fleet
//   fleetkit sim stress ID PERCENT [SECONDS]   the device burns PERCENT % of one core (default 60 s)
import { once } from 'node:events';
import { MAX_STRESS_SECONDS } from '../../device/stress-message.ts';
import { unitNodeFlags } from '../../device/unit.ts';
import { numberSetting, wholeNumber } from '../../lib/cli/checks.ts';
import {
  LIVENESS_SETTINGS,
  parseLiveness,
  parseStores,
  STORE_SETTINGS,
} from '../../lib/cli/common-settings.ts';
import { CREDENTIAL_SETTINGS, loadCredentials } from '../../lib/cli/credentials-settings.ts';
import {
  configOrExit,
  parseCommand,
  type SettingIssue,
  type SettingSpec,
  type SettingsInput,
} from '../../lib/cli/settings.ts';
import { onShutdown } from '../../lib/cli/shutdown.ts';
import {
  errorMessage,
  type LivenessSettings,
  namespaceSchema,
  portSchema,
  type StoreKind,
  serviceSchema,
  toFieldIssues,
} from '../../lib/registry/index.ts';
import {
  checkStressParams,
  DEFAULT_STRESS_SECONDS,
  type StressParams,
} from '../../server/simulation-contract.ts';
import {
  DEFAULT_SIM_CONTROL,
  DEFAULT_SIM_CONTROL_PORT,
  SimControlClient,
  serveControl,
  simControlSecret,
} from './control.ts';
import { SIM_ACTIONS, type SimAction, type SimDeviceInfo } from './device.ts';
import { SimFleet } from './fleet.ts';

const SIM_SETTINGS: readonly SettingSpec[] = [
  ...STORE_SETTINGS,
  // The devices' credentials: passed to every simulated agent (FLEET_CREDENTIALS and the variables).
  ...CREDENTIAL_SETTINGS,
  ...LIVENESS_SETTINGS,
  {
    key: 'mode',
    flag: 'mode',
    env: 'FLEET_SIM_MODE',
    help: 'namespaces (root), processes, or auto',
    defaultText: 'auto',
  },
  {
    key: 'controlPort',
    flag: 'control-port',
    env: 'FLEET_SIM_CONTROL_PORT',
    help: 'loopback port the running fleet answers on',
    defaultText: String(DEFAULT_SIM_CONTROL_PORT),
  },
];
const CLIENT_SETTINGS: readonly SettingSpec[] = [
  {
    key: 'control',
    flag: 'control',
    env: 'FLEET_SIM_CONTROL',
    help: 'where the running fleet answers',
    defaultText: DEFAULT_SIM_CONTROL,
  },
];

const START_SETTINGS: readonly SettingSpec[] = [...SIM_SETTINGS];
const ALL_SETTINGS: readonly SettingSpec[] = [...SIM_SETTINGS, ...CLIENT_SETTINGS];
const MODES = ['auto', 'namespaces', 'processes'] as const;
const VERBS = ['start', 'list', 'stop', ...SIM_ACTIONS] as const;

const ABOUT = {
  usage: `Usage: fleetkit sim start [N] [settings]      run N simulated devices (default 6) until Ctrl-C
       fleetkit sim list | stop [--control URL]     the running fleet
       fleetkit sim unplug|replug|kill ID           one device (as root: its link goes down; else it freezes)
       fleetkit sim stress ID PERCENT [SECONDS]     one device burns PERCENT % of one core for SECONDS (default ${DEFAULT_STRESS_SECONDS})`,
  description:
    "Runs the real agent as N devices on this machine, and acts on them while they run. Each device reports\nits own process's load (FLEET_LOAD_FROM=process), so `sim stress` moves its CPU figure in every store\n(SECONDS 0 takes it back to its base load). The stores, liveness, --mode and --control-port settings\nare for `sim start`; --control for the others.",
  positionals: [
    { name: 'COMMAND', help: VERBS.join(', ') },
    { name: 'N', help: 'sim start: how many devices, 1 to 1000 (default: 6)' },
    { name: 'ID', help: 'sim unplug, replug, kill, stress: a device id such as sim-3 (sim list shows them)' },
    { name: 'PERCENT', help: 'sim stress: % of one core to burn, 0 to 100' },
    {
      name: 'SECONDS',
      help: `sim stress: for how long, 0 to ${MAX_STRESS_SECONDS} (default: ${DEFAULT_STRESS_SECONDS}; 0 ends a load)`,
    },
  ],
};

type SimCommand =
  | {
      verb: 'start';
      count: number;
      mode: (typeof MODES)[number];
      controlPort: number;
      stores: Partial<Record<StoreKind, string[]>>;
      namespace: string;
      service: string;
      liveness: LivenessSettings;
      /** The variables that carry the devices' credentials to each agent (no secret printed). */
      credentialsEnv: Record<string, string>;
      credentialsSummary: string | null;
    }
  | { verb: 'list' | 'stop'; control: string }
  | { verb: Exclude<SimAction, 'stress'>; id: string; control: string }
  | { verb: 'stress'; id: string; control: string; params: StressParams };

/** Throws a SettingsError naming every bad setting (and argument) at once. */
export function parseSimCommand(input: SettingsInput) {
  return parseCommand(
    ALL_SETTINGS,
    input,
    ABOUT,
    (values, issues, { positionals, sources }): SimCommand | undefined => {
      const [verb, arg, ...rest] = positionals;
      // Only stress takes more than one argument: PERCENT and SECONDS.
      const more = verb === 'stress' ? rest.slice(0, 2) : [];
      const extra = rest.slice(more.length);
      if (extra.length > 0) issues.push({ field: extra.join(' '), expected: 'nothing more (see --help)' });
      if (!VERBS.includes(verb as (typeof VERBS)[number])) {
        issues.push({
          field: verb ?? 'COMMAND',
          expected: `a command: ${VERBS.join(', ')}`,
        });
        return undefined;
      }
      // A flag of the other kind of command is a mistake; a variable may be there for another command.
      const onlyFor = (specs: readonly SettingSpec[], which: string) => {
        for (const spec of specs) {
          if (sources[spec.key] === `--${spec.flag}`)
            issues.push({ field: spec.key, expected: `only with ${which}` });
        }
      };
      if (verb === 'start') {
        onlyFor(CLIENT_SETTINGS, 'sim list, stop, unplug, replug, kill, stress');
        return checkStart(arg, values, issues, sources);
      }
      onlyFor(START_SETTINGS, 'sim start');
      const control = (values.control as string | undefined) ?? DEFAULT_SIM_CONTROL;
      if (verb === 'list' || verb === 'stop') {
        if (arg !== undefined) issues.push({ field: arg, expected: `nothing after sim ${verb}` });
        return { verb, control };
      }
      if (!arg) {
        issues.push({ field: 'ID', expected: 'a device id, e.g. sim-3 (fleetkit sim list)' });
        return undefined;
      }
      if (verb !== 'stress') return { verb: verb as Exclude<SimAction, 'stress'>, id: arg, control };
      const [percent, seconds] = more;
      if (percent === undefined) {
        issues.push({
          field: 'PERCENT',
          expected: 'how much of one core to burn, 0 to 100 (sim stress sim-3 80)',
        });
        return undefined;
      }
      const checked = checkStressParams({
        percent: numberSetting(percent),
        seconds: seconds === undefined ? DEFAULT_STRESS_SECONDS : numberSetting(seconds),
      });
      if (checked.issues) {
        issues.push(...checked.issues.map((i) => ({ ...i, field: i.field.toUpperCase() })));
        return undefined;
      }
      return { verb, id: arg, control, params: checked.params };
    },
  );
}

function checkStart(
  countText: string | undefined,
  values: Record<string, string | string[] | undefined>,
  issues: SettingIssue[],
  sources: Readonly<Record<string, string>>,
): SimCommand | undefined {
  const count = wholeNumber(1, 1000, 'a number of devices').safeParse(numberSetting(countText ?? '6'));
  if (!count.success) issues.push(...toFieldIssues(count.error, 'N'));
  const stores = parseStores(values, issues);
  const liveness = parseLiveness(values, issues);
  const credentials = loadCredentials(values, sources, issues);
  const namespace = namespaceSchema.safeParse(values.namespace ?? 'fleet');
  const service = serviceSchema.safeParse(values.service ?? 'web');
  if (!namespace.success) issues.push(...toFieldIssues(namespace.error, 'namespace'));
  if (!service.success) issues.push(...toFieldIssues(service.error, 'service'));
  const mode = (values.mode as string | undefined) ?? 'auto';
  if (!MODES.includes(mode as (typeof MODES)[number]))
    issues.push({ field: 'mode', expected: 'auto, namespaces or processes' });
  const controlPort = portSchema.safeParse(numberSetting(values.controlPort) ?? DEFAULT_SIM_CONTROL_PORT);
  if (!controlPort.success) issues.push(...toFieldIssues(controlPort.error, 'controlPort'));
  if (!count.success || !namespace.success || !service.success || !controlPort.success) return undefined;
  return {
    verb: 'start',
    count: count.data,
    mode: mode as (typeof MODES)[number],
    controlPort: controlPort.data,
    stores,
    namespace: namespace.data,
    service: service.data,
    liveness,
    credentialsEnv: credentials.env,
    credentialsSummary: credentials.summary,
  };
}

function table(devices: SimDeviceInfo[]): string {
  const stress = (d: SimDeviceInfo) =>
    d.stress
      ? `  stress ${d.stress.percent} % for ${Math.max(0, Math.round((d.stress.endsAt - Date.now()) / 1000))} s`
      : '';
  return devices
    .map((d) => `${d.id.padEnd(8)} ${d.state.padEnd(10)} ${d.mode.padEnd(11)} ${d.url}${stress(d)}`)
    .join('\n');
}

async function start(settings: Extract<SimCommand, { verb: 'start' }>): Promise<number | undefined> {
  const { count, mode, stores, namespace, service, liveness, controlPort, credentialsEnv } = settings;
  const fleet = await SimFleet.start({
    count,
    mode,
    stores,
    namespace,
    service,
    liveness,
    credentialsEnv,
    nodeFlags: unitNodeFlags(),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  process.stdout.write(`credentials of the devices: ${settings.credentialsSummary ?? 'none'}\n`);
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= fleet.stop().then(() => {
      process.stdout.write('all simulated devices stopped\n');
      return control.close();
    });
    return stopping;
  };
  // Its secret goes into a file only this user reads, for `fleetkit sim unplug` in another terminal.
  const control = await serveControl(fleet, controlPort, () => void stop(), { writeFile: true });
  process.stdout.write(
    `${table(fleet.list())}\ncontrol: ${control.url} (fleetkit sim unplug sim-1; its secret is in ${control.file})\n`,
  );
  onShutdown(stop);
  await once(control.server, 'close');
  return 0;
}

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<number | undefined> {
  const command = configOrExit('sim', () => parseSimCommand({ argv, env }));
  if (typeof command === 'number') return command;
  try {
    if (command.verb === 'start') return await start(command);
    const client = new SimControlClient(command.control, await simControlSecret(command.control, env));
    if (command.verb === 'stress') {
      const device = await client.act(command.id, 'stress', command.params);
      const { percent, seconds } = command.params;
      process.stdout.write(
        `${table([device])}\n${
          seconds === 0
            ? `${device.id} is back to its base load`
            : `${device.id} burns ${percent} % of one core for ${seconds} s (its CPU figure in the stores follows within its report interval; Consul paces load writes, 15 s by default)`
        }\n`,
      );
    } else if ('id' in command)
      process.stdout.write(`${table([await client.act(command.id, command.verb)])}\n`);
    else if (command.verb === 'list') process.stdout.write(`${table(await client.list())}\n`);
    else {
      await client.stop();
      process.stdout.write('stopping the simulated fleet\n');
    }
    return 0;
  } catch (error) {
    console.error(`fleetkit sim: ${errorMessage(error)}`);
    return 1;
  }
}
