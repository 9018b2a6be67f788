// The crash policy of the entry points, with a stand-in process, clock and exit: no process is harmed.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { test } from 'node:test';
import { installCrashPolicy, MAX_UNCAUGHT_PER_MINUTE } from '../../lib/cli/crash-policy.ts';

function setup() {
  const target = new EventEmitter();
  const logged: string[] = [];
  const exits: number[] = [];
  let clock = 0;
  const policy = installCrashPolicy({
    command: 'server',
    log: { error: (_fields: unknown, message: string) => logged.push(message) } as never,
    target,
    exit: (code) => exits.push(code),
    now: () => clock,
  });
  return { target, logged, exits, policy, advance: (ms: number) => (clock += ms) };
}

test('an uncaught error while starting: logged, exit 1', () => {
  const { target, logged, exits } = setup();
  target.emit('unhandledRejection', new Error('boom'));
  assert.deepEqual(exits, [1]);
  assert.match(logged[0]!, /cannot start: unhandled rejection while starting/);
});

test('once started: logged and kept running, until more than the limit within a minute: exit 1 saying what to do', () => {
  const { target, logged, exits, policy, advance } = setup();
  policy.started();
  for (let i = 0; i < MAX_UNCAUGHT_PER_MINUTE; i++) {
    target.emit(i % 2 ? 'uncaughtException' : 'unhandledRejection', new Error(`e${i}`));
    advance(1000);
  }
  assert.deepEqual(exits, []);
  assert.equal(logged.length, MAX_UNCAUGHT_PER_MINUTE);
  assert.match(logged[0]!, /kept running; 1 in the last minute/);
  target.emit('uncaughtException', new Error('one too many'));
  assert.deepEqual(exits, [1]);
  assert.match(logged.at(-1)!, /uncaught errors within a minute: stopping \(exit 1\)\. Restart it/);
});

test('errors spread over more than a minute never add up to an exit', () => {
  const { target, exits, policy, advance } = setup();
  policy.started();
  for (let i = 0; i < MAX_UNCAUGHT_PER_MINUTE * 3; i++) {
    target.emit('uncaughtException', new Error(`e${i}`));
    advance(10_000);
  }
  assert.deepEqual(exits, []);
});

test('dispose removes the listeners', () => {
  const { target, policy } = setup();
  policy.dispose();
  assert.equal(target.listenerCount('uncaughtException') + target.listenerCount('unhandledRejection'), 0);
});
