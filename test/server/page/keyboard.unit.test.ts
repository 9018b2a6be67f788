// The presenter's keys as pure decisions: which action each key takes, what a read-only page says,
// keys typed into a field left alone, and the arrows' "nearest tile that way on screen".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Direction,
  handleKey,
  type KeyActions,
  nearestInDirection,
} from '../../../server/page/keyboard.ts';

function recorder(presenter: boolean) {
  const calls: string[] = [];
  const actions: KeyActions = {
    presenter: () => presenter,
    choose: (n) => calls.push(`choose ${n}`),
    apply: () => calls.push('apply'),
    move: (d) => calls.push(`move ${d}`),
    simulate: (a) => calls.push(`simulate ${a}`),
    fullScreen: () => calls.push('full screen'),
    help: () => calls.push('help'),
    escape: () => calls.push('escape'),
    readOnly: (k) => calls.push(`read-only ${k}`),
  };
  return { calls, actions };
}

const press = (key: string, extra: Partial<KeyboardEvent> = {}) => ({
  key,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  target: null,
  ...extra,
});

test('the presenter: numbers, A, arrows, U / R / K, F, ? and Esc each do their one thing', () => {
  const { calls, actions } = recorder(true);
  for (const key of ['3', 'a', 'A', 'ArrowUp', 'ArrowLeft', 'u', 'R', 'k', 'f', '?', 'Escape'])
    assert.equal(handleKey(press(key), actions), true, key);
  assert.deepEqual(calls, [
    'choose 3',
    'apply',
    'apply',
    'move up',
    'move left',
    'simulate unplug',
    'simulate replug',
    'simulate kill',
    'full screen',
    'help',
    'escape',
  ]);
});

test('the audience: viewing keys work, presenter keys say read-only and do nothing else', () => {
  const { calls, actions } = recorder(false);
  for (const key of ['1', 'a', 'u', 'ArrowDown', 'F']) handleKey(press(key), actions);
  assert.deepEqual(calls, ['read-only 1', 'read-only a', 'read-only u', 'move down', 'full screen']);
});

test('keys typed into a field, with a modifier, or not ours are left to the browser', () => {
  const { calls, actions } = recorder(true);
  const field = { tagName: 'INPUT', type: 'text' } as unknown as EventTarget;
  const select = { tagName: 'select' } as unknown as EventTarget;
  const colorInput = { tagName: 'INPUT', type: 'color' } as unknown as EventTarget;
  assert.equal(handleKey(press('a', { target: field }), actions), false);
  assert.equal(handleKey(press('ArrowDown', { target: select }), actions), false);
  assert.equal(handleKey(press('r', { ctrlKey: true }), actions), false);
  assert.equal(handleKey(press('0'), actions), false);
  assert.equal(handleKey(press('x'), actions), false);
  assert.equal(handleKey(press('Tab'), actions), false);
  assert.equal(handleKey(press('a', { target: colorInput }), actions), true);
  assert.deepEqual(calls, ['apply']);
});

test('the arrows go to the nearest tile that way on screen, preferring the same row or column', () => {
  const rect = (x: number, y: number) => ({ left: x, top: y, width: 100, height: 100 }) as DOMRectReadOnly;
  // Three columns of two rows each: a1 b1 c1 / a2 b2 c2 (110 px apart).
  const grid = ['a', 'b', 'c'].flatMap((c, ci) =>
    [1, 2].map((r) => ({ item: `${c}${r}`, rect: rect(ci * 110, (r - 1) * 110) })),
  );
  const from = (id: string, direction: Direction) =>
    nearestInDirection(grid.find((g) => g.item === id)!.rect, grid, direction);
  assert.equal(from('a1', 'right'), 'b1');
  assert.equal(from('b1', 'down'), 'b2');
  assert.equal(from('b2', 'left'), 'a2');
  assert.equal(from('c2', 'up'), 'c1');
  assert.equal(from('c1', 'right'), undefined);
  assert.equal(from('a1', 'up'), undefined);
});
