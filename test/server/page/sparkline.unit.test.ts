// The sparkline's lines: CPU, memory and temperature on one 0-100 scale; no sensor, no line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LoadSample } from '../../../server/contract.ts';
import { linePoints, sparkDescription } from '../../../server/page/sparkline.ts';

const sample = (cpu: number, mem: number, temp: number | null): LoadSample => ({ at: 0, cpu, mem, temp });

test('each series is its own line across the width, 0 at the bottom and 100 at the top', () => {
  const history = [sample(0, 50, 40), sample(100, 50, 60), sample(50, 50, 80)];
  assert.equal(linePoints(history, 'cpu'), '0.0,19.0 32.0,1.0 64.0,10.0');
  assert.equal(linePoints(history, 'mem'), '0.0,10.0 32.0,10.0 64.0,10.0');
  assert.equal(linePoints(history, 'temp'), '0.0,11.8 32.0,8.2 64.0,4.6');
});

test('no sensor: no temperature line; a sensor that comes and goes leaves gaps out; values are kept on the scale', () => {
  assert.equal(linePoints([sample(1, 2, null), sample(3, 4, null)], 'temp'), '');
  assert.equal(linePoints([sample(1, 2, null), sample(3, 4, 50)], 'temp'), '0.0,10.0 64.0,10.0');
  assert.equal(linePoints([sample(250, -5, null)], 'cpu'), '0.0,1.0 64.0,1.0', 'one sample is drawn flat');
  assert.equal(linePoints([sample(Number.NaN, 0, null)], 'cpu'), '');
  assert.equal(linePoints([], 'cpu'), '');
});

test('in words: the last values of the lines there are', () => {
  assert.equal(sparkDescription([]), 'no load samples yet');
  assert.equal(
    sparkDescription([sample(10, 20, null), sample(80.4, 31.6, null)]),
    'last 2 samples; now CPU 80 %, memory 32 %',
  );
  assert.equal(
    sparkDescription([sample(5, 20, 61.5)]),
    'last 1 samples; now CPU 5 %, memory 20 %, temperature 62 °C',
  );
});
