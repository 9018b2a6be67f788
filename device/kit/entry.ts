// The attendee kit's one file (`curl -O http://INSTRUCTOR:3000/kit/fleetkit.mjs`), this is its entry:
// `node fleetkit.mjs <command> ...` on a laptop with only Node. In a folder where `join` ran,
// ./fleetkit.env gives every command the stores (the environment and the flags still win).
import { fileProblem } from '../../lib/cli/checks.ts';
import { isEntryPoint } from '../../lib/cli/entry-point.ts';
import { isSettingsError, printBadSettings, setProgramName } from '../../lib/cli/settings.ts';
import type { StoreKind } from '../../lib/registry/index.ts';
import { nodeTooOld } from '../node-check.ts';
import { KIT_ENV_FILE, readKitEnv } from './kit-env.ts';

type Main = (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number | undefined>;

const raw =
  (store: StoreKind): (() => Promise<{ main: Main }>) =>
  async () => {
    const { main } = await import('./raw/main.ts');
    return { main: (argv, env) => main(store, argv, env) };
  };

const COMMANDS: Record<string, { usage: string; about: string; load: () => Promise<{ main: Main }> }> = {
  join: {
    usage: 'join INSTRUCTOR [--name N] [--devices 3]',
    about: "join the instructor's fleet with devices of your own (Ctrl-C leaves)",
    load: () => import('./join.ts'),
  },
  pick: {
    usage: 'pick [--strategy least-loaded] [--json] [--follow]',
    about: 'which device each store would hand a client now, and why',
    load: () => import('./pick.ts'),
  },
  watch: {
    usage: 'watch [--store etcd]',
    about: 'print the devices as each store pushes them: joined, changed, gone',
    load: () => import('./watch.ts'),
  },
  etcd: { usage: 'etcd get|put|watch|ls KEY [VALUE]', about: 'etcd by hand', load: raw('etcd') },
  zookeeper: {
    usage: 'zookeeper get|put|watch|ls PATH [VALUE]',
    about: 'ZooKeeper by hand',
    load: raw('zookeeper'),
  },
  consul: {
    usage: 'consul kv get|put|watch|ls ... | services | health S',
    about: 'Consul by hand',
    load: raw('consul'),
  },
  agent: {
    usage: 'agent [settings]',
    about: 'one device agent (join starts these for you)',
    load: () => import('../main.ts'),
  },
};

function usage(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  const rows = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.about}`);
  return `Usage: node fleetkit.mjs <command> ...   (node fleetkit.mjs <command> --help for its settings)\n\n${rows.join('\n')}\n\nStart with: node fleetkit.mjs join INSTRUCTOR --name yourname   (INSTRUCTOR: the live page's address)\n`;
}

export async function run(argv: readonly string[]): Promise<number | undefined> {
  setProgramName('node fleetkit.mjs');
  const tooOld = nodeTooOld();
  if (tooOld) {
    console.error(`node fleetkit.mjs: ${tooOld}`);
    return 1;
  }
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    console.error(`node fleetkit.mjs: unknown command "${name.slice(0, 40)}"\n\n${usage()}`);
    return 2;
  }
  // The folder's file under the environment: a variable set by hand wins over what join wrote.
  let fromFile: Record<string, string>;
  try {
    fromFile = readKitEnv();
  } catch (error) {
    if (!isSettingsError(error)) {
      console.error(`node fleetkit.mjs: cannot read ./${KIT_ENV_FILE}: ${fileProblem(error)}`);
      return 1;
    }
    printBadSettings(name, error.issues, { untouched: 'nothing started' });
    console.error(`(fix or delete ./${KIT_ENV_FILE}: \`join\` writes it again)`);
    return 2;
  }
  return (await command.load()).main(rest, { ...fromFile, ...process.env });
}

// Imported by an attendee's own script, the file is a library (library.ts); run, it is the command line.
export * from './library.ts';

if (isEntryPoint(import.meta.url)) {
  const code = await run(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
}
