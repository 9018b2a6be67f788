// One Node.js policy: package.json's engines, the bundles' esbuild target, the agent's and the kit's
// own check at start, and what the docs tell a user all name the same oldest major.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { minimumNodeMajor } from '../../device/node-bundle.ts';
import { MIN_NODE_MAJOR, nodeTooOld } from '../../device/node-check.ts';

test('engines, the bundle target and the check at start agree', async () => {
  const fromEngines = await minimumNodeMajor();
  assert.equal(MIN_NODE_MAJOR, fromEngines);
  assert.ok(fromEngines >= 20, `engines.node: ${fromEngines}`);
});

test('an older Node.js is told so in words; this one and newer majors pass', () => {
  const old = nodeTooOld('18.19.0', '/usr/bin/node');
  assert.match(
    old ?? '',
    new RegExp(
      `Node\\.js 18\\.19\\.0 \\(/usr/bin/node\\); fleetkit needs Node\\.js ${MIN_NODE_MAJOR} or newer`,
    ),
  );
  assert.equal(nodeTooOld(`${MIN_NODE_MAJOR}.0.0`), undefined);
  assert.equal(nodeTooOld('26.12.1'), undefined);
  assert.equal(nodeTooOld(process.versions.node), undefined);
  assert.match(nodeTooOld('garbage') ?? '', /fleetkit needs Node\.js/);
});

test('the docs name the same oldest major wherever they say which Node.js', async () => {
  for (const file of ['README.md', 'docs/pi.md', 'docs/classroom.md', 'docs/deploy.md', 'docs/agent.md']) {
    const text = await readFile(new URL(`../../${file}`, import.meta.url), 'utf8');
    const said = [...text.matchAll(/Node\.js (\d+) or newer/g)].map((m) => Number(m[1]));
    assert.ok(said.length > 0, `${file} says which Node.js it needs`);
    for (const major of said) assert.equal(major, MIN_NODE_MAJOR, `${file}: "Node.js ${major} or newer"`);
  }
});
