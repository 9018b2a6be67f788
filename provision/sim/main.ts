// `fleetkit sim`: a simulated fleet on this machine.
//   fleetkit sim start [N]   N devices (default 6), in the foreground; Ctrl-C stops them all
//   fleetkit sim list | unplug ID | replug ID | kill ID | stop     acting on the running fleet
import { once } from 'node:events';
import { unitNodeFlags } from '../../device/unit.ts';
import {
  LIVENESS_SETTINGS,
  numberSetting,
  parseLiveness,
  parseStores,
  STORE_SETTINGS,
} from '../../registry/common-settings.ts';
import { errorMessage, isValidationError, ValidationError } from '../../registry/errors.ts';
import { namespaceSchema, serviceSchema, toFieldIssues } from '../../registry/schema.ts';
import { helpText, nameFields, readSettings, type SettingSpec } from '../../registry/settings.ts';
import { onShutdown } from '../../registry/shutdown.ts';
import { DEFAULT_SIM_CONTROL, DEFAULT_SIM_CONTROL_PORT, SimControlClient, serveControl } from './control.ts';
import { SIM_ACTIONS, type SimAction, type SimDeviceInfo } from './device.ts';
import { SimFleet } from './fleet.ts';

const SIM_SETTINGS: readonly SettingSpec[] = [
  ...STORE_SETTINGS,
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

const USAGE = `Usage: fleetkit sim start [N] [settings]      run N simulated devices (default 6) until Ctrl-C
       fleetkit sim list | stop                     the running fleet
       fleetkit sim unplug|replug|kill ID           one device (as root: its link goes down; else it freezes)`;

function table(devices: SimDeviceInfo[]): string {
  return devices
    .map((d) => `${d.id.padEnd(8)} ${d.state.padEnd(10)} ${d.mode.padEnd(11)} ${d.url}`)
    .join('\n');
}

async function start(countText: string | undefined, argv: readonly string[]): Promise<number | undefined> {
  const { values, sources, flagIssues, help } = readSettings(SIM_SETTINGS, { argv, env: process.env });
  if (help) {
    process.stdout.write(helpText(USAGE, 'Runs the real agent as N devices on this machine.', SIM_SETTINGS));
    return 0;
  }
  const issues = [...flagIssues];
  const count = Number(countText ?? '6');
  if (!Number.isInteger(count) || count < 1 || count > 1000)
    issues.push({ field: 'N', expected: 'a number of devices from 1 to 1000' });
  const stores = parseStores(values, issues);
  const liveness = parseLiveness(values, issues);
  const namespace = namespaceSchema.safeParse(values.namespace ?? 'fleet');
  const service = serviceSchema.safeParse(values.service ?? 'web');
  if (!namespace.success) issues.push(...toFieldIssues(namespace.error, 'namespace'));
  if (!service.success) issues.push(...toFieldIssues(service.error, 'service'));
  const mode = values.mode ?? 'auto';
  if (!['auto', 'namespaces', 'processes'].includes(mode as string))
    issues.push({ field: 'mode', expected: 'auto, namespaces or processes' });
  const controlPort = numberSetting(values.controlPort) ?? DEFAULT_SIM_CONTROL_PORT;
  if (!Number.isInteger(controlPort) || controlPort < 1 || controlPort > 65535)
    issues.push({ field: 'controlPort', expected: 'a port' });
  if (issues.length > 0) throw nameFields(new ValidationError('settings', issues), SIM_SETTINGS, sources);

  const fleet = await SimFleet.start({
    count,
    mode: mode as 'auto',
    stores,
    namespace: namespace.data!,
    service: service.data!,
    liveness,
    nodeFlags: unitNodeFlags(),
    log: (line) => process.stdout.write(`${line}\n`),
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= fleet.stop().then(() => {
      process.stdout.write('all simulated devices stopped\n');
      control.close();
    });
    return stopping;
  };
  const control = await serveControl(fleet, controlPort, () => void stop());
  process.stdout.write(
    `${table(fleet.list())}\ncontrol: http://127.0.0.1:${controlPort} (fleetkit sim unplug sim-1)\n`,
  );
  onShutdown(stop);
  await once(control, 'close');
  return 0;
}

export async function main(argv: readonly string[]): Promise<number | undefined> {
  const [verb, arg, ...rest] = argv;
  try {
    if (!verb || verb === '--help' || verb === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return verb ? 0 : 2;
    }
    if (verb === 'start')
      return await start(
        arg?.startsWith('-') ? undefined : arg,
        arg?.startsWith('-') ? [arg, ...rest] : rest,
      );
    const clientArgs = SIM_ACTIONS.includes(verb as SimAction)
      ? rest
      : [arg, ...rest].filter((a): a is string => a !== undefined);
    const { values, flagIssues } = readSettings(CLIENT_SETTINGS, { argv: clientArgs, env: process.env });
    if (flagIssues.length > 0) throw new ValidationError('settings', flagIssues);
    const client = new SimControlClient((values.control as string | undefined) ?? DEFAULT_SIM_CONTROL);
    if (verb === 'list') process.stdout.write(`${table(await client.list())}\n`);
    else if (verb === 'stop') {
      await client.stop();
      process.stdout.write('stopping the simulated fleet\n');
    } else if (SIM_ACTIONS.includes(verb as SimAction)) {
      if (!arg)
        throw new ValidationError('command', [
          { field: 'ID', expected: 'a device id, e.g. sim-3 (fleetkit sim list)' },
        ]);
      process.stdout.write(`${table([await client.act(arg, verb as SimAction)])}\n`);
    } else {
      console.error(`fleetkit sim: unknown action "${verb}"\n${USAGE}`);
      return 2;
    }
    return 0;
  } catch (error) {
    if (isValidationError(error)) {
      console.error(`fleetkit sim: ${error.issues.map((i) => `${i.field}: ${i.expected}`).join('; ')}`);
      return 2;
    }
    console.error(`fleetkit sim: ${errorMessage(error)}`);
    return 1;
  }
}
