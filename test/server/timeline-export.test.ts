// The timeline as a download and across a restart, with the three real stores, real agents and the real
// `fleetkit server`: GET /timeline.json and /timeline.csv; the server restarted (SIGTERM, then SIGKILL)
// on the same data directory returns the entries of before; a garbage-filled file is read around; the
// page marks the old entries, offers the download, and the presenter pins an entry that the audience sees.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { io } from 'socket.io-client';
import type { TimelineKind } from '../../server/contract.ts';
import { timelinePath } from '../../server/fleet/timeline-file.ts';
import { type RunningAgent, startAgent } from '../support/agents.ts';
import { launchBrowser, openPage, overlaps, screenshotDir } from '../support/browser.ts';
import { parseCsv } from '../support/csv.ts';
import { eventually } from '../support/eventually.ts';
import { rawStore } from '../support/raw-store.ts';
import { type RunningServer, startServer } from '../support/servers.ts';
import { startThreeStores, type ThreeStores } from '../support/stores.ts';

interface ExportedEntry {
  time: string;
  at: number;
  seq: number;
  store: string | null;
  device: string | null;
  kind: TimelineKind;
  text: string;
  latencyMs: number | null;
  command: string | null;
  beforeRestart: boolean;
}
interface Exported {
  exportedAt: string;
  count: number;
  entries: ExportedEntry[];
}

describe('fleetkit server: the timeline exported and kept across a restart', { timeout: 300_000 }, () => {
  let stores: ThreeStores;
  let server: RunningServer;
  let browser: Browser;
  let dataDir: string;
  const agents: RunningAgent[] = [];
  const namespace = `export${process.pid}`;
  const env = () => ({ ...stores.env(), FLEET_NAMESPACE: namespace, FLEET_SERVER_DATA: dataDir });
  const getJson = async (): Promise<Exported> => (await fetch(`${server.url}timeline.json`)).json();

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'fleetkit-export-'));
    stores = await startThreeStores();
    server = await startServer(env());
    browser = await launchBrowser();
    for (const id of ['ex-1', 'ex-2']) {
      agents.push(await startAgent({ ...stores.env(), FLEET_NAMESPACE: namespace, FLEET_DEVICE_ID: id }));
    }
  });

  after(async () => {
    for (const a of agents) a.child.kill('SIGKILL');
    await browser?.close();
    await server?.stop();
    await stores?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('GET /timeline.json and /timeline.csv: every entry, time in ISO and ms, the CSV an attachment with no formula cell', async (t) => {
    await eventually(
      'both devices joined all three stores',
      async () => (await getJson()).entries.filter((e) => e.kind === 'joined').length >= 6,
      { timeoutMs: 20_000 },
    );
    // A key written by hand whose name a spreadsheet would run: named in the timeline, never as a formula.
    const etcd = rawStore('etcd', stores.etcd.endpoints[0]!);
    try {
      await etcd.writeEntry(namespace, 'web', '=HYPERLINK("http://evil.example")', '-2+3', false);
    } finally {
      await etcd.close();
    }
    const killedAt = Date.now();
    agents[1]!.child.kill('SIGKILL');
    await eventually(
      'ex-2 expired from etcd and ZooKeeper, with latencies',
      async () =>
        (await getJson()).entries.filter((e) => e.kind === 'expired' && e.device === 'ex-2').length >= 2,
      { timeoutMs: 20_000 },
    );
    t.diagnostic(`ex-2 gone from etcd and ZooKeeper ${Date.now() - killedAt} ms after SIGKILL`);
    const json = await getJson();
    assert.equal(json.count, json.entries.length);
    for (const entry of json.entries) {
      assert.equal(entry.time, new Date(entry.at).toISOString());
      assert.equal(entry.beforeRestart, false);
    }
    const seqs = json.entries.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      [...seqs].sort((a, b) => a - b),
      'oldest first',
    );
    const zkJoin = json.entries.find((e) => e.kind === 'joined' && e.store === 'zookeeper');
    assert.match(
      zkJoin?.command ?? '',
      /^\/usr\/share\/zookeeper\/bin\/zkCli\.sh -server /,
      'the zkCli.sh that exists here',
    );
    assert.ok(
      json.entries.some((e) => e.kind === 'invalid' && e.text.includes('HYPERLINK')),
      'the hostile key named',
    );

    const response = await fetch(`${server.url}timeline.csv`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/csv; charset=utf-8/);
    assert.match(
      response.headers.get('content-disposition') ?? '',
      new RegExp(`^attachment; filename="fleetkit-timeline-${namespace}-web-[0-9T-]+\\.csv"$`),
    );
    const rows = parseCsv(await response.text());
    assert.equal(
      rows[0]?.join(','),
      'time,at_ms,seq,store,device,kind,text,latency_ms,command,before_restart',
    );
    assert.ok(rows.length - 1 >= json.count, 'every entry (and any since)');
    for (const row of rows.slice(1)) {
      assert.equal(row.length, 10);
      for (const cell of row) assert.doesNotMatch(cell, /^[=+@\t\r]|^-(?!\d)/, `a formula cell: ${cell}`);
    }
    const expired = rows.find((r) => r[5] === 'expired' && r[4] === 'ex-2');
    assert.ok(expired && Number(expired[7]) > 0, 'latency in its column');
  });

  test('restarted (SIGTERM, then SIGKILL) on the same data directory: /timeline.json returns the entries of before, marked, numbered on; a garbage-filled file is read around', async (t) => {
    const before = await getJson();
    const lastSeq = before.entries.at(-1)!.seq;
    const port = server.port;
    await server.stop();
    server = await startServer(env(), port);
    const afterTerm = await getJson();
    const old = afterTerm.entries.filter((e) => e.seq <= lastSeq);
    assert.deepEqual(
      old.map((e) => [e.seq, e.kind, e.text]),
      before.entries.map((e) => [e.seq, e.kind, e.text]),
      'every entry of before',
    );
    assert.ok(
      old.every((e) => e.beforeRestart),
      'marked as from before the restart',
    );
    // Entries noted between the read above and the SIGTERM are from before the restart too.
    const fresh = afterTerm.entries.filter((e) => !e.beforeRestart);
    const lastOld = Math.max(...afterTerm.entries.filter((e) => e.beforeRestart).map((e) => e.seq));
    assert.ok(lastOld >= lastSeq && fresh.every((e) => e.seq > lastOld), 'numbered on after them');
    t.diagnostic(`${old.length} entries back after SIGTERM; ${fresh.length} new ones since`);
    await eventually(
      'the restarted server sees the devices again',
      async () => {
        const entries = (await getJson()).entries;
        return entries.some((e) => e.seq > lastSeq && e.kind === 'joined' && e.device === 'ex-1');
      },
      { timeoutMs: 20_000 },
    );

    // Someone writes garbage into the file; the server is then killed outright (no flush on exit).
    const file = timelinePath(dataDir, namespace, 'web');
    await appendFile(file, 'garbage line\n\u0000\u0001 binary\n{"seq": "x"}\n');
    const beforeKill = await getJson();
    await new Promise((r) => setTimeout(r, 1000)); // past the file's 250 ms batch
    server.child.kill('SIGKILL');
    await server.exited;
    server = await startServer(env(), port);
    const afterKill = await getJson();
    const kept = new Set(afterKill.entries.map((e) => e.seq));
    assert.ok(
      beforeKill.entries.every((e) => kept.has(e.seq)),
      'every entry written before the SIGKILL is back',
    );
    assert.match(server.stderr(), /skipped 3 bad lines .*rewriting it with the good ones only/);
    assert.doesNotMatch(await readFile(file, 'utf8'), /garbage line/, 'rewritten without them');
  });

  test('the page: entries from before the restart marked, the download links, the presenter pins one and the audience sees it', async () => {
    const shots = await screenshotDir();
    const presenter = await openPage(browser, server.presenterUrl);
    const audience = await openPage(browser, server.url);
    try {
      await eventually(
        'the events of before the restart on the audience page',
        async () => (await audience.page.locator('#timeline .event[data-before-restart]').count()) > 0,
        { timeoutMs: 10_000 },
      );
      assert.equal(
        await audience.page
          .locator('#timeline .event[data-before-restart] .event-earlier')
          .first()
          .textContent(),
        'before restart',
      );
      const links = audience.page.locator('#timeline .timeline-download a');
      assert.deepEqual(await links.evaluateAll((as) => as.map((a) => a.getAttribute('href'))), [
        '/timeline.csv',
        '/timeline.json',
      ]);
      const [download] = await Promise.all([audience.page.waitForEvent('download'), links.first().click()]);
      assert.match(download.suggestedFilename(), /^fleetkit-timeline-.*\.csv$/);
      assert.equal(await audience.page.locator('#timeline .event-pin:visible').count(), 0, 'no pin buttons');

      const event = presenter.page.locator('#timeline .event[data-kind="expired"]').first();
      await eventually('an expired event on the presenter page', async () => (await event.count()) > 0, {
        timeoutMs: 10_000,
      });
      const seq = await event.getAttribute('data-seq');
      const text = (await getJson()).entries.find((e) => String(e.seq) === seq)?.text ?? '';
      await event.locator('.event-pin').click();
      const pinned = audience.page.locator('#timeline-pinned');
      await eventually('the pinned event on the audience page', async () => await pinned.isVisible(), {
        timeoutMs: 5000,
      });
      assert.equal(await pinned.locator('.event').getAttribute('data-seq'), seq);
      assert.ok(text !== '' && ((await pinned.textContent()) ?? '').includes(text), 'the same text');
      assert.equal(await pinned.locator('.event-unpin').isVisible(), false, 'the audience cannot unpin');
      for (const [width, height] of [
        [1280, 720],
        [1920, 1080],
        [390, 844],
      ] as const) {
        await audience.page.setViewportSize({ width, height });
        await audience.page.locator('#timeline').scrollIntoViewIfNeeded();
        assert.deepEqual(
          await overlaps(audience.page, [['#timeline-pinned', '.timeline-top', '#timeline .event']]),
          [],
          `nothing overlaps at ${width}x${height}`,
        );
        await audience.page.screenshot({ path: path.join(shots, `timeline-pinned-${width}x${height}.png`) });
      }

      // A reconnecting page gets the pin in its snapshot; then the presenter unpins.
      await audience.page.reload();
      await eventually('pinned after a reload', async () => await pinned.isVisible(), { timeoutMs: 5000 });
      await presenter.page.locator('#timeline-pinned .event-unpin').click();
      await eventually('unpinned for the audience', async () => !(await pinned.isVisible()), {
        timeoutMs: 5000,
      });
      assert.deepEqual([...presenter.problems, ...audience.problems], []);
    } finally {
      await presenter.close();
      await audience.close();
    }
  });

  test('pinTimeline: the audience is refused; an entry the server does not keep is refused naming seq', async () => {
    const connect = (auth: object) =>
      new Promise<ReturnType<typeof io>>((resolve) => {
        const socket = io(server.url, { forceNew: true, reconnection: false, auth });
        socket.on('snapshot', () => resolve(socket));
      });
    const audience = await connect({});
    const presenter = await connect({ token: server.token });
    try {
      const refused = await audience.timeout(3000).emitWithAck('pinTimeline', { seq: 1 });
      assert.equal(refused.ok, false);
      assert.match(refused.error, /read-only/);
      const unknown = await presenter.timeout(3000).emitWithAck('pinTimeline', { seq: 999_999 });
      assert.equal(unknown.ok, false);
      assert.match(unknown.error, /seq.*no entry 999999 is kept/);
      const bad = await presenter.timeout(3000).emitWithAck('pinTimeline', { seq: '1' });
      assert.match(bad.error, /seq/);
      const { entries } = await getJson();
      const ok = await presenter.timeout(3000).emitWithAck('pinTimeline', { seq: entries[0]!.seq });
      assert.deepEqual(ok, { ok: true, data: { pinned: entries[0]!.seq } });
      const off = await presenter.timeout(3000).emitWithAck('pinTimeline', { seq: null });
      assert.deepEqual(off, { ok: true, data: { pinned: null } });
    } finally {
      audience.close();
      presenter.close();
    }
  });
});
