// The workshop's labs, run as an attendee would run them: every command and file a lab tells an
// attendee to run or write (docs/workshop/**/*.md, the blocks marked for the test) runs in an empty
// folder holding only the fleetkit.mjs downloaded from a real `fleetkit server --classroom`, against
// real etcd, ZooKeeper and Consul (lab 6: 3-member clusters of each); "look at the page" steps are
// checked on the page's own socket (page-checks.ts); the teacher's steps are done to the stores
// (teacher-actions.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { STORE_KINDS, type StoreKind } from '../../lib/registry/index.ts';
import { ensureDebianPackages } from '../../provision/deploy/tools.ts';
import { type StoreCluster, startCluster, stopAllStores } from '../../provision/stores/index.ts';
import { FLEETKIT } from '../support/agents.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';
import { type Lab, parseLab } from './lab-markdown.ts';
import { type LabAction, LabRun } from './lab-runner.ts';
import { pageChecks } from './page-checks.ts';
import { PageWatch } from './page-watch.ts';
import { clusterActions, type StoreEndpoints, teacherActions } from './teacher-actions.ts';

const WORKSHOP = fileURLToPath(new URL('../../docs/workshop/', import.meta.url));
/** The labs the issue asks for, at least. */
const REQUIRED = [
  '01-look-by-hand.md',
  '02-your-own-watcher.md',
  '03-liveness-models.md',
  '04-least-loaded.md',
  '05-config-push.md',
  '06-failure.md',
];

/**
 * The class's liveness, as the page tells the kit: short windows, so that a lab's "wait for it to
 * expire" takes seconds. The labs name no number of seconds: they send the attendee to the page's
 * column headers, which show these.
 */
const CLASS_LIVENESS = {
  FLEET_ETCD_TTL: '2',
  FLEET_ZOOKEEPER_SESSION_TIMEOUT: '2000',
  FLEET_CONSUL_CHECK: 'ttl',
  FLEET_CONSUL_TTL: '2',
  FLEET_CONSUL_INTERVAL: '1',
  FLEET_CONSUL_TIMEOUT: '1',
};

async function labFiles(): Promise<string[]> {
  const labs = (await readdir(path.join(WORKSHOP, 'labs'))).filter((f) => f.endsWith('.md')).sort();
  return ['README.md', ...labs.map((f) => `labs/${f}`)];
}

async function readLab(file: string): Promise<Lab> {
  return parseLab(await readFile(path.join(WORKSHOP, file), 'utf8'), `docs/workshop/${file}`);
}

const execFileP = promisify(execFile);
const helps = new Map<string, Promise<string | undefined>>();
/** `fleetkit <command> --help` of this checkout (undefined: no such command). */
function fleetkitHelp(command: string): Promise<string | undefined> {
  let help = helps.get(command);
  if (!help) {
    help = execFileP(process.execPath, [FLEETKIT, command, '--help'], { timeout: 30_000 }).then(
      ({ stdout }) => stdout,
      () => undefined,
    );
    helps.set(command, help);
  }
  return help;
}

/** A class: its stores' endpoints, its page (a real `fleetkit server --classroom`), the kit it serves. */
interface Classroom {
  server: RunningServer;
  page: PageWatch;
  kit: Buffer;
  endpoints: StoreEndpoints;
}

async function openClassroom(endpoints: StoreEndpoints): Promise<Classroom> {
  const env = Object.fromEntries(
    STORE_KINDS.map((store) => [`FLEET_${store.toUpperCase()}`, endpoints()[store].join(',')]),
  );
  const server = await startServer({ ...env, ...CLASS_LIVENESS, FLEET_CLASSROOM: 'on' });
  const response = await fetch(new URL('kit/fleetkit.mjs', server.url));
  assert.equal(response.status, 200, `GET /kit/fleetkit.mjs: ${response.status}`);
  const kit = Buffer.from(await response.arrayBuffer());
  return { server, kit, endpoints, page: await PageWatch.open(server.url) };
}

async function closeClassroom(classroom: Classroom | undefined): Promise<void> {
  classroom?.page.close();
  await classroom?.server.stop();
}

/** Runs one lab file in a class; the README's attendee starts without the kit (it downloads it). */
async function runLab(
  file: string,
  classroom: Classroom,
  teacher: Record<string, LabAction>,
  t: { diagnostic(message: string): void },
): Promise<void> {
  const started = Date.now();
  const first = (store: StoreKind) => classroom.endpoints()[store][0] as string;
  await new LabRun(await readLab(file), {
    where: `docs/workshop/${file}`,
    kit: file === 'README.md' ? undefined : classroom.kit,
    placeholders: { INSTRUCTOR: `127.0.0.1:${classroom.server.port}` },
    checks: pageChecks(() => classroom.page),
    teacher,
    fleetkitHelp,
    usualAddresses: {
      'http://127.0.0.1:2379': first('etcd'),
      '127.0.0.1:2181': first('zookeeper'),
      'http://127.0.0.1:8500': first('consul'),
    },
    report: (line) => t.diagnostic(line),
  }).run();
  t.diagnostic(`${file}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

describe('the workshop labs, as attendees run them', { timeout: 900_000 }, () => {
  let stores: ThreeStores;
  let classroom: Classroom;
  const endpoints: StoreEndpoints = () => ({
    etcd: stores.etcd.endpoints,
    zookeeper: stores.zookeeper.endpoints,
    consul: stores.consul.endpoints,
  });

  before(async () => {
    // The by-hand steps' curl, and lab 6's fuser (the teacher's recipe): installed when missing.
    await ensureDebianPackages(['curl', 'psmisc'], () => {});
    stores = await startThreeStores();
    classroom = await openClassroom(endpoints);
  });

  after(async () => {
    await closeClassroom(classroom);
    await stores?.stop();
  });

  test('every lab the issue lists is there, each parses, and each names its goals, predictions and why', async () => {
    const files = await labFiles();
    // Every page check and teacher action the labs name exists, and each one the test has is used.
    const named = { page: new Set<string>(), teacher: new Set<string>() };
    for (const file of files) {
      for (const step of (await readLab(file)).steps) {
        if (step.kind === 'page') named.page.add(step.check);
        if (step.kind === 'teacher') named.teacher.add(step.action);
      }
    }
    const page = () => classroom.page;
    const had = {
      page: Object.keys(pageChecks(page)),
      teacher: Object.keys({
        ...teacherActions(endpoints, page),
        ...clusterActions(
          () => ({}) as never,
          () => {},
        ),
      }),
    };
    for (const kind of ['page', 'teacher'] as const) {
      assert.deepEqual([...named[kind]].sort(), had[kind].sort(), `the ${kind} steps the labs name`);
    }
    for (const required of REQUIRED) assert.ok(files.includes(`labs/${required}`), `${required} is missing`);
    for (const file of files) {
      const lab = await readLab(file);
      assert.ok(lab.steps.length > 0, `${file} has no step for the test`);
      if (!file.startsWith('labs/')) continue;
      assert.match(lab.title, /^Lab \d: /, file);
      const text = await readFile(path.join(WORKSHOP, file), 'utf8');
      for (const part of [/^## Goals$/m, /\bPredict\b/, /^## What you should have seen$/m, /^## Why$/m])
        assert.match(text, part, `${file} has no ${part}`);
    }
  });

  // What each run checks, besides every command's exit status and expected output: see each lab's
  // <!-- lab: page ... --> steps (page-checks.ts).
  const RUNS: [file: string, name: string][] = [
    [
      'README.md',
      'README: an attendee downloads the kit (curl, or Node alone) and joins the dry run; the reset',
    ],
    [
      'labs/01-look-by-hand.md',
      'lab 1: look by hand (the kit, etcdctl, zkCli.sh, curl; lease, session, check on the page)',
    ],
    [
      'labs/02-your-own-watcher.md',
      "lab 2: a watcher of one's own (the kit's registry and each raw client imported from the kit file)",
    ],
    [
      'labs/03-liveness-models.md',
      'lab 3: liveness models (Ctrl-C, kill -9, frozen, longer windows; each column timed on the page)',
    ],
    [
      'labs/04-least-loaded.md',
      'lab 4: the least-loaded client (pick, --json, --follow; stress the pick, it moves)',
    ],
    [
      'labs/05-config-push.md',
      'lab 5: config push (the color through each store, by kit and by hand; disagreement)',
    ],
  ];
  for (const [file, name] of RUNS) {
    test(name, (t) =>
      runLab(
        file,
        classroom,
        teacherActions(endpoints, () => classroom.page),
        t,
      ),
    );
  }
});

describe('lab 6 on 3-member clusters of each store', { timeout: 600_000 }, () => {
  const clusters = {} as Record<StoreKind, StoreCluster>;
  let classroom: Classroom;
  const endpoints: StoreEndpoints = () => ({
    etcd: clusters.etcd.endpoints,
    zookeeper: clusters.zookeeper.endpoints,
    consul: clusters.consul.endpoints,
  });

  before(async () => {
    await ensureDebianPackages(['curl', 'psmisc'], () => {});
    const started = await Promise.allSettled(STORE_KINDS.map((kind) => startCluster(kind)));
    for (const result of started)
      if (result.status === 'fulfilled') clusters[result.value.kind] = result.value;
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    classroom = await openClassroom(endpoints);
  });

  after(async () => {
    await closeClassroom(classroom);
    for (const cluster of Object.values(clusters)) await cluster.stop({ removeData: true });
    await stopAllStores();
  });

  test('lab 6: failure (the leaders killed, two etcd members stopped; devices kept, writes refused without a majority)', (t) =>
    runLab(
      'labs/06-failure.md',
      classroom,
      {
        ...teacherActions(endpoints, () => classroom.page),
        ...clusterActions(
          () => clusters,
          (line) => t.diagnostic(line),
        ),
      },
      t,
    ));
});
