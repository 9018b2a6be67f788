// socket.io traffic without the client library: engine.io long-polling with fetch, WebSocket frames
// written by hand on a TCP socket, and random socket.io packets. For fuzzing what a server accepts
// from a client that does not play by the rules.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { type Fuzz, PROTO_KEYS } from './fuzz.ts';

/** Events the server knows, the names socket.io reserves, and the ones JavaScript objects have. */
export const EVENT_NAMES = [
  'setColor',
  'simulate',
  'storeControl',
  'pinTimeline',
  'snapshot',
  'changes',
  'error',
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
  ...PROTO_KEYS,
];

/** Half the time one the server handles, so that its checks get most of the traffic. */
export function eventName(f: Fuzz): string {
  if (f.chance(0.5)) return f.pick(['setColor', 'simulate', 'storeControl', 'pinTimeline']);
  return f.chance(0.6) ? f.pick(EVENT_NAMES) : f.string(f.int(30));
}

/** A payload for the server's events: mostly their shape with odd values, else anything. */
export function eventPayload(f: Fuzz): unknown {
  const odd = () => (f.chance(0.5) ? f.value() : f.string(f.int(80)));
  switch (f.int(6)) {
    case 0:
      return {
        color: f.pick(['#a1b2c3', 'teal', 'red', '#FFF', ' #123456', odd()]),
        store: f.pick(['all', 'etcd', 'consul', odd()]),
      };
    case 1:
      return {
        id: f.pick(['sim-1', odd()]),
        action: f.pick(['unplug', 'kill', 'replug', 'stress', odd()]),
        ...(f.chance(0.5)
          ? { percent: f.pick([80, 0, 100, 101, -1, 12.5, odd()]), seconds: f.pick([60, 0, 86_401, odd()]) }
          : {}),
      };
    case 2:
      return f.object(0);
    case 3:
      return {
        store: f.pick(['etcd', 'zookeeper', 'consul', odd()]),
        action: f.pick(['stop', 'kill', 'restart', odd()]),
        ...(f.chance(0.5) ? { member: f.pick([1, 3, 0, 10, 1.5, odd()]) } : {}),
      };
    case 4:
      return { seq: f.pick([1, 2, null, 0, -1, 1.5, 2 ** 53, odd()]) };
    default:
      return f.value();
  }
}

/** A handshake `auth`: mostly an object with a token of some kind, sometimes not an object at all. */
export function randomAuth(f: Fuzz, token: string): unknown {
  if (f.chance(0.15)) return f.value();
  const object = f.object(1, f.int(3));
  const candidates = [
    () => f.string(token.length),
    () => f.string(),
    () => token,
    () => `${token}${f.char()}`,
    () => token.slice(0, -1) + f.char(),
    () => f.value(),
  ];
  if (f.chance(0.9)) object.token = f.pick(candidates)();
  return object;
}

/** One socket.io packet as engine.io message text ("4" + socket.io packet), or garbage. */
export function randomPacket(f: Fuzz, token: string): string {
  const json = (value: unknown) => JSON.stringify(value) ?? 'null';
  const id = () => (f.chance(0.5) ? String(f.int(1000)) : '');
  switch (f.int(12)) {
    case 0:
    case 1:
      return `40${f.chance(0.8) ? json(randomAuth(f, token)) : ''}`;
    case 2:
    case 3:
    case 4:
      return `42${id()}${json([eventName(f), ...Array.from({ length: f.int(3) }, () => f.value())])}`;
    case 5:
      return `43${f.int(1000)}${json([f.value()])}`;
    case 6:
      // A binary event whose attachments never come (or claim more than there are).
      return `45${f.int(5)}-${id()}${json([eventName(f), { _placeholder: true, num: f.int(5) }])}`;
    case 7:
      return f.pick(['41', '2', '3', '5', '6', '1', '2probe', '3probe', `40/${f.string(5)},`, '44{}']);
    case 8:
      return `4${f.string()}`;
    case 9:
      return `b${randomBytes(f.int(64)).toString('base64')}`;
    case 10:
      return `42${json(f.nested(f.int(2000)))}`;
    default:
      return f.string();
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** fetch that never throws: status 0 when the request failed (reset, refused, timed out). */
export async function httpRequest(
  url: string,
  init: RequestInit = {},
  timeoutMs = 2000,
): Promise<HttpAnswer> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return { status: response.status, body: await response.text() };
  } catch {
    return { status: 0, body: '' };
  }
}

/** An engine.io session over long-polling: its sid, or undefined when refused. */
export async function pollingSession(baseUrl: string): Promise<string | undefined> {
  const { status, body } = await httpRequest(`${baseUrl}socket.io/?EIO=4&transport=polling`);
  if (status !== 200 || !body.startsWith('0')) return undefined;
  return (JSON.parse(body.slice(1)) as { sid: string }).sid;
}

/** A client's WebSocket frame, masked unless told not to; `claimedLength` may lie about the payload. */
export function wsFrame(
  opcode: number,
  payload: Buffer,
  options: { fin?: boolean; mask?: boolean; rsv?: number; claimedLength?: number } = {},
): Buffer {
  const { fin = true, mask = true, rsv = 0, claimedLength = payload.length } = options;
  const head = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = mask ? 0x80 : 0;
  let length: Buffer;
  if (claimedLength < 126) length = Buffer.from([maskBit | claimedLength]);
  else if (claimedLength < 65536) {
    length = Buffer.alloc(3);
    length[0] = maskBit | 126;
    length.writeUInt16BE(claimedLength, 1);
  } else {
    length = Buffer.alloc(9);
    length[0] = maskBit | 127;
    length.writeBigUInt64BE(BigInt(claimedLength), 1);
  }
  if (!mask) return Buffer.concat([Buffer.from(head), length, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(head), length, key, masked]);
}

export function upgradeRequest(port: number, query: string): string {
  return [
    `GET /socket.io/?${query} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    '',
    '',
  ].join('\r\n');
}

/** Writes the chunks on a fresh TCP connection, waits a little, hangs up; resolves with what came back. */
export function rawTcp(port: number, chunks: (string | Buffer)[], lingerMs = 150): Promise<Buffer> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = connect(port, '127.0.0.1');
    // A connect that never completes (a full listen queue on a loaded machine) ends the probe too.
    const giveUp = setTimeout(() => done(), 5000 + lingerMs);
    const done = () => {
      clearTimeout(giveUp);
      socket.destroy();
      resolve(Buffer.concat(received));
    };
    socket.on('data', (data) => received.push(data));
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => {
      for (const chunk of chunks) socket.write(chunk);
      setTimeout(done, lingerMs);
    });
  });
}
