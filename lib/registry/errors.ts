// Typed errors of the registry. Library errors (grpc, ZooKeeper, HTTP) are converted once, at the
// adapter boundary, by the adapters' `toRegistryError`; everything above sees only these classes.
import type { StoreKind } from './store-kinds.ts';

export type RegistryErrorCode =
  | 'INVALID_INPUT'
  | 'STORE_UNAVAILABLE'
  | 'CONFLICT'
  | 'MALFORMED_VALUE'
  | 'CLOSED'
  | 'STORE_ERROR'
  | 'UNAUTHORIZED';

export class RegistryError extends Error {
  readonly code: RegistryErrorCode;
  readonly store: StoreKind | undefined;
  constructor(code: RegistryErrorCode, message: string, options?: { store?: StoreKind; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.store = options?.store;
  }
}

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `port` or `labels.zone`. */
  field: string;
  /** What was expected, in words a user can act on. */
  expected: string;
}

/** Bad input from a caller: nothing was written anywhere. Lists every bad field at once. */
export class ValidationError extends RegistryError {
  readonly issues: readonly FieldIssue[];
  constructor(what: string, issues: FieldIssue[]) {
    super('INVALID_INPUT', `invalid ${what}: ${issues.map((i) => `${i.field}: ${i.expected}`).join('; ')}`);
    this.issues = issues;
  }
  get fields(): string[] {
    return this.issues.map((i) => i.field);
  }
}

/** The store cannot be reached right now. Never to be read as "no data". */
export class StoreUnavailableError extends RegistryError {
  constructor(store: StoreKind, detail: string, cause?: unknown) {
    super('STORE_UNAVAILABLE', `${store} is unavailable: ${detail}`, { store, cause });
  }
}

/** Another live process holds this instance id. */
export class ConflictError extends RegistryError {
  readonly instanceId: string;
  readonly holder: string | undefined;
  constructor(store: StoreKind, instanceId: string, holder?: string) {
    super(
      'CONFLICT',
      `${store}: instance id "${instanceId}" is already registered by another live process` +
        (holder ? ` (${holder})` : '') +
        '; give this device another id (FLEET_DEVICE_ID) or stop the other one',
      { store },
    );
    this.instanceId = instanceId;
    this.holder = holder;
  }
}

/**
 * A key or text found in a store, made safe to show: control characters escaped, at most `max`
 * characters, and the full length said when cut (someone may write a 1.5 MB key with etcdctl; it is
 * named, never echoed whole).
 */
export function excerpt(text: string, max = 80): string {
  const whole = String(text);
  let shown = '';
  let cut = false;
  for (const char of whole) {
    const escaped = JSON.stringify(char).slice(1, -1);
    if (shown.length + escaped.length > max) {
      cut = true;
      break;
    }
    shown += escaped;
  }
  return cut ? `"${shown}…" (${whole.length} characters)` : `"${shown}"`;
}

/** Plain text from anywhere, one line and at most `max` characters (for messages shown to everyone). */
export function clip(text: string, max = 300): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: replacing control characters
  const line = String(text).replace(/[\u0000-\u001f\u007f]+/g, ' ');
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** A value found in a store does not have the expected shape (someone wrote garbage by hand). */
export class MalformedValueError extends RegistryError {
  /** The store's key, cut to a short excerpt (see excerpt()). */
  readonly key: string;
  constructor(store: StoreKind, key: string, expected: string, message?: string) {
    const shown = excerpt(key);
    super(
      'MALFORMED_VALUE',
      message ?? `${store}: ignored malformed value at ${shown}: expected ${clip(expected)}`,
      { store },
    );
    this.key = key.length > 80 ? shown : key;
  }
}

/**
 * An entry under the services folder that nothing keeps alive (no lease, no ephemeral owner, no
 * check): written by hand. It is named, never counted as a device.
 */
export class NotAliveError extends MalformedValueError {
  constructor(store: StoreKind, key: string, missing: string) {
    super(store, key, missing, `${store}: ${excerpt(key)} is not alive (written by hand: ${missing})`);
  }
}

export class ClosedError extends RegistryError {
  constructor(store: StoreKind) {
    super('CLOSED', `${store}: the registry is closed`, { store });
  }
}

/** A store answered with an error that is neither "unreachable" nor a conflict. */
export class StoreError extends RegistryError {
  constructor(store: StoreKind, message: string, cause?: unknown) {
    super('STORE_ERROR', `${store}: ${message}`, { store, cause });
  }
}

/**
 * The store answered, and refused the kit's credentials (none, wrong, or not allowed this). Not "down":
 * retrying will not help until the credentials change. `hint` says what to do.
 */
export class UnauthorizedError extends RegistryError {
  constructor(store: StoreKind, detail: string, cause?: unknown) {
    super('UNAUTHORIZED', `${store}: unauthorized: ${clip(detail, 200)}; ${UNAUTHORIZED_HINT[store]}`, {
      store,
      cause,
    });
  }
}

/** What to do when a store refuses the kit (the settings that carry each store's credentials). */
export const UNAUTHORIZED_HINT: Record<StoreKind, string> = {
  etcd: 'set FLEET_ETCD_USER and FLEET_ETCD_PASSWORD (and FLEET_ETCD_CA, FLEET_ETCD_CERT, FLEET_ETCD_KEY for TLS), or FLEET_CREDENTIALS to the env file fleetkit stores --secure wrote (docs/security.md)',
  consul:
    'set FLEET_CONSUL_TOKEN, or FLEET_CREDENTIALS to the env file fleetkit stores --secure wrote (docs/security.md)',
  zookeeper:
    'set FLEET_ZOOKEEPER_AUTH=user:password, or FLEET_CREDENTIALS to the env file fleetkit stores --secure wrote (docs/security.md)',
};

export const isRegistryError = (e: unknown): e is RegistryError => e instanceof RegistryError;
export const isValidationError = (e: unknown): e is ValidationError => e instanceof ValidationError;
export const isStoreUnavailableError = (e: unknown): e is StoreUnavailableError =>
  e instanceof StoreUnavailableError;
export const isConflictError = (e: unknown): e is ConflictError => e instanceof ConflictError;
export const isMalformedValueError = (e: unknown): e is MalformedValueError =>
  e instanceof MalformedValueError;
export const isNotAliveError = (e: unknown): e is NotAliveError => e instanceof NotAliveError;
export const isUnauthorizedError = (e: unknown): e is UnauthorizedError => e instanceof UnauthorizedError;
export const isClosedError = (e: unknown): e is ClosedError => e instanceof ClosedError;

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
