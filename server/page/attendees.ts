// Who brought which device, in a classroom: devices joined with the attendee kit carry the label
// `attendee=<name>`. The page counts devices per attendee and can show one attendee's devices only; the
// choice lives in the URL's hash (#attendee=alice), so a reload or a shared link keeps it. No DOM here.
import type { DeviceView, StoreKind } from '../contract.ts';
import { compareIds } from './format.ts';

/** The label the attendee kit's `join` puts on every device it starts. */
export const ATTENDEE_LABEL = 'attendee';

/**
 * null: every device. NO_ATTENDEE: the devices without the label (the instructor's own, a simulated
 * fleet). Any other string: that attendee's devices.
 */
export type AttendeeFilter = string | null;
export const NO_ATTENDEE = '';

const HASH_KEY = 'attendee';

export const attendeeOf = (device: Pick<DeviceView, 'labels'>): string | undefined => {
  const value = device.labels?.[ATTENDEE_LABEL];
  return typeof value === 'string' ? value : undefined;
};

export function matchesFilter(filter: AttendeeFilter, device: Pick<DeviceView, 'labels'>): boolean {
  if (filter === null) return true;
  return (attendeeOf(device) ?? NO_ATTENDEE) === filter;
}

/** The filter a URL hash asks for: "#attendee=alice"; "#attendee=" for the devices without one. */
export function filterFromHash(hash: string): AttendeeFilter {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  return params.has(HASH_KEY) ? (params.get(HASH_KEY) ?? NO_ATTENDEE) : null;
}

/** The hash with the filter in it, other keys of the hash kept (the stage issue may add its own). */
export function hashWithFilter(hash: string, filter: AttendeeFilter): string {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  if (filter === null) params.delete(HASH_KEY);
  else params.set(HASH_KEY, filter);
  const text = params.toString();
  return text ? `#${text}` : '';
}

/** Counts of ids held by several stores: up one, down one (gone at zero). */
const countUp = (counts: Map<string, number>, id: string) => counts.set(id, (counts.get(id) ?? 0) + 1);
function countDown(counts: Map<string, number>, id: string): void {
  const left = (counts.get(id) ?? 1) - 1;
  if (left > 0) counts.set(id, left);
  else counts.delete(id);
}

export interface AttendeeCount {
  /** The attendee's name, or NO_ATTENDEE. */
  attendee: string;
  /** Devices (distinct ids over the three stores). */
  devices: number;
}

/**
 * Devices per attendee, kept up to date one device at a time. A device counts once however many stores
 * hold it; should two stores disagree on its label, it counts for each attendee they name.
 */
export class AttendeeIndex {
  /** store/id -> its attendee (NO_ATTENDEE without the label). */
  private readonly byKey = new Map<string, string>();
  /** attendee -> id -> in how many stores. */
  private readonly ids = new Map<string, Map<string, number>>();
  /** id -> in how many stores (the devices in all). */
  private readonly all = new Map<string, number>();
  private labelled = 0;

  /** Whether any device carries the label (the filter is offered only then). */
  get hasLabel(): boolean {
    return this.labelled > 0;
  }

  /** Devices in all (distinct ids over the three stores). */
  get total(): number {
    return this.all.size;
  }

  reset(devices: Iterable<DeviceView>): void {
    this.byKey.clear();
    this.ids.clear();
    this.all.clear();
    this.labelled = 0;
    for (const device of devices) this.put(device);
  }

  /** Returns true when the counts changed. */
  put(device: DeviceView): boolean {
    const key = `${device.store}/${device.id}`;
    const attendee = attendeeOf(device) ?? NO_ATTENDEE;
    const before = this.byKey.get(key);
    if (before === attendee) return false;
    if (before !== undefined) this.forget(before, device.id);
    else countUp(this.all, device.id);
    this.byKey.set(key, attendee);
    const ids = this.ids.get(attendee) ?? new Map<string, number>();
    this.ids.set(attendee, countUp(ids, device.id));
    if (attendee !== NO_ATTENDEE) this.labelled++;
    return true;
  }

  /** Returns true when the counts changed. */
  remove(store: StoreKind, id: string): boolean {
    const key = `${store}/${id}`;
    const before = this.byKey.get(key);
    if (before === undefined) return false;
    this.byKey.delete(key);
    this.forget(before, id);
    countDown(this.all, id);
    return true;
  }

  /** Every attendee with their device count, in natural order; the devices without one last. */
  counts(): AttendeeCount[] {
    const named = [...this.ids]
      .filter(([attendee]) => attendee !== NO_ATTENDEE)
      .map(([attendee, ids]) => ({ attendee, devices: ids.size }))
      .sort((a, b) => compareIds(a.attendee, b.attendee));
    const without = this.ids.get(NO_ATTENDEE)?.size ?? 0;
    return without > 0 ? [...named, { attendee: NO_ATTENDEE, devices: without }] : named;
  }

  private forget(attendee: string, id: string): void {
    const ids = this.ids.get(attendee);
    if (!ids) return;
    countDown(ids, id);
    if (ids.size === 0) this.ids.delete(attendee);
    if (attendee !== NO_ATTENDEE) this.labelled--;
  }
}
