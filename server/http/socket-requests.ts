// The page's requests as they arrive: whatever JSON a client chose to send (arrays, null, huge strings,
// nested objects, `__proto__` keys), not what contract.ts declares. Their shape is checked here, before
// the fleet or the simulated fleet sees them; those check the values themselves (color, device id).
import { type FieldIssue, STORE_KINDS, type StoreKind, ValidationError } from '../../lib/registry/index.ts';
import type { PinTimelineRequest, SetColorRequest, SimAction, SimulateRequest } from '../contract.ts';

/** Longer than any color, store name, device id or action. */
const MAX_TEXT = 64;

type Fields = Record<string, unknown>;

function fieldsOf(what: string, payload: unknown, example: string): Fields {
  if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) return payload as Fields;
  throw new ValidationError(what, [{ field: 'request', expected: `an object such as ${example}` }]);
}

/** An own string field: `constructor` or `toString` inherited from Object.prototype are not the client's. */
function text(fields: Fields, key: string, expected: string, issues: FieldIssue[]): string | undefined {
  const value = Object.hasOwn(fields, key) ? fields[key] : undefined;
  if (typeof value === 'string' && value.length <= MAX_TEXT) return value;
  issues.push({ field: key, expected });
  return undefined;
}

const STORES = ['all', ...STORE_KINDS] as const;

export function parseSetColor(payload: unknown): SetColorRequest {
  const fields = fieldsOf('setColor', payload, '{"color": "#12ab34", "store": "all"}');
  const issues: FieldIssue[] = [];
  const color = text(fields, 'color', 'a color such as #12ab34 or teal', issues);
  let store: StoreKind | 'all' | undefined;
  if (Object.hasOwn(fields, 'store')) {
    const given = text(fields, 'store', `one of ${STORES.join(', ')}`, issues);
    if (given !== undefined && !STORES.includes(given as never)) {
      issues.push({ field: 'store', expected: `one of ${STORES.join(', ')}` });
    } else store = given as StoreKind | 'all' | undefined;
  }
  if (issues.length > 0) throw new ValidationError('setColor', issues);
  return { color: color as string, store };
}

/** An own number field (the range is the simulated fleet's to check: simulation.ts). */
function count(fields: Fields, key: string, expected: string, issues: FieldIssue[]): number | undefined {
  const value = Object.hasOwn(fields, key) ? fields[key] : undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  issues.push({ field: key, expected });
  return undefined;
}

export function parseSimulate(payload: unknown): SimulateRequest {
  const fields = fieldsOf('simulate', payload, '{"id": "sim-3", "action": "unplug"}');
  const issues: FieldIssue[] = [];
  const id = text(fields, 'id', 'a simulated device id such as sim-3', issues);
  const action = text(fields, 'action', 'unplug, replug, kill or stress', issues);
  if (action !== 'stress') {
    if (issues.length > 0) throw new ValidationError('simulate', issues);
    return { id: id as string, action: action as SimAction };
  }
  // {"id": "sim-3", "action": "stress", "percent": 80, "seconds": 60}
  const percent = count(fields, 'percent', 'a whole percent of one core, 0 to 100', issues);
  const seconds = count(fields, 'seconds', 'whole seconds (0 ends the load)', issues);
  if (issues.length > 0) throw new ValidationError('simulate', issues);
  return { id: id as string, action, percent, seconds };
}

/** {"seq": 42} pins entry 42; {"seq": null} unpins (whether entry 42 is kept is the fleet's to check). */
export function parsePinTimeline(payload: unknown): PinTimelineRequest {
  const fields = fieldsOf('pinTimeline', payload, '{"seq": 42} (or {"seq": null} to unpin)');
  const seq = Object.hasOwn(fields, 'seq') ? fields.seq : undefined;
  if (seq === null || (typeof seq === 'number' && Number.isSafeInteger(seq) && seq > 0)) return { seq };
  throw new ValidationError('pinTimeline', [
    { field: 'seq', expected: "a timeline entry's number (a whole number above 0), or null to unpin" },
  ]);
}
