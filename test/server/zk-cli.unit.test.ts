// Which ZooKeeper command the page shows, on real directories: zkCli.sh on PATH, else Debian's path,
// else the kit's own client; and the commands built with each.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { bindCommands } from '../../server/commands.ts';
import { DEBIAN_ZKCLI, findZkCli } from '../../server/zk-cli.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'fleetkit-zkcli-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(file: string, mode = 0o755) {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, '#!/bin/sh\n');
  await chmod(file, mode);
}

test('zkCli.sh on PATH wins; else the Debian path when it is executable; else the kit', async () => {
  const bin = path.join(dir, 'bin');
  const debian = path.join(dir, 'usr/share/zookeeper/bin/zkCli.sh');
  assert.deepEqual(findZkCli({ PATH: bin }, debian), { kind: 'kit' });
  await script(debian, 0o644);
  assert.deepEqual(findZkCli({ PATH: bin }, debian), { kind: 'kit' }, 'not executable');
  await chmod(debian, 0o755);
  assert.deepEqual(findZkCli({ PATH: bin }, debian), { kind: 'zkcli', command: debian });
  await script(path.join(bin, 'zkCli.sh'));
  assert.deepEqual(findZkCli({ PATH: `relative:${bin}` }, debian), { kind: 'zkcli', command: 'zkCli.sh' });
  assert.deepEqual(findZkCli({}, debian), { kind: 'zkcli', command: debian }, 'no PATH at all');
});

test("this machine: Debian's zkCli.sh is where fleetkit install-stores puts ZooKeeper, and is what the page shows", () => {
  const found = findZkCli({ PATH: '/usr/local/bin:/usr/bin:/bin' });
  assert.deepEqual(found, { kind: 'zkcli', command: DEBIAN_ZKCLI });
});

test('the commands with each: zkCli.sh by its path, or the kit (get, put, watch)', () => {
  const where = { endpoint: '127.0.0.1:2181', namespace: 'fleet', service: 'web' };
  const debian = bindCommands('zookeeper', where, { kind: 'zkcli', command: DEBIAN_ZKCLI });
  assert.equal(
    debian.device('pi-1'),
    `${DEBIAN_ZKCLI} -server 127.0.0.1:2181 get -s '/fleet/services/web/pi-1'`,
  );
  assert.equal(debian.watch(), `${DEBIAN_ZKCLI} -server 127.0.0.1:2181 ls -w '/fleet/services/web'`);
  const kit = bindCommands('zookeeper', where, { kind: 'kit' });
  assert.equal(
    kit.device('pi-1'),
    "node fleetkit.mjs zookeeper --zookeeper 127.0.0.1:2181 get '/fleet/services/web/pi-1'",
  );
  assert.equal(
    kit.setColor('teal'),
    "node fleetkit.mjs zookeeper --zookeeper 127.0.0.1:2181 put '/fleet/config/color' 'teal'",
  );
  assert.equal(
    kit.watch(),
    "node fleetkit.mjs zookeeper --zookeeper 127.0.0.1:2181 watch '/fleet/services/web'",
  );
  const odd = bindCommands('zookeeper', where, { kind: 'zkcli', command: '/opt/zoo keeper/zkCli.sh' });
  assert.match(odd.watch(), /^'\/opt\/zoo keeper\/zkCli.sh' -server/, 'a path with a space is quoted');
});
