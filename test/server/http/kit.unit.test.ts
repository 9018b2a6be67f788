// The page's answers to an attendee's kit, without a server: the Host header as it comes (trusted only
// when it is a host name or IP), the stores rewritten for a laptop, and the /kit/ page escaped.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LIVENESS } from '../../../lib/registry/index.ts';
import type { ServerConfig } from '../../../server/config.ts';
import { kitPageHtml, requestHost, storesFor } from '../../../server/http/kit.ts';
import { kitStoresSchema } from '../../../server/kit-contract.ts';
import { lanAddress } from '../../../server/lan-address.ts';

const config: ServerConfig = {
  stores: {
    etcd: ['http://127.0.0.1:2379', 'http://10.9.8.7:2379'],
    zookeeper: ['0.0.0.0:2181'],
    consul: ['http://localhost:8500'],
  },
  credentials: {},
  credentialsSummary: null,
  namespace: 'fleet',
  service: 'web',
  port: 3000,
  listen: '0.0.0.0',
  publicUrl: undefined,
  token: 'test-token-123',
  simControl: undefined,
  maxDevices: 2000,
  classroom: true,
  liveness: DEFAULT_LIVENESS,
  logLevel: 'info',
  dataDir: '/nonexistent/fleetkit-server-data',
  audienceDevices: false,
  audienceCap: 200,
};
const AUDIENCE = 'http://192.0.2.50:3000/';

describe('the Host header', () => {
  const good: [string, { host: string; port: number | undefined }][] = [
    ['192.168.1.20:3000', { host: '192.168.1.20', port: 3000 }],
    ['teacher.local', { host: 'teacher.local', port: undefined }],
    ['[fe80::1]:3000', { host: 'fe80::1', port: 3000 }],
  ];
  for (const [header, expected] of good)
    test(`"${header}" is ${JSON.stringify(expected)}`, () =>
      assert.deepEqual(requestHost({ host: header }), expected));
  const hostile = [
    undefined,
    '',
    '<script>alert(1)</script>',
    'evil host',
    'a:b:c',
    '1.2.3.4:99999',
    '1.2.3.4:',
    `${'a'.repeat(64)}.example`,
    'x'.repeat(400),
    'host\r\nSet-Cookie: x=1',
    '[not-an-ip]:3000',
    'host/path',
  ];
  for (const header of hostile)
    test(`${JSON.stringify(header?.slice(0, 30))} is not used`, () =>
      assert.equal(requestHost({ host: header }), undefined));
});

describe('stores.json for a laptop', () => {
  test('loopback and every-address endpoints get the host the attendee reached the page by; others stay', () => {
    const answer = storesFor(config, { host: '192.168.1.20:3000' }, AUDIENCE);
    assert.deepEqual(answer.stores, {
      etcd: ['http://192.168.1.20:2379', 'http://10.9.8.7:2379'],
      zookeeper: ['192.168.1.20:2181'],
      consul: ['http://192.168.1.20:8500'],
    });
    assert.equal(answer.page, 'http://192.168.1.20:3000/');
    assert.equal(kitStoresSchema.safeParse(JSON.parse(JSON.stringify(answer))).success, true);
    assert.equal(answer.namespace, 'fleet');
    assert.deepEqual(answer.liveness, DEFAULT_LIVENESS);
  });

  test('an IPv6 host is written in brackets', () => {
    const answer = storesFor(config, { host: '[fe80::1]:3000' }, AUDIENCE);
    assert.deepEqual(answer.stores.zookeeper, ['[fe80::1]:2181']);
    assert.deepEqual(answer.stores.consul, ['http://[fe80::1]:8500']);
  });

  test('a hostile Host header gives the LAN address and the audience URL, never its own text', () => {
    for (const host of ['<img src=x onerror=alert(1)>', 'evil host:3000', undefined]) {
      const answer = storesFor(config, { host }, AUDIENCE);
      assert.deepEqual(answer.stores.zookeeper, [`${lanAddress()}:2181`]);
      assert.equal(answer.page, AUDIENCE);
      assert.doesNotMatch(JSON.stringify(answer), /img|evil/);
    }
  });

  test('with --public-url the page is that URL (the Host may be a proxy)', () => {
    const answer = storesFor(
      { ...config, publicUrl: 'https://fleet.example.org/' },
      { host: '10.0.0.1:3000' },
      'https://fleet.example.org/',
    );
    assert.equal(answer.page, 'https://fleet.example.org/');
  });
});

describe('the /kit/ page', () => {
  test('the two lines with the address filled in, and a download link', () => {
    const html = kitPageHtml('http://192.168.1.20:3000/');
    assert.match(
      html,
      /curl -O http:\/\/192\.168\.1\.20:3000\/kit\/fleetkit\.mjs\nnode fleetkit\.mjs join 192\.168\.1\.20:3000 --name yourname/,
    );
    assert.match(html, /href="http:\/\/192\.168\.1\.20:3000\/kit\/fleetkit\.mjs" download/);
  });

  test('nothing from the address is taken as HTML', () => {
    // A URL can carry what HTML must not: quotes, angle brackets are escaped or encoded.
    const html = kitPageHtml(`http://teacher.local:3000/"><script>alert(1)</script>`);
    assert.doesNotMatch(html, /<script>alert/);
    assert.doesNotMatch(html, /"><script/);
  });
});
