// The shape checks of the page's requests: any JSON in, a typed request or an error naming each field.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isValidationError } from '../../../lib/registry/index.ts';
import { parseSetColor, parseSimulate } from '../../../server/http/socket-requests.ts';

const refusal = (parse: () => unknown) => {
  try {
    parse();
  } catch (error) {
    assert.ok(isValidationError(error), String(error));
    return error.message;
  }
  assert.fail('accepted');
};

test('setColor: a color and an optional store', () => {
  assert.deepEqual(parseSetColor({ color: '#12ab34' }), { color: '#12ab34', store: undefined });
  assert.deepEqual(parseSetColor({ color: 'teal', store: 'etcd', extra: 1 }), {
    color: 'teal',
    store: 'etcd',
  });
});

test('setColor: not an object, or fields of the wrong type, are refused naming the field and what was expected', () => {
  for (const payload of [null, [], 'red', 42, true, undefined]) {
    assert.match(
      refusal(() => parseSetColor(payload)),
      /^invalid setColor: request: an object such as/,
    );
  }
  assert.match(
    refusal(() => parseSetColor({ color: ['red'] })),
    /color: a color such as #12ab34/,
  );
  assert.match(
    refusal(() => parseSetColor({ color: 'x'.repeat(5000) })),
    /color: /,
  );
  assert.match(
    refusal(() => parseSetColor({ color: 'red', store: { toString: 'etcd' } })),
    /store: one of all, etcd, zookeeper, consul/,
  );
  assert.match(
    refusal(() => parseSetColor({ color: 'red', store: 'constructor' })),
    /store: one of/,
  );
  assert.match(
    refusal(() => parseSetColor({ color: 'red', store: null })),
    /store: one of/,
  );
});

test('prototype keys are not fields: `constructor` inherited or `__proto__` sent', () => {
  assert.match(
    refusal(() => parseSetColor({})),
    /color: /,
  );
  assert.match(
    refusal(() => parseSetColor(JSON.parse('{"__proto__": {"color": "red"}}'))),
    /color: /,
  );
  assert.match(
    refusal(() => parseSimulate(JSON.parse('{"constructor": {"id": "sim-1"}}'))),
    /id: .*action: /,
  );
});

test('simulate: an id and an action, as strings', () => {
  assert.deepEqual(parseSimulate({ id: 'sim-1', action: 'unplug' }), { id: 'sim-1', action: 'unplug' });
  assert.match(
    refusal(() => parseSimulate({ id: 3, action: 'kill' })),
    /^invalid simulate: id: /,
  );
  assert.match(
    refusal(() => parseSimulate([])),
    /request: an object such as/,
  );
});

test('simulate stress: a percent and seconds as numbers (their range is checked by the simulated fleet link)', () => {
  assert.deepEqual(parseSimulate({ id: 'sim-2', action: 'stress', percent: 80, seconds: 60 }), {
    id: 'sim-2',
    action: 'stress',
    percent: 80,
    seconds: 60,
  });
  assert.match(
    refusal(() => parseSimulate({ id: 'sim-2', action: 'stress' })),
    /^invalid simulate: percent: a whole percent of one core, 0 to 100; seconds: whole seconds/,
  );
  assert.match(
    refusal(() => parseSimulate({ id: 'sim-2', action: 'stress', percent: '80', seconds: Number.NaN })),
    /percent: .*seconds: /,
  );
  assert.match(
    refusal(() =>
      parseSimulate(JSON.parse('{"id":"sim-2","action":"stress","__proto__":{"percent":80,"seconds":1}}')),
    ),
    /percent: .*seconds: /,
  );
  assert.deepEqual(
    parseSimulate({ id: 'sim-2', action: 'kill', percent: 'ignored' }),
    { id: 'sim-2', action: 'kill' },
    'other actions take no load',
  );
});
