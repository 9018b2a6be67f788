// The stores the kit speaks to. A file of its own so that errors.ts and types.ts, which each need it,
// do not import each other.
export const STORE_KINDS = ['etcd', 'zookeeper', 'consul'] as const;
export type StoreKind = (typeof STORE_KINDS)[number];
