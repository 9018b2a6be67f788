// fleetkit deploy's Node.js decision, on what the probe prints on a Pi (its script runs in deploy.test.ts
// against a real sshd): the kit's node kept, the Pi's own linked, or the kit's build installed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideNode, nodeArchOf, parseProbe } from '../../provision/deploy/plan.ts';

test('the kit node, when it runs and is 20+, is kept', () => {
  const probe = parseProbe('arch=arm64\nkit=v26.12.1\nown=/usr/bin/node v18.19.0\n');
  assert.deepEqual(decideNode(probe), { kind: 'keep', version: 'v26.12.1' });
});

test("the Pi's own node 20+ is linked; older or missing, the build for its architecture is installed", () => {
  assert.deepEqual(decideNode(parseProbe('arch=arm64\nown=/usr/local/bin/node v22.3.0\n')), {
    kind: 'link',
    target: '/usr/local/bin/node',
    version: 'v22.3.0',
  });
  assert.deepEqual(decideNode(parseProbe('arch=armhf\nkit=\nown=/usr/bin/node v18.19.0\n')), {
    kind: 'install',
    arch: 'armv7l',
    why: 'its node (/usr/bin/node) is v18.19.0, older than 20',
  });
  assert.deepEqual(decideNode(parseProbe('arch=arm64\n')), {
    kind: 'install',
    arch: 'arm64',
    why: 'it has no node',
  });
  // A kit node that does not run (wrong architecture: no version printed) counts as none.
  assert.equal(decideNode(parseProbe('arch=arm64\nkit=\n')).kind, 'install');
});

test('armv6 (Pi 1, Zero) has no official build: said, with the reason', () => {
  const action = decideNode(parseProbe('arch=armel\n'));
  assert.equal(action.kind, 'impossible');
  assert.match(
    action.kind === 'impossible' ? action.why : '',
    /no official Node\.js build for armel \(a Pi 1 or Zero is armv6/,
  );
  assert.equal(nodeArchOf('aarch64'), 'arm64');
  assert.equal(nodeArchOf('armv7l'), 'armv7l');
  assert.equal(nodeArchOf('amd64'), 'x64');
  assert.equal(nodeArchOf('armv6l'), undefined);
});
