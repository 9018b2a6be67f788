// Where the kit finds the stores: the address an attendee types, and whatever answers at it (a local
// HTTP server plays the page, a wrong page, and a hostile one). No store is needed.
import assert from 'node:assert/strict';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import {
  KitError,
  kitStores,
  parseInstructor,
  storesFromSettings,
} from '../../../device/kit/stores-from-page.ts';
import { DEFAULT_LIVENESS } from '../../../lib/registry/index.ts';
import { CLASSROOM_OFF } from '../../../server/kit-contract.ts';

describe('INSTRUCTOR as an attendee types it', () => {
  const cases: [string, string][] = [
    ['192.168.1.20', 'http://192.168.1.20:3000/'],
    ['192.168.1.20:8080', 'http://192.168.1.20:8080/'],
    ['teacher.local', 'http://teacher.local:3000/'],
    ['http://10.0.0.5:3000/?token=secret', 'http://10.0.0.5:3000/'],
    ['http://10.0.0.5:3000/kit/', 'http://10.0.0.5:3000/'],
    ['[fe80::1]:3000', 'http://[fe80::1]:3000/'],
    ['https://fleet.example.org', 'https://fleet.example.org:443/'],
    ['  10.0.0.5  ', 'http://10.0.0.5:3000/'],
  ];
  for (const [typed, url] of cases) {
    test(`"${typed}" is ${url}`, () => assert.deepEqual(parseInstructor(typed), { url }));
  }
  for (const bad of [
    '',
    'ftp://10.0.0.5',
    'http://bob:pw@10.0.0.5',
    'a b',
    '<script>',
    'x'.repeat(400),
    'h:99999',
  ]) {
    test(`"${bad.slice(0, 20)}" is refused with what was expected`, () => {
      const parsed = parseInstructor(bad);
      assert.ok('expected' in parsed, JSON.stringify(parsed));
      assert.match(parsed.expected, /address|http|user name/);
    });
  }
});

describe("the page's answer, checked", () => {
  const servers: Server[] = [];
  after(() => {
    for (const s of servers) s.close();
  });
  async function page(handler: RequestListener): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const good = {
    version: 1,
    page: 'http://127.0.0.1:3000/',
    namespace: 'fleet',
    service: 'web',
    stores: {
      etcd: ['http://10.0.0.5:2379'],
      zookeeper: ['10.0.0.5:2181'],
      consul: ['http://10.0.0.5:8500'],
    },
    liveness: DEFAULT_LIVENESS,
  };
  const json =
    (body: unknown, status = 200): RequestListener =>
    (req, res) => {
      assert.equal(req.url, '/kit/stores.json');
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
  const refused = async (address: string, pattern: RegExp) => {
    await assert.rejects(kitStores(address), (error: Error) => {
      assert.ok(error instanceof KitError, `a KitError, not ${error.name}: ${error.message}`);
      assert.match(error.message, pattern);
      return true;
    });
  };

  test('a good answer gives the stores, namespace, service, liveness and page', async () => {
    const stores = await kitStores(await page(json(good)));
    assert.deepEqual(stores.stores, good.stores);
    assert.equal(stores.namespace, 'fleet');
    assert.equal(stores.page, good.page);
    assert.deepEqual(stores.liveness, DEFAULT_LIVENESS);
  });

  test('a page whose stores require credentials: the flag, and --from without credentials says to join first', async () => {
    const address = await page(json({ ...good, credentials: true }));
    assert.equal((await kitStores(address)).credentialsRequired, true);
    assert.equal((await kitStores(await page(json(good)))).credentialsRequired, false);
    const issues: { field: string; expected: string }[] = [];
    assert.equal(await storesFromSettings({ from: address }, issues), undefined);
    assert.equal(issues[0]?.field, 'from');
    assert.match(
      issues[0]?.expected ?? '',
      /require them\): run `node fleetkit\.mjs join 127\.0\.0\.1:\d+` in this folder first/,
    );
    const given: { field: string; expected: string }[] = [];
    const found = await storesFromSettings(
      { from: address, credentials: 'credentials/credentials.env' },
      given,
    );
    assert.deepEqual(given, []);
    assert.deepEqual(found?.stores, good.stores);
  });

  test("the classroom switched off: the page's own sentence, and what to do", async () => {
    const address = await page((_req, res) =>
      res.writeHead(404, { 'content-type': 'text/plain' }).end(CLASSROOM_OFF),
    );
    await refused(address, /HTTP 404: the classroom is off[\s\S]*ask the instructor/);
  });

  test('a web server that is not the page: not JSON, said so', async () => {
    await refused(await page((_req, res) => res.end('<html>router login</html>')), /did not answer JSON/);
  });

  test('each bad field is named; a newer page asks for the kit again', async () => {
    const { namespace: _n, ...noNamespace } = good;
    await refused(
      await page(json({ ...noNamespace, version: 2, service: 'Web Service' })),
      /version: expected 1 \(this kit is older or newer[\s\S]*namespace[\s\S]*service/,
    );
  });

  test('an endpoint the kit cannot use is named with its store', async () => {
    const bad = { ...good, stores: { etcd: ['http://10.0.0.5:2379/path'], consul: ['gopher://x'] } };
    await refused(
      await page(json(bad)),
      /stores\.etcd: "http:\/\/10\.0\.0\.5:2379\/path": expected only host and port[\s\S]*stores\.consul/,
    );
  });

  test('no store at all is refused', async () => {
    await refused(await page(json({ ...good, stores: {} })), /stores: expected at least one store/);
  });

  test('an endless answer is cut at 64 KB', async () => {
    const address = await page((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"pad":"');
      const chunk = 'x'.repeat(16 * 1024);
      const timer = setInterval(() => {
        if (!res.write(chunk)) res.once('drain', () => undefined);
      }, 1);
      res.on('close', () => clearInterval(timer));
    });
    await refused(address, /more than 64 KB/);
  });

  test('control characters from the answer are shown escaped, not sent to the terminal', async () => {
    const address = await page((_req, res) => res.writeHead(500).end('\u001b]0;owned\u0007\u001b[2J'));
    await refused(address, /HTTP 500: \\u001b\]0;owned\\u0007\\u001b\[2J/);
  });

  test('nothing listening: said so, with what to check (after two more tries)', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    server.close();
    const lines: string[] = [];
    await assert.rejects(
      kitStores(`127.0.0.1:${port}`, (line) => lines.push(line)),
      (error: Error) => {
        assert.match(
          error.message,
          /cannot reach the instructor's page at http:\/\/127\.0\.0\.1:\d+\/ \(nothing listens there\): check the address/,
        );
        return true;
      },
    );
    assert.equal(lines.length, 2, lines.join('\n'));
  });
});
