// ZooKeeper's `cons` four-letter word: one line per client connection, with its session and the
// server's last response to it. The kit reads each device's last contact from it (Registry.readLiveness).
// What a server answers is untrusted: a line that does not parse is skipped, never thrown on.
//
// A line of ZooKeeper 3.8 (Debian bookworm), as measured here:
//  /127.0.0.1:60660[1](queued=0,recved=9,sent=9,sid=0x1000169614c0000,lop=PING,est=1796221474452,
//  to=5000,lcxid=0x6,lzxid=0x5,lresp=23685609,llat=1,minlat=0,avglat=6,maxlat=21)
// sid: the session (an ephemeral node's ephemeralOwner); to: its negotiated timeout, ms; lresp: when the
// server last answered it (a ping, every third of the timeout, or a request), on the server's monotonic
// clock (ms since it booted, not the wall clock); est: when the connection was made (wall clock, ms).
// The `cons` connection itself is listed too, without a session.

/** One connection's session, as `cons` says. */
export interface ConsSession {
  /** The session id as 16 lowercase hex digits, as an ephemeral node's owner is written. */
  sid: string;
  /** The negotiated session timeout, ms. */
  timeoutMs: number;
  /** The server's last response to this session, on the server's monotonic clock (ms). */
  lastResponse: number;
}

/** At most this many lines are read (a server with many more connections is read in part). */
export const CONS_MAX_LINES = 20_000;
const LINE_MAX = 2_000;
const SID_RE = /^0x([0-9a-f]{1,16})$/i;
const WHOLE_RE = /^\d{1,15}$/;

/** The sessions in a `cons` answer; lines without a valid sid, to and lresp are skipped. */
export function parseCons(answer: string): ConsSession[] {
  if (typeof answer !== 'string') return [];
  const sessions: ConsSession[] = [];
  let start = 0;
  for (let n = 0; n < CONS_MAX_LINES && start < answer.length; n++) {
    let end = answer.indexOf('\n', start);
    if (end < 0) end = answer.length;
    const line = answer.slice(start, Math.min(end, start + LINE_MAX));
    start = end + 1;
    const session = parseLine(line);
    if (session) sessions.push(session);
  }
  return sessions;
}

function parseLine(line: string): ConsSession | undefined {
  const open = line.lastIndexOf('](');
  const close = line.lastIndexOf(')');
  if (open < 0 || close <= open) return undefined;
  const fields = new Map<string, string>();
  for (const pair of line.slice(open + 2, close).split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) fields.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  const sid = SID_RE.exec(fields.get('sid') ?? '')?.[1];
  const to = fields.get('to') ?? '';
  const lresp = fields.get('lresp') ?? '';
  if (!sid || !WHOLE_RE.test(to) || !WHOLE_RE.test(lresp)) return undefined;
  const timeoutMs = Number(to);
  if (timeoutMs <= 0 || timeoutMs > 3_600_000) return undefined;
  return { sid: sid.toLowerCase().padStart(16, '0'), timeoutMs, lastResponse: Number(lresp) };
}
