// What happened to the fleet, newest last (the pages get the newest 200; FILE_KEPT are kept for the
// export and the file that carries them across a restart: timeline-file.ts), each with the plain store command
// behind it and, where there is one, a measured latency: how long after a device was unplugged or
// killed (or lost by another store) each store noticed, and how long after the presenter set a color
// each device applied it. Texts and commands are clipped: they reach every page, whatever a store said.
import type { Logger } from '../../lib/cli/log.ts';
import { clip } from '../../lib/registry/index.ts';
import type { BoundCommands } from '../commands.ts';
import type { DeviceView, ExpiredStamp, StoreKind, TimelineEntry, TimelineKind } from '../contract.ts';
import { expiredText } from '../page/liveness-text.ts';
import { FILE_KEPT } from './timeline-file.ts';

/** What a page gets in its snapshot. */
export const SHOWN = 200;
/** Timeline texts reach every page: one line each, whatever a store said. */
const TEXT_MAX = 300;

/** One entry to add; what it leaves out is null in the entry. */
export interface Note {
  kind: TimelineKind;
  text: string;
  store?: StoreKind;
  deviceId?: string;
  latencyMs?: number;
  command?: string;
}

/** Where a device's loss was first seen: a store, or the presenter's hands. */
type LossSource = StoreKind | 'unplug' | 'kill';

/** What the timeline is told about one device change in one store. */
interface DeviceEvent {
  store: StoreKind;
  commands: BoundCommands;
  /** Server clock, ms: the moment the change arrived (the latencies are measured to it). */
  now: number;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const lossText = (from: LossSource) =>
  from === 'unplug' ? 'it was unplugged' : from === 'kill' ? 'it was killed' : `${from} lost it`;

export class Timeline {
  private readonly entries: TimelineEntry[] = [];
  private seq = 0;
  /** Per device id: when and where it was first found missing or critical (cleared when it comes back). */
  private readonly firstLoss = new Map<string, { at: number; source: LossSource }>();
  private lastColorSet: { color: string; at: number } | undefined;

  constructor(
    private readonly log: Logger,
    /** Each new entry, for the pages. */
    private readonly added: (entry: TimelineEntry) => void,
    /** Entries from before a restart (timeline-file.ts), oldest first: numbering carries on after them. */
    restored: TimelineEntry[] = [],
  ) {
    // In seq order, each seq once (find() relies on it), whatever order the file had them in.
    const bySeq = [...new Map(restored.map((entry) => [entry.seq, entry])).values()];
    this.entries.push(...bySeq.sort((a, b) => a.seq - b.seq).slice(-FILE_KEPT));
    this.seq = this.entries.at(-1)?.seq ?? 0;
  }

  /** Every entry kept (at most FILE_KEPT), oldest first. */
  list(): TimelineEntry[] {
    return [...this.entries];
  }

  /** The newest `count` entries, oldest first. */
  recent(count = SHOWN): TimelineEntry[] {
    return this.entries.slice(-count);
  }

  /** The kept entry with this seq. */
  find(seq: number): TimelineEntry | undefined {
    // Entries are in seq order: a binary search, not a scan of 5,000.
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (this.entries[middle]!.seq < seq) low = middle + 1;
      else high = middle;
    }
    const found = this.entries[low];
    return found?.seq === seq ? found : undefined;
  }

  note({ kind, text, store, deviceId, latencyMs, command }: Note): void {
    const entry: TimelineEntry = {
      seq: ++this.seq,
      at: Date.now(),
      store: store ?? null,
      deviceId: deviceId ?? null,
      kind,
      text: clip(text, TEXT_MAX),
      latencyMs: latencyMs ?? null,
      command: command === undefined ? null : clip(command, TEXT_MAX),
    };
    this.entries.push(entry);
    // Trimmed in steps: one shift of 5,000 entries per event would cost a flood dearly.
    if (this.entries.length > FILE_KEPT + 500) this.entries.splice(0, this.entries.length - FILE_KEPT);
    this.log.info({ store: entry.store, deviceId: entry.deviceId, kind }, entry.text);
    this.added(entry);
  }

  /** The presenter unplugged or killed a device: each store's loss is then measured from this moment. */
  presenterLost(id: string, why: 'unplug' | 'kill'): void {
    this.firstLoss.set(id, { at: Date.now(), source: why });
    this.note({
      deviceId: id,
      kind: 'left',
      text: `${id}: ${why === 'unplug' ? 'unplugged' : 'killed'} by the presenter`,
    });
  }

  /** The presenter is setting a color: each device's applying it is measured from now. */
  colorSetting(color: string): void {
    this.lastColorSet = { color, at: Date.now() };
  }

  colorWritten(store: StoreKind, color: string, commands: BoundCommands): void {
    this.note({
      store,
      kind: 'color-set',
      text: `color set to ${color} in ${store}`,
      command: commands.setColor(color),
    });
  }

  /** A device left a store: expired (after a loss seen elsewhere), reaped (Consul, after critical) or left. */
  removed({
    store,
    commands,
    now,
    id,
    previous,
    reaped,
    expired,
  }: DeviceEvent & {
    id: string;
    previous: DeviceView | undefined;
    /** The store removed it after it had turned critical. */
    reaped: boolean;
    /** It ran out: measured from the last contact the store reported (liveness-poll.ts). */
    expired?: ExpiredStamp;
  }): void {
    const loss = this.firstLoss.get(id);
    const stamp = expired && !reaped ? ` (${expiredText(expired)})` : '';
    const what = reaped
      ? `${id} reaped by ${store} ${seconds(now - (previous?.criticalSince ?? now))} after it turned critical`
      : loss && loss.source !== store
        ? `${id} gone from ${store}, ${seconds(now - loss.at)} after ${lossText(loss.source)}`
        : `${id} gone from ${store}`;
    const text = what + stamp;
    this.note({
      store,
      deviceId: id,
      kind: reaped ? 'reaped' : loss || expired ? 'expired' : 'left',
      text,
      latencyMs: loss && !reaped ? now - loss.at : undefined,
      command: commands.watch(),
    });
    if (!loss) this.firstLoss.set(id, { at: now, source: store });
  }

  joined({ store, commands, view }: DeviceEvent & { view: DeviceView }): void {
    this.firstLoss.delete(view.id);
    this.note({
      store,
      deviceId: view.id,
      kind: 'joined',
      text: `${view.id} joined ${store} at ${view.host}:${view.port}`,
      command: commands.device(view.id),
    });
  }

  /** A shown device changed: its health (critical, passing again) or the color it applied. */
  changed({
    store,
    commands,
    now,
    previous,
    view,
  }: DeviceEvent & { previous: DeviceView; view: DeviceView }): void {
    const { id } = view;
    if (previous.health !== 'critical' && view.health === 'critical') {
      const loss = this.firstLoss.get(id);
      const after =
        loss && loss.source !== store ? `, ${seconds(now - loss.at)} after ${lossText(loss.source)}` : '';
      const detail = view.liveness.model === 'check' ? view.liveness.output.split('\n')[0] : '';
      this.note({
        store,
        deviceId: id,
        kind: 'critical',
        text: `${id} critical in ${store}${after}${detail ? ` (${detail})` : ''}`,
        latencyMs: loss ? now - loss.at : undefined,
        command: commands.liveness(id, ''),
      });
      if (!loss) this.firstLoss.set(id, { at: now, source: store });
    } else if (previous.health === 'critical' && view.health !== 'critical') {
      this.firstLoss.delete(id);
      this.note({
        store,
        deviceId: id,
        kind: 'recovered',
        text: `${id} passing again in ${store}`,
        command: commands.device(id),
      });
    }
    if (view.color !== previous.color && view.color) {
      const set = this.lastColorSet?.color === view.color ? now - this.lastColorSet.at : undefined;
      this.note({
        store,
        deviceId: id,
        kind: 'updated-color',
        text: `${id} applied ${view.color} (${store})${set === undefined ? '' : `, ${set} ms after it was set`}`,
        latencyMs: set,
        command: commands.device(id),
      });
    }
  }
}
