// The timeline's file on a real disk: what a restart reads back, what garbage it skips (and says so),
// how it stays bounded, and that the timeline numbers on after the entries it restored.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type { TimelineEntry } from '../../../server/contract.ts';
import { Timeline } from '../../../server/fleet/timeline.ts';
import {
  FILE_KEPT,
  MAX_LINE_CHARS,
  parseEntryLine,
  readTimelineFile,
  TimelineFile,
  timelinePath,
} from '../../../server/fleet/timeline-file.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fleetkit-timeline-file-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A logger whose lines the test reads. */
function capture() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

const entry = (seq: number, over: Partial<TimelineEntry> = {}): TimelineEntry => ({
  seq,
  at: 1_700_000_000_000 + seq,
  store: 'etcd',
  deviceId: `pi-${seq}`,
  kind: 'joined',
  text: `pi-${seq} joined etcd`,
  latencyMs: null,
  command: `etcdctl get /fleet/services/web/pi-${seq}`,
  ...over,
});
const line = (e: unknown) => `${JSON.stringify(e)}\n`;

test('a line is an entry only with every field of the right kind; texts are clipped', () => {
  assert.deepEqual(parseEntryLine(JSON.stringify(entry(3))), entry(3));
  for (const bad of [
    'not json',
    '[]',
    'null',
    JSON.stringify({ ...entry(1), kind: 'exploded' }),
    JSON.stringify({ ...entry(1), store: 'redis' }),
    JSON.stringify({ ...entry(1), seq: -1 }),
    JSON.stringify({ ...entry(1), seq: 1.5 }),
    JSON.stringify({ ...entry(1), at: 'yesterday' }),
    JSON.stringify({ ...entry(1), text: 42 }),
    JSON.stringify({ ...entry(1), seq: 1e15 }),
    JSON.stringify({ ...entry(1), latencyMs: undefined }),
  ]) {
    assert.equal(parseEntryLine(bad), undefined, bad);
  }
  const long = parseEntryLine(JSON.stringify({ ...entry(1), text: 'x'.repeat(1000) }));
  assert.ok(long && long.text.length <= 300, 'clipped to 300');
  // A key named __proto__ is data, not a prototype (JSON.parse makes it an own property; zod drops it).
  const proto = parseEntryLine(`{"__proto__":{"polluted":1},${JSON.stringify(entry(2)).slice(1)}`);
  assert.ok(proto);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('garbage in the file (binary, broken JSON, a 1 MB line, wrong shapes) is skipped and counted; the good entries are read in order; the file is rewritten clean', async () => {
  const file = path.join(dir, 'garbage.jsonl');
  const good = [entry(1), entry(2), entry(3, { kind: 'expired', latencyMs: 2100 })];
  await writeFile(
    file,
    [
      line(good[0]),
      '\u0000\u0001\u00ff binary\n',
      '{"seq": 9, "at":\n',
      `${'y'.repeat(1024 * 1024)}\n`,
      line({ ...entry(4), kind: 'nope' }),
      '\n',
      line(good[1]),
      '=cmd|" /C calc"!A0\n',
      line(good[2]),
      `{"seq":5${'x'.repeat(MAX_LINE_CHARS)}`, // the last line, unterminated and too long
    ].join(''),
  );
  const read = await readTimelineFile(file);
  assert.deepEqual(read.entries, good);
  assert.equal(read.bad, 6);

  const { log, lines } = capture();
  const opened = await TimelineFile.open(file, log, () => []);
  assert.deepEqual(
    opened.entries.map((e) => e.seq),
    [1, 2, 3],
  );
  assert.ok(
    opened.entries.every((e) => e.beforeRestart === true),
    'marked as from before the restart',
  );
  const warning = lines.find((l) => l.level === 40);
  assert.match(warning?.msg ?? '', /3 entries from before the restart; skipped 6 bad lines .*rewriting it/);
  const rewritten = await readTimelineFile(file);
  assert.equal(rewritten.bad, 0, 'rewritten without the bad lines');
  assert.deepEqual(rewritten.entries, good, 'and without the restart mark');
});

test('a missing file is an empty timeline; a directory where the file should be is logged, not thrown', async () => {
  const { log, lines } = capture();
  const empty = await TimelineFile.open(path.join(dir, 'sub', 'none.jsonl'), log, () => []);
  assert.deepEqual(empty.entries, []);
  const { log: log2, lines: lines2 } = capture();
  const notAFile = await TimelineFile.open(dir, log2, () => []);
  assert.deepEqual(notAFile.entries, []);
  assert.match(lines2.find((l) => l.level === 40)?.msg ?? '', /not read: .*is not a file.*starts empty/);
  notAFile.file.append(entry(1));
  await notAFile.file.flush(); // appending to a directory fails: logged once, never thrown
  assert.match(lines2.at(-1)?.msg ?? '', /not written: .*carries on in memory/);
  assert.equal(lines.filter((l) => l.level >= 40).length, 0);
});

test('appends are batched, and the timeline numbers on after the restored entries', async () => {
  const file = timelinePath(dir, 'fleet', 'web');
  assert.equal(file, path.join(dir, 'timeline-fleet-web.jsonl'));
  const { log } = capture();
  let timeline: Timeline | undefined;
  const first = await TimelineFile.open(file, log, () => timeline?.list() ?? []);
  timeline = new Timeline(log, (e) => first.file.append(e), first.entries);
  timeline.note({ kind: 'store-up', store: 'etcd', text: 'etcd is back' });
  timeline.note({ kind: 'joined', store: 'consul', deviceId: 'pi-9', text: 'pi-9 joined consul' });
  assert.equal((await stat(file).catch(() => null))?.size ?? 0, 0, 'not written per event');
  await first.file.close();

  const second = await TimelineFile.open(file, log, () => []);
  assert.deepEqual(
    second.entries.map((e) => [e.seq, e.kind, e.beforeRestart]),
    [
      [1, 'store-up', true],
      [2, 'joined', true],
    ],
  );
  const added: TimelineEntry[] = [];
  const restarted = new Timeline(log, (e) => added.push(e), second.entries);
  restarted.note({ kind: 'store-down', store: 'etcd', text: 'etcd is down' });
  assert.equal(added[0]?.seq, 3, 'numbered after the restored ones');
  assert.equal(restarted.find(2)?.deviceId, 'pi-9');
  assert.equal(restarted.find(7), undefined);
  assert.equal(restarted.recent(2).length, 2);
});

test(`bounded: the file is compacted to the newest ${FILE_KEPT} entries once it holds twice that; so is a file that holds more at start`, async () => {
  const file = path.join(dir, 'big.jsonl');
  await writeFile(file, Array.from({ length: FILE_KEPT + 700 }, (_, i) => line(entry(i + 1))).join(''));
  const { log } = capture();
  let timeline: Timeline | undefined;
  const opened = await TimelineFile.open(file, log, () => timeline?.list() ?? []);
  assert.equal(opened.entries.length, FILE_KEPT);
  assert.equal(opened.entries[0]?.seq, 701, 'the newest kept');
  assert.equal((await readTimelineFile(file)).lines, FILE_KEPT, 'compacted at start');

  timeline = new Timeline(log, (e) => opened.file.append(e), opened.entries);
  for (let i = 0; i < FILE_KEPT + 10; i++) timeline.note({ kind: 'joined', text: `n${i}` });
  await opened.file.close();
  const after = await readTimelineFile(file);
  assert.ok(after.lines <= FILE_KEPT * 2, `${after.lines} lines`);
  assert.equal(after.entries.at(-1)?.text, `n${FILE_KEPT + 9}`);
  assert.ok(timeline.list().length <= FILE_KEPT + 500, 'memory bounded too');
  const text = await readFile(file, 'utf8');
  assert.ok(!text.includes('beforeRestart'), 'the restart mark is not written');
});

test('a file far bigger than the read cap: only its end is read (the cut line is not counted bad)', async () => {
  const file = path.join(dir, 'huge.jsonl');
  const { MAX_READ_BYTES } = await import('../../../server/fleet/timeline-file.ts');
  const filler = `${JSON.stringify({ junk: 'z'.repeat(1000) })}\n`;
  await writeFile(file, filler.repeat(Math.ceil(MAX_READ_BYTES / filler.length) + 10));
  await appendFile(file, line(entry(77)));
  const read = await readTimelineFile(file);
  assert.ok(read.skippedBytes > 0);
  assert.deepEqual(
    read.entries.map((e) => e.seq),
    [77],
  );
});
