// The timeline's CSV as a spreadsheet reads it: every cell quoted (RFC 4180), and no cell a formula
// whatever a store's data made of the text (OWASP's CSV injection: = + - @, tab, carriage return).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TimelineEntry } from '../../../server/contract.ts';
import { parsePinTimeline } from '../../../server/http/socket-requests.ts';
import { CSV_COLUMNS, csvCell, exportRow, timelineCsv } from '../../../server/http/timeline-routes.ts';
import { parseCsv } from '../../support/csv.ts';

const entry = (over: Partial<TimelineEntry> = {}): TimelineEntry => ({
  seq: 1,
  at: Date.UTC(2026, 11, 2, 14, 0, 0, 250),
  store: 'zookeeper',
  deviceId: 'pi-1',
  kind: 'expired',
  text: 'pi-1 gone from zookeeper, 2.1 s after it was killed',
  latencyMs: 2100,
  command: "/usr/share/zookeeper/bin/zkCli.sh -server 127.0.0.1:2181 ls -w '/fleet/services/web'",
  ...over,
});

test('cells that start a formula get a leading quote; every cell is quoted, quotes doubled', () => {
  for (const start of ['=', '+', '-', '@', '\t', '\r']) {
    assert.equal(csvCell(`${start}1+1`), `"'${start}1+1"`, JSON.stringify(start));
  }
  assert.equal(csvCell('=HYPERLINK("http://x","y")'), '"\'=HYPERLINK(""http://x"",""y"")"');
  assert.equal(
    csvCell('plain, with "quotes"\nand a line break'),
    '"plain, with ""quotes""\nand a line break"',
  );
  assert.equal(csvCell(null), '""');
  assert.equal(csvCell(-5), '"-5"', 'a number is a number, not a formula');
  assert.equal(csvCell(true), '"true"');
});

test('the CSV: a header, one row per entry, time in ISO and ms, hostile texts read back as text', () => {
  const hostile = entry({
    seq: 2,
    store: null,
    deviceId: '@SUM(1+1)*cmd|" /C calc"!A0',
    kind: 'invalid',
    text: '=cmd|" /C calc"!A0, skipped in etcd',
    latencyMs: null,
    command: null,
  });
  const csv = timelineCsv([entry(), hostile]);
  assert.ok(csv.endsWith('\r\n'));
  const rows = parseCsv(csv);
  assert.deepEqual(rows[0], [...CSV_COLUMNS]);
  assert.deepEqual(rows[1], [
    '2026-12-02T14:00:00.250Z',
    String(Date.UTC(2026, 11, 2, 14, 0, 0, 250)),
    '1',
    'zookeeper',
    'pi-1',
    'expired',
    'pi-1 gone from zookeeper, 2.1 s after it was killed',
    '2100',
    "/usr/share/zookeeper/bin/zkCli.sh -server 127.0.0.1:2181 ls -w '/fleet/services/web'",
    'false',
  ]);
  assert.equal(rows[2]![4], `'@SUM(1+1)*cmd|" /C calc"!A0`);
  assert.equal(rows[2]![6], `'=cmd|" /C calc"!A0, skipped in etcd`);
  assert.equal(rows[2]![3], '', 'no store: an empty cell');
  assert.ok(
    rows.slice(1).every((row) => row.every((cell) => !/^[=+\-@\t\r]/.test(cell) || /^-?\d/.test(cell))),
    'no cell starts a formula',
  );
  assert.equal(rows.length, 3);
});

test('the JSON row: time as ISO and ms, the restart mark as a boolean', () => {
  assert.deepEqual(exportRow({ ...entry(), beforeRestart: true }), {
    time: '2026-12-02T14:00:00.250Z',
    at: Date.UTC(2026, 11, 2, 14, 0, 0, 250),
    seq: 1,
    store: 'zookeeper',
    device: 'pi-1',
    kind: 'expired',
    text: 'pi-1 gone from zookeeper, 2.1 s after it was killed',
    latencyMs: 2100,
    command: "/usr/share/zookeeper/bin/zkCli.sh -server 127.0.0.1:2181 ls -w '/fleet/services/web'",
    beforeRestart: true,
  });
});

test('pinTimeline requests: a whole number above 0 or null; anything else names the field', () => {
  assert.deepEqual(parsePinTimeline({ seq: 42 }), { seq: 42 });
  assert.deepEqual(parsePinTimeline({ seq: null }), { seq: null });
  for (const bad of [
    undefined,
    null,
    [],
    'x',
    {},
    { seq: 0 },
    { seq: -3 },
    { seq: 1.5 },
    { seq: '4' },
    { seq: 2 ** 60 },
    { seq: Number.NaN },
    JSON.parse('{"__proto__": {"seq": 3}}'),
  ]) {
    assert.throws(() => parsePinTimeline(bad), /seq|request/, JSON.stringify(bad));
  }
});
