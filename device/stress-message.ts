// Telling a device what load to carry, over the Node IPC channel of the process that started it (the
// simulated fleet, `fleetkit.mjs join`): `{ type: 'stress', percent, seconds }`. Only a parent holds
// that channel. No HTTP route sets a load: the device's port is open to everyone on the venue Wi-Fi,
// who could otherwise burn the attendees' CPUs.
//
// The agent answers each message: `{ type: 'stressed', percent, base, endsAt }` when it took it,
// `{ type: 'error', error: 'percent: expected ...' }` when not (naming each bad field); an optional
// `ref` is echoed, so that a parent can tell its answers apart. Nothing a parent sends crashes it.
import type { ChildProcess } from 'node:child_process';
import { z } from 'zod';
import { wholeNumber } from '../lib/cli/checks.ts';
import { toFieldIssues } from '../lib/registry/index.ts';
import type { Stress, StressStatus } from './stress.ts';

/** The longest load one message sets: a whole workshop day. */
export const MAX_STRESS_SECONDS = 86_400;

/** What a load is, wherever one is asked for (the IPC message, the sim's control API, the page). */
export const stressParamsSchema = z.object({
  percent: wholeNumber(0, 100, 'a whole percent of one core'),
  seconds: wholeNumber(0, MAX_STRESS_SECONDS, 'whole seconds (0 ends a load)'),
});
export type StressParams = z.infer<typeof stressParamsSchema>;

const refSchema = z
  .union([z.string().max(64), z.number()], { error: 'a string of at most 64 characters, or a number' })
  .optional();

// Fields beyond these are ignored, as a newer parent may send more.
const messageSchema = z.object({
  type: z.literal('stress', { error: '"stress"' }),
  ref: refSchema,
  ...stressParamsSchema.shape,
});

export type StressMessage = z.infer<typeof messageSchema>;
type Ref = StressMessage['ref'];

export type StressReply =
  | ({ type: 'stressed'; ref?: Ref } & StressStatus)
  | { type: 'error'; ref?: Ref; error: string };

/** A message as it arrived (anything a parent chose to send), checked: the message, or what is wrong. */
export function parseStressMessage(raw: unknown): { message: StressMessage } | { error: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { error: 'message: expected an object such as {"type":"stress","percent":80,"seconds":60}' };
  const parsed = messageSchema.safeParse(raw);
  if (parsed.success) return { message: parsed.data };
  return {
    error: toFieldIssues(parsed.error)
      .map((issue) => `${issue.field}: expected ${issue.expected}`)
      .join('; '),
  };
}

/** The ref of a message, when it is one we can echo (an answer must never carry what broke it). */
function refOf(raw: unknown): Ref {
  const ref = typeof raw === 'object' && raw !== null ? (raw as { ref?: unknown }).ref : undefined;
  return refSchema.safeParse(ref).success ? (ref as Ref) : undefined;
}

/** The agent's side: answers every message on this process's IPC channel (if it has one). */
export function answerStressMessages(
  stress: Stress,
  onStress: (message: StressMessage) => void = () => {},
): boolean {
  const send = process.send?.bind(process);
  if (!send) return false;
  const reply = (answer: StressReply) => {
    // The parent may be gone or its channel closed: that is no reason to crash.
    if (process.connected) send(answer, undefined, {}, () => {});
  };
  process.on('message', (raw: unknown) => {
    const parsed = parseStressMessage(raw);
    const ref = refOf(raw);
    if ('error' in parsed)
      return reply({ type: 'error', ...(ref === undefined ? {} : { ref }), error: parsed.error });
    onStress(parsed.message);
    const status = stress.carry(parsed.message.percent, parsed.message.seconds);
    reply({ type: 'stressed', ...(ref === undefined ? {} : { ref }), ...status });
  });
  return true;
}

let nextRef = 0;

/**
 * The parent's side: tells a child started with an IPC channel to carry a load and waits for its
 * answer. Rejects with the agent's own words when it refused, or when it did not answer in time.
 */
export function sendStress(
  child: ChildProcess,
  params: StressParams,
  timeoutMs = 5000,
): Promise<StressStatus> {
  return new Promise((resolve, reject) => {
    if (!child.send || !child.connected)
      return reject(
        new Error('the device has no IPC channel open (it was not started by this process, or has exited)'),
      );
    const ref = `stress-${process.pid}-${++nextRef}`;
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (answer: StressReply) => {
      if (typeof answer !== 'object' || answer === null || answer.ref !== ref) return;
      done();
      if (answer.type === 'stressed') {
        const { type: _type, ref: _ref, ...status } = answer;
        resolve(status);
      } else reject(new Error(answer.error));
    };
    const onExit = () => {
      done();
      reject(new Error('the device exited before it answered'));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`the device did not answer within ${timeoutMs} ms (frozen or overloaded?)`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
    const message: StressMessage = { type: 'stress', ref, ...params };
    child.send(message, (error) => {
      if (!error) return;
      done();
      reject(new Error(`could not reach the device: ${error.message}`));
    });
  });
}
