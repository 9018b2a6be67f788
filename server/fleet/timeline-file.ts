// The timeline kept across a server restart: one JSON line per entry, appended in batches (never a
// write per event on the event loop), compacted to the newest FILE_KEPT entries once the file holds
// twice that. The file is untrusted when read back (someone may have written garbage into it): it is
// read line by line, with a cap on a line's length and on the bytes read, and every line that is not a
// timeline entry is skipped and counted. Nothing here throws at the server: a file that cannot be
// read or written is logged and the timeline carries on in memory.
import { createReadStream } from 'node:fs';
import { appendFile, mkdir, open, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../lib/cli/log.ts';
import { clip, errorMessage, STORE_KINDS } from '../../lib/registry/index.ts';
import type { TimelineEntry, TimelineKind } from '../contract.ts';

/** Entries kept in the file and in memory (what /timeline.json and .csv export). */
export const FILE_KEPT = 5000;
/** A line longer than this is not one of ours (an entry's texts are clipped to 300 characters each). */
export const MAX_LINE_CHARS = 4096;
/** Only the end of a bigger file is read: FILE_KEPT entries of ours never come near it. */
export const MAX_READ_BYTES = 32 * 1024 * 1024;
/** Appends wait this long, so that a burst of events is one write. */
const FLUSH_MS = 250;
const TEXT_MAX = 300;

// Every kind, checked against the contract both ways: a kind added there fails to compile here.
const KINDS = [
  'joined',
  'left',
  'expired',
  'critical',
  'recovered',
  'reaped',
  'updated-color',
  'color-set',
  'store-down',
  'store-up',
  'store-unauthorized',
  'store-control',
  'leader',
  'invalid',
  'missing',
  'conflict',
  'colors-differ',
  'config-differs',
  'agreed',
] as const satisfies readonly TimelineKind[];
type Unlisted = Exclude<TimelineKind, (typeof KINDS)[number]>;
const allListed: Unlisted extends never ? true : false = true;
void allListed;

const text = (max: number) => z.string().transform((value) => clip(value, max));
const entrySchema = z.object({
  // Far above any run's count, far below where adding 1 stops being exact.
  seq: z.number().int().positive().max(1e12),
  at: z.number().finite().nonnegative(),
  store: z.enum(STORE_KINDS).nullable(),
  deviceId: text(128).nullable(),
  kind: z.enum(KINDS),
  text: text(TEXT_MAX),
  latencyMs: z.number().finite().nullable(),
  command: text(TEXT_MAX).nullable(),
});

/** One line of the file as an entry, or undefined when it is not one. */
export function parseEntryLine(line: string): TimelineEntry | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  const parsed = entrySchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

export interface ReadTimeline {
  /** The newest FILE_KEPT valid entries, oldest first. */
  entries: TimelineEntry[];
  /** Lines skipped: not JSON, not an entry, or longer than MAX_LINE_CHARS. */
  bad: number;
  /** Lines in the file (blank ones not counted). */
  lines: number;
  /** Bytes left unread at the start of a file bigger than MAX_READ_BYTES. */
  skippedBytes: number;
}

/** Reads the file line by line; a missing file is an empty timeline. Rejects only on a read error. */
export async function readTimelineFile(file: string): Promise<ReadTimeline> {
  const result: ReadTimeline = { entries: [], bad: 0, lines: 0, skippedBytes: 0 };
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error(`${file} is not a file`);
    size = info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return result;
    throw error;
  }
  const start = Math.max(0, size - MAX_READ_BYTES);
  result.skippedBytes = start;
  // Started inside a line: the part up to the first line break is dropped (not counted as bad).
  let partial = start > 0;
  let line = '';
  let overlong = false;
  const take = () => {
    if (partial) {
      partial = false;
    } else if (overlong) {
      result.lines++;
      result.bad++;
    } else if (line.trim() !== '') {
      result.lines++;
      const entry = parseEntryLine(line);
      if (entry) result.entries.push(entry);
      else result.bad++;
      // Trimmed in steps, not per entry: the file may hold far more than FILE_KEPT.
      if (result.entries.length >= FILE_KEPT * 2) result.entries.splice(0, FILE_KEPT);
    }
    line = '';
    overlong = false;
  };
  const stream = createReadStream(file, { start, encoding: 'utf8', highWaterMark: 64 * 1024 });
  for await (const chunk of stream as AsyncIterable<string>) {
    let from = 0;
    for (;;) {
      const newline = chunk.indexOf('\n', from);
      const piece = chunk.slice(from, newline === -1 ? undefined : newline);
      if (!overlong) {
        if (line.length + piece.length > MAX_LINE_CHARS) {
          overlong = true;
          line = '';
        } else line += piece;
      }
      if (newline === -1) break;
      take();
      from = newline + 1;
    }
  }
  if (line !== '' || overlong) take();
  result.entries = result.entries.slice(-FILE_KEPT);
  return result;
}

/**
 * Where the server keeps its timeline: read once at start (restored()), then fed every new entry.
 * File operations run one after another (appends, compaction), off the event loop.
 */
export class TimelineFile {
  private pending: TimelineEntry[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  /** Lines the file holds now (read at start plus appended). */
  private lines = 0;
  private failing = false;
  private closed = false;

  private constructor(
    readonly file: string,
    private readonly log: Logger,
    /** The newest entries to keep when compacting (the timeline in memory). */
    private readonly newest: () => TimelineEntry[],
  ) {}

  /**
   * Reads `file` (created later if missing) and says what it found. A file that cannot be read at all
   * is logged and left alone: the timeline starts empty and later writes go to it as usual.
   */
  static async open(
    file: string,
    log: Logger,
    newest: () => TimelineEntry[],
  ): Promise<{ file: TimelineFile; entries: TimelineEntry[] }> {
    const store = new TimelineFile(file, log, newest);
    let read: ReadTimeline = { entries: [], bad: 0, lines: 0, skippedBytes: 0 };
    try {
      await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      read = await readTimelineFile(file);
    } catch (error) {
      log.warn(`timeline file ${file} not read: ${errorMessage(error)}; the timeline starts empty`);
    }
    store.lines = read.lines;
    const found = `timeline file ${file}: ${read.entries.length} entries from before the restart`;
    if (read.bad > 0 || read.skippedBytes > 0) {
      const skipped = [
        read.bad > 0 ? `skipped ${read.bad} bad lines (not JSON, not a timeline entry, or too long)` : '',
        read.skippedBytes > 0 ? `read only its last ${MAX_READ_BYTES} bytes` : '',
      ].filter(Boolean);
      log.warn(`${found}; ${skipped.join(', ')}; rewriting it with the good ones only`);
    } else {
      log.info({ entries: read.entries.length }, found);
    }
    const entries = read.entries.map((entry) => ({ ...entry, beforeRestart: true }));
    if (read.bad > 0 || read.skippedBytes > 0 || read.lines > FILE_KEPT) {
      await store.compact(() => read.entries);
    }
    return { file: store, entries };
  }

  /** Queues one entry; written with the others of the next FLUSH_MS. */
  append(entry: TimelineEntry): void {
    if (this.closed) return;
    this.pending.push(entry);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, FLUSH_MS);
  }

  /** Writes what is queued (compacting when due); resolves when written or given up on. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return this.chain;
    this.chain = this.chain.then(async () => {
      const lines = batch.map((entry) => `${JSON.stringify(withoutRestartMark(entry))}\n`).join('');
      try {
        await appendFile(this.file, lines, { mode: 0o600 });
        this.lines += batch.length;
        this.recovered();
      } catch (error) {
        this.failed('not written', error);
        return;
      }
      if (this.lines > FILE_KEPT * 2) await this.compactNow(this.newest());
    });
    return this.chain;
  }

  /** Writes the rest and stops. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private compact(entries: () => TimelineEntry[]): Promise<void> {
    this.chain = this.chain.then(() => this.compactNow(entries()));
    return this.chain;
  }

  /** Rewrites the file with the newest FILE_KEPT entries: a new file renamed over the old one. */
  private async compactNow(entries: TimelineEntry[]): Promise<void> {
    const kept = entries.slice(-FILE_KEPT);
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      const body = kept.map((entry) => `${JSON.stringify(withoutRestartMark(entry))}\n`).join('');
      await writeFile(temporary, body, { mode: 0o600 });
      const handle = await open(temporary, 'r');
      await handle.sync().finally(() => handle.close());
      await rename(temporary, this.file);
      this.lines = kept.length;
      this.recovered();
    } catch (error) {
      this.failed('not compacted', error);
    }
  }

  private failed(what: string, error: unknown): void {
    if (this.failing) return;
    this.failing = true;
    this.log.warn(
      `timeline file ${this.file} ${what}: ${errorMessage(error)}; the timeline carries on in memory (check the disk and --data-dir)`,
    );
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.log.info(`timeline file ${this.file} written again`);
  }
}

/** The server's timeline file: one per namespace and service in its data directory (--data-dir). */
export function timelinePath(dataDir: string, namespace: string, service: string): string {
  return path.join(dataDir, `timeline-${namespace}-${service}.jsonl`);
}

export function openTimelineFile(
  config: { dataDir: string; namespace: string; service: string },
  log: Logger,
  newest: () => TimelineEntry[],
): ReturnType<typeof TimelineFile.open> {
  return TimelineFile.open(timelinePath(config.dataDir, config.namespace, config.service), log, newest);
}

function withoutRestartMark(entry: TimelineEntry): TimelineEntry {
  if (entry.beforeRestart === undefined) return entry;
  const { beforeRestart: _, ...rest } = entry;
  return rest;
}
