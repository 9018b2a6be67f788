// The stress message a parent sends over the IPC channel: checked field by field, every bad one named
// with what was expected, whatever arrives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_STRESS_SECONDS, parseStressMessage, stressParamsSchema } from '../../device/stress-message.ts';

const error = (raw: unknown) => {
  const parsed = parseStressMessage(raw);
  assert.ok('error' in parsed, `accepted ${JSON.stringify(raw)}`);
  return parsed.error;
};

test('a good message: type, percent and seconds (and an optional ref to echo); more fields are ignored', () => {
  assert.deepEqual(parseStressMessage({ type: 'stress', percent: 80, seconds: 60 }), {
    message: { type: 'stress', percent: 80, seconds: 60 },
  });
  assert.deepEqual(parseStressMessage({ type: 'stress', percent: 0, seconds: 0, ref: 'r1', extra: true }), {
    message: { type: 'stress', percent: 0, seconds: 0, ref: 'r1' },
  });
  assert.deepEqual(
    parseStressMessage({ type: 'stress', percent: 100, seconds: MAX_STRESS_SECONDS, ref: 7 }),
    {
      message: { type: 'stress', percent: 100, seconds: MAX_STRESS_SECONDS, ref: 7 },
    },
  );
});

test('not an object: one error saying what a message looks like', () => {
  for (const raw of [null, undefined, 'stress', 80, [], true]) {
    assert.match(
      error(raw),
      /^message: expected an object such as \{"type":"stress","percent":80,"seconds":60\}$/,
    );
  }
});

test('each bad field named with what was expected, all at once', () => {
  assert.equal(error({ type: 'burn', percent: 80, seconds: 60 }), 'type: expected "stress"');
  assert.equal(
    error({ type: 'stress', percent: 150, seconds: 60 }),
    'percent: expected a whole percent of one core from 0 to 100',
  );
  assert.equal(
    error({ type: 'stress', percent: -1, seconds: 60 }),
    'percent: expected a whole percent of one core from 0 to 100',
  );
  assert.match(error({ type: 'stress', percent: 12.5, seconds: 60 }), /^percent: expected a whole percent/);
  assert.match(error({ type: 'stress', percent: '80', seconds: 60 }), /^percent: expected a whole percent/);
  assert.match(error({ type: 'stress', percent: Number.NaN, seconds: 60 }), /^percent: /);
  assert.equal(
    error({ type: 'stress', percent: 80, seconds: MAX_STRESS_SECONDS + 1 }),
    `seconds: expected whole seconds (0 ends a load) from 0 to ${MAX_STRESS_SECONDS}`,
  );
  assert.equal(
    error({ percent: 'lots' }),
    'type: expected "stress"; percent: expected a whole percent of one core from 0 to 100; seconds: expected whole seconds (0 ends a load) from 0 to 86400',
  );
  assert.match(error({ type: 'stress', percent: 80, seconds: 60, ref: { x: 1 } }), /^ref: /);
  assert.match(error({ type: 'stress', percent: 80, seconds: 60, ref: 'r'.repeat(65) }), /^ref: /);
});

test('a __proto__ key (IPC messages arrive as JSON) is no field: its percent does not count', () => {
  assert.match(
    error(JSON.parse('{"type":"stress","__proto__":{"percent":80,"seconds":1}}')),
    /percent: .*seconds: /,
  );
});

test('the parameters alone (the sim control API and the page ask for the same)', () => {
  assert.deepEqual(stressParamsSchema.parse({ percent: 80, seconds: 60 }), { percent: 80, seconds: 60 });
  assert.equal(stressParamsSchema.safeParse({ percent: 101, seconds: 60 }).success, false);
});
