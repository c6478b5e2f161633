// The config's JSON Schema against tapvs's own parser: ajv compiles it; every config tapvs
// ships or builds validates; at every object of a config using every field, the schema knows
// exactly the fields the parser knows; and values of the wrong kind are refused by both.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { CONFIG_SCHEMA } from '../../src/control/schema.js';
import { ConfigError, parseConfig } from '../../src/control/config.js';
import { directorLab } from '../../src/lab/director.js';
import { defaultLab } from '../../src/lab/default.js';
import { routerConfig } from '../../src/lab/lab.js';

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(CONFIG_SCHEMA);
const schemaOk = (c: unknown) => (validate(c) ? null : ajv.errorsText(validate.errors));

/** Every field the parser knows, each used once. */
const FULL = {
  $schema: 'https://tapvs.invalid/schema/tapvs.json',
  interfaces: [
    { name: 'lan', tap: 'tap0', tapMode: 'auto', mac: '02:00:00:00:01:01', mtu: 1500, addresses: ['192.168.1.10/24'] },
    { name: 'private', tap: 'tap1', nic: '52:54:00:00:00:02', addresses: ['10.20.0.2/24'] },
  ],
  offload: true,
  bgp: { birdSocket: '/run/bird/bird.ctl', routesFile: '/run/tapvs/bird-vips.conf', nextHop: '192.168.1.10', bfd: { peers: ['192.168.1.250'], intervalMs: 100, multiplier: 3 } },
  management: { nic: '52:54:00:00:00:09', addresses: ['192.168.9.2/24'], gateway: '192.168.9.1' },
  system: { hostname: 'lb1', timezone: 'Europe/Berlin', ntp: ['192.168.9.1'], ssh: { authorizedKeys: ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMzlaYwejcylP/vHFqeSdZWY4sRtxEUMcEFjnPkIx+0J ops@laptop'] } },
  routes: [{ to: 'default', via: '192.168.1.1' }, { to: '10.99.0.0/16', dev: 'private' }],
  services: [
    {
      protocol: 'tcp', vip: '192.168.1.2', port: 80, scheduler: 'wlc', persistence: 300, netmask: '255.255.255.0', flags: ['sh-port'], iface: 'lan',
      healthCheck: { type: 'http', port: 80, path: '/', expectStatus: 200, interval: 2, timeout: 1, rise: 2, fall: 2, onFail: 'inhibit' },
      realServers: [{ address: '192.168.1.11', port: 80, weight: 2, method: 'dr', upperThreshold: 500, lowerThreshold: 400 }, { address: '10.20.0.12', port: 8080, method: 'nat' }],
    },
    { protocol: 'udp', vip: '192.168.1.3', port: 5060, persistence: 60, pe: 'sip', udpTimeout: 30, realServers: [{ address: '10.20.0.12', method: 'nat' }], healthCheck: { type: 'udp', send: '00', port: 5060 } },
    { protocol: 'udp', vip: '192.168.1.4', port: 53, onePacket: true, realServers: [{ address: '10.20.0.13', method: 'nat' }], healthCheck: { type: 'command', command: ['/bin/true'] } },
    { fwmark: 7, vip: '192.168.1.5', members: [{ protocol: 'udp', port: 5060 }], scheduler: 'sh', persistence: 60, realServers: [{ address: '10.20.0.14', method: 'nat' }] },
  ],
  director: { maxConnections: 65536, timeouts: { tcp: 900, tcpfin: 120, udp: 300 }, defense: { amemthresh: 1024, dropEntry: 1, dropPacket: 0, secureTcp: 1, amDropRate: 10 }, sloppyTcp: true, handoffFile: null },
  control: { socket: '/run/tapvs/tapvs.sock', mode: '0600', metrics: '127.0.0.1:9101', readOnly: { socket: '/run/tapvs/ro.sock', mode: '0660', group: 'adm' }, maxClients: 32 },
  icmp: { ratePerSecond: 100, burst: 50, perDestinationPerSecond: 20, perDestinationBurst: 20 },
  neighbour: { reachableMs: 30000, retransmitMs: 1000, maxProbes: 3, staleGcMs: 60000, queuePerNeighbour: 16, maxEntries: 4096 },
  ttl: 64,
  log: { level: 'info' },
  ha: {
    vrrp: [{ name: 'VI_1', iface: 'lan', vrid: 51, priority: 150, advertIntervalMs: 1000, preempt: true, version: 3, virtualMac: false, addresses: ['192.168.1.2', { address: '10.20.0.1', iface: 'private' }] }],
    sync: { iface: 'lan', syncid: 0, peer: '192.168.1.9', resyncTimeoutMs: 10000 },
  },
};

/** The schema node for a path into a config. */
function schemaAt(path: (string | number)[]): Record<string, unknown> {
  let node = CONFIG_SCHEMA as Record<string, unknown>;
  for (const step of path) {
    if (typeof step === 'number') {
      node = node.items as Record<string, unknown>;
      const alternatives = (node.oneOf ?? node.anyOf) as Record<string, unknown>[] | undefined;
      if (alternatives) node = alternatives.find((a) => a.type === 'object')!;
    } else node = (node.properties as Record<string, Record<string, unknown>>)[step];
  }
  return node;
}

/** Every object inside a value, with its path. */
function objectsIn(v: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(v)) return v.flatMap((x, i) => objectsIn(x, [...path, i]));
  if (typeof v !== 'object' || v === null) return [];
  return [path, ...Object.entries(v).flatMap(([k, x]) => objectsIn(x, [...path, k]))];
}

test('the parser and the schema both accept a config that uses every field', () => {
  parseConfig(FULL);
  assert.is(schemaOk(FULL), null);
});

test('at every object of it, the schema knows exactly the fields the parser knows', () => {
  let compared = 0;
  for (const path of objectsIn(FULL)) {
    const probe = structuredClone(FULL) as Record<string, unknown>;
    let at: Record<string | number, unknown> = probe;
    for (const step of path) at = at[step] as Record<string | number, unknown>;
    at.__probe__ = 1;
    let known: string[] | null = null;
    try {
      parseConfig(probe);
    } catch (e) {
      assert.instance(e, ConfigError);
      known = /unknown field \(known: ([^)]*)\)/.exec((e as Error).message)?.[1].split(', ') ?? null;
    }
    assert.ok(known, `the parser took an unknown field at ${path.join('.') || '$'}`);
    const schema = schemaAt(path);
    assert.is(schema.additionalProperties, false, `the schema is open at ${path.join('.')}`);
    assert.equal(Object.keys(schema.properties as object).sort(), known!.sort(), `fields at ${path.join('.') || '$'}`);
    assert.ok(schemaOk(probe), 'the schema refuses the unknown field too');
    compared++;
  }
  console.log(`  ${compared} objects compared field by field`);
});

test('values of the wrong kind are refused by both', () => {
  const cases: [string, (c: typeof FULL) => void][] = [
    ['an MTU as a string', (c) => ((c.interfaces[0] as Record<string, unknown>).mtu = '1500')],
    ['an unknown scheduler', (c) => (c.services[0].scheduler = 'fastest')],
    ['VRRP version 4', (c) => (c.ha.vrrp[0].version = 4)],
    ['sloppyTcp "yes"', (c) => ((c.director as Record<string, unknown>).sloppyTcp = 'yes')],
    ['a file mode 999', (c) => (c.control.mode = '999')],
    ['a method "route"', (c) => (c.services[0].realServers[0].method = 'route')],
    ['no interfaces', (c) => (c.interfaces = [])],
  ];
  for (const [what, spoil] of cases) {
    const c = structuredClone(FULL);
    spoil(c);
    assert.throws(() => parseConfig(c), (e: unknown) => e instanceof ConfigError, `parser: ${what}`);
    assert.ok(schemaOk(c), `schema: ${what}`);
  }
});

test('every config tapvs ships or builds validates: the image example, every lab router', () => {
  const configs: [string, unknown][] = [['image/tapvs.json.example', JSON.parse(readFileSync(new URL('../../image/tapvs.json.example', import.meta.url), 'utf8'))]];
  const labs = [defaultLab('tvs'), directorLab('tvs', 'dr'), directorLab('tvs', 'nat'), directorLab('tvs', 'tun'), directorLab('tvs', 'dr', { ha: 'tapvs' }), directorLab('tvs', 'nat', { ha: 'tapvs', vrrp: { version: 2, virtualMac: true } })];
  for (const spec of labs) for (const r of spec.routers) configs.push([`lab ${r.name}`, routerConfig('tvs', r)]);
  for (const [what, c] of configs) {
    parseConfig(c);
    assert.is(schemaOk(c), null, what);
  }
  console.log(`  ${configs.length} configs valid by both`);
});

test.run();
