// Seeded random input for fuzz tests: the same seed gives the same inputs, so a failure replays with
// FUZZ_SEED=<seed>. Values are what a hostile client can send as JSON (and binary), not what the
// contract declares: unicode of every width, lone surrogates, deep nesting, prototype keys.

/** mulberry32: tiny, fast, good enough to drive a fuzzer; [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FUZZ_SEED when given (to replay), else a fresh one. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const given = Number(env.FUZZ_SEED);
  return env.FUZZ_SEED && Number.isInteger(given) ? given >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

/** Keys that mean something to JavaScript objects, and the ones our handlers read. */
export const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty'];
const FIELD_KEYS = ['color', 'store', 'id', 'action', 'token'];

// [first, last] code points: ASCII, controls, 2-byte (é), 3-byte, astral (surrogate pairs), lone surrogates.
const RANGES: [number, number][] = [
  [0x20, 0x7e],
  [0x00, 0x1f],
  [0xa0, 0xff],
  [0x800, 0xd7ff],
  [0x10000, 0x10ffff],
  [0xd800, 0xdfff],
];
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ODD_CHARS = ['\u001e', '"', '\\', '\u2028', '\ufeff', '\uffff', '\u0000', 'é', '😀'];

export class Fuzz {
  readonly random: () => number;
  constructor(
    seed: number,
    /** Lengths worth hitting exactly (a token's length in characters). */
    private readonly lengths: number[] = [],
  ) {
    this.random = mulberry32(seed);
  }

  int(maxExclusive: number): number {
    return Math.floor(this.random() * maxExclusive);
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)]!;
  }

  /** A fresh seed for a sub-generator, so that concurrent actions stay reproducible. */
  seed(): number {
    return this.int(2 ** 32);
  }

  char(): string {
    if (this.chance(0.05)) return this.pick(ODD_CHARS);
    const [first, last] = this.pick(RANGES);
    return String.fromCodePoint(first + this.int(last - first + 1));
  }

  length(): number {
    const exact = this.lengths.length > 0 ? this.pick(this.lengths) : 8;
    return this.pick([0, 1, exact, exact, exact - 1, exact + 1, this.int(40), this.int(600), this.int(6000)]);
  }

  /** Of `length` UTF-16 units when one is given (an astral character may end up cut in half: on purpose). */
  string(length = this.length()): string {
    const mono = this.chance(0.3) ? this.char() : undefined;
    let text = '';
    while (text.length < length) text += mono ?? this.char();
    return text.slice(0, Math.max(0, length));
  }

  /** A string that can be URI-encoded: lone surrogates replaced (as a browser would send them). */
  wellFormed(length?: number): string {
    return this.string(length).replace(LONE_SURROGATE, '\ufffd');
  }

  number(): number {
    return this.pick([0, -0, 1, -1, 2 ** 53, -(2 ** 31), 1e308, 0.1, NaN, Infinity, this.random() * 1e6]);
  }

  key(): string {
    return this.chance(0.4)
      ? this.pick(PROTO_KEYS)
      : this.chance(0.4)
        ? this.pick(FIELD_KEYS)
        : this.string(this.int(12));
  }

  /** Any JSON-ish value; objects get their keys as own properties, `__proto__` included. */
  value(depth = 0): unknown {
    const kinds = depth > 3 ? 5 : 9;
    switch (this.int(kinds)) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.number();
      case 3:
      case 4:
        return this.string();
      case 5:
        return Array.from({ length: this.int(5) }, () => this.value(depth + 1));
      case 6:
        return this.chance(0.1) ? Buffer.from(this.string(this.int(64))) : this.nested(this.int(400));
      default:
        return this.object(depth);
    }
  }

  object(depth = 0, keys = this.int(6)): Record<string, unknown> {
    const object: Record<string, unknown> = {};
    for (let i = 0; i < keys; i++) {
      // defineProperty: a plain assignment to `__proto__` would set the prototype, not send the key.
      Object.defineProperty(object, this.key(), {
        value: this.value(depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return object;
  }

  /** [[[[...]]]] or {"a":{"a":...}}: deep nesting. */
  nested(depth: number): unknown {
    let value: unknown = this.chance(0.5) ? null : this.string(3);
    for (let i = 0; i < depth; i++) value = this.chance(0.5) ? [value] : { a: value };
    return value;
  }
}
