// The timeline as a download: GET /timeline.json and GET /timeline.csv, every entry the server keeps
// (at most FILE_KEPT), read-only and for the audience too (it is what the page shows anyway). The CSV
// is opened in spreadsheets, and its texts come from the stores (anyone may write there): a cell that
// a spreadsheet would read as a formula is made plain text, and every cell is quoted per RFC 4180.
import express from 'express';
import type { TimelineEntry } from '../contract.ts';

export const CSV_COLUMNS = [
  'time',
  'at_ms',
  'seq',
  'store',
  'device',
  'kind',
  'text',
  'latency_ms',
  'command',
  'before_restart',
] as const;

/** One entry as exported: the time in ISO and in ms, the rest as the page has it. */
export function exportRow(entry: TimelineEntry) {
  return {
    time: new Date(entry.at).toISOString(),
    at: entry.at,
    seq: entry.seq,
    store: entry.store,
    device: entry.deviceId,
    kind: entry.kind,
    text: entry.text,
    latencyMs: entry.latencyMs,
    command: entry.command,
    beforeRestart: entry.beforeRestart === true,
  };
}

// OWASP's list: = + - @ start a formula, and a tab or carriage return before them hides one.
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV cell: a formula-looking start gets a leading single quote; always quoted, quotes doubled. */
export function csvCell(value: string | number | boolean | null): string {
  let text = value === null ? '' : String(value);
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return `"${text.replaceAll('"', '""')}"`;
}

export function timelineCsv(entries: readonly TimelineEntry[]): string {
  const lines = [CSV_COLUMNS.map(csvCell).join(',')];
  for (const entry of entries) {
    const row = exportRow(entry);
    lines.push(
      [
        row.time,
        row.at,
        row.seq,
        row.store,
        row.device,
        row.kind,
        row.text,
        row.latencyMs,
        row.command,
        row.beforeRestart,
      ]
        .map(csvCell)
        .join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The file name a download gets: fleetkit-timeline-<namespace>-<service>-<time>.csv. */
const fileName = (scope: string, extension: string) =>
  `fleetkit-timeline-${scope}-${new Date().toISOString().replaceAll(':', '').replace(/\..*$/, '')}.${extension}`;

export function timelineRoutes(
  entries: () => TimelineEntry[],
  /** namespace-service: names the download (only letters, digits, - and _, as validated). */
  scope: string,
): express.Router {
  const router = express.Router();
  // A room of phones may all ask at once: the entries (a few MB at 5,000) are serialized once per
  // state of the timeline, not once per request.
  const built = { json: { key: '', text: '' }, csv: { key: '', text: '' } };
  const serialized = (kind: 'json' | 'csv', all: TimelineEntry[], make: () => string) => {
    const key = `${all.length}:${all[0]?.seq}:${all.at(-1)?.seq}`;
    if (built[kind].key !== key) built[kind] = { key, text: make() };
    return built[kind].text;
  };
  router.get('/timeline.json', (_req, res) => {
    const all = entries();
    const list = serialized('json', all, () => JSON.stringify(all.map(exportRow)));
    const head = JSON.stringify({ exportedAt: new Date().toISOString(), count: all.length });
    res
      .type('json')
      .set('cache-control', 'no-store')
      .set('content-disposition', `inline; filename="${fileName(scope, 'json')}"`)
      .send(`${head.slice(0, -1)},"entries":${list}}`);
  });
  router.get('/timeline.csv', (_req, res) => {
    const all = entries();
    res
      .type('text/csv; charset=utf-8')
      .set('cache-control', 'no-store')
      .set('content-disposition', `attachment; filename="${fileName(scope, 'csv')}"`)
      .send(serialized('csv', all, () => timelineCsv(all)));
  });
  return router;
}
