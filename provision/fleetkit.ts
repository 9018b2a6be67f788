// The `fleetkit` command: one entry for every part of the kit. Each subcommand is loaded only when used.
const COMMANDS: Record<
  string,
  { about: string; load: () => Promise<{ main(argv: readonly string[]): Promise<number | undefined> }> }
> = {
  agent: { about: 'run the device agent (on each Pi)', load: () => import('../device/main.ts') },
  server: {
    about: 'run the live page of the fleet (on the control host)',
    load: () => import('../server/main.ts'),
  },
  stores: {
    about: 'run etcd, ZooKeeper and Consul for the fleet (on the control host)',
    load: () => import('./run-stores.ts'),
  },
  demo: {
    about: 'the whole demo on this machine: stores, live page, 6 simulated devices',
    load: () => import('./demo.ts'),
  },
  flash: {
    about: 'write first-boot setup (user, SSH key, Wi-Fi, agent) onto a Raspberry Pi OS image or card',
    load: () => import('./flash/main.ts'),
  },
  deploy: {
    about: 'push the agent to the Pis over ssh, restart it, check it answers',
    load: () => import('./deploy/main.ts'),
  },
  pick: {
    about: 'which device each store would hand a client now (least loaded, random, in turn), and why',
    load: () => import('../device/kit/pick.ts'),
  },
  sim: {
    about: 'run simulated devices on this machine (unplug, replug, kill them)',
    load: () => import('./sim/main.ts'),
  },
  'install-stores': {
    about: 'install etcd, ZooKeeper and Consul (Debian)',
    load: () => import('./install-stores.ts'),
  },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(15)} ${c.about}`);
  return `Usage: fleetkit <command> [settings]   (fleetkit <command> --help for its settings)\n\n${rows.join('\n')}\n`;
}

export async function run(argv: readonly string[]): Promise<number | undefined> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`fleetkit: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await command.load()).main(rest);
}

const code = await run(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
