import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderMetrics, type MetricsSnapshot } from '../../src/control/metrics.js';

const stats = (conns: number) => ({ conns, inPackets: 10 * conns, outPackets: 0, inBytes: 700 * conns, outBytes: 0 });
const rates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const snapshot: MetricsSnapshot = {
  router: { rx_frames: 42, ip_bad_checksum: 3 },
  engine: { tx_ring_full: 0 },
  ports: [{ iface: 'lan', counters: { rx_frames: 40 } }],
  table: { entries: 5, capacity: 1024 },
  defenseActive: { drop_entry: true, secure_tcp: false },
  ha: { vrrp: [{ name: 'VI_1', vrid: 51, state: 'MASTER', transitions: 2, priority: 150 }], resync: { state: 'done', ms: 320, entries: 7 } },
  ipvs: {
    version: '1.2.1',
    size: 1024,
    services: [
      {
        protocol: 'tcp', vip: '192.168.1.2', port: 80, fwmark: 0, scheduler: 'rr', persistence: 0, pe: null, netmask: '255.255.255.255', onePacket: false, flags: [], members: [], udpTimeout: 0, iface: 'lan', failedOut: [],
        stats: stats(4), rates,
        dests: ['192.168.1.11', '192.168.1.12'].map((address, i) => ({ address, port: 80, method: 'dr' as const, forward: 'Route', weight: 1 - i, configuredWeight: 1, activeConns: i, inactConns: 2, persistConns: 0, upperThreshold: 0, lowerThreshold: 0, stats: stats(2), rates })),
      },
    ],
  },
};

test('every sample is name{labels} value, under one HELP and TYPE per family', () => {
  const text = renderMetrics(snapshot);
  const families = new Map<string, number>();
  for (const line of text.trimEnd().split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const name = line.split(' ')[2];
      assert.not.ok(families.has(name), `${name} declared twice`);
      families.set(name, 0);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+]+)$/.exec(line);
    assert.ok(m, `not a sample: ${line}`);
    assert.ok(families.has(m![1]), `${m![1]} sampled before its TYPE`);
  }
  assert.match(text, /^tapvs_router_events_total\{event="ip_bad_checksum"\} 3$/m);
  assert.match(text, /^tapvs_service_connections_total\{service="TCP 192\.168\.1\.2:80"\} 4$/m);
  assert.match(text, /^tapvs_real_server_weight\{service="TCP 192\.168\.1\.2:80",server="192\.168\.1\.12:80",forward="Route"\} 0$/m);
  assert.match(text, /^tapvs_real_server_bytes_total\{service="TCP 192\.168\.1\.2:80",server="192\.168\.1\.11:80",forward="Route",direction="in"\} 1400$/m);
  assert.match(text, /^tapvs_defense_active\{defense="drop_entry"\} 1$/m);
  assert.match(text, /^tapvs_connection_table_capacity 1024$/m);
});

test('label values are escaped', () => {
  const text = renderMetrics({ ...snapshot, ports: [{ iface: 'we"ird\\name', counters: { rx_frames: 1 } }] });
  assert.match(text, 'tapvs_port_events_total{iface="we\\"ird\\\\name",event="rx_frames"} 1');
});

test('VRRP state is one gauge per state, 1 for the one the instance is in; the resync says how long it took', () => {
  const text = renderMetrics(snapshot);
  assert.match(text, /^tapvs_vrrp_state\{instance="VI_1",vrid="51",state="MASTER"\} 1$/m);
  assert.match(text, /^tapvs_vrrp_state\{instance="VI_1",vrid="51",state="BACKUP"\} 0$/m);
  assert.match(text, /^tapvs_vrrp_transitions_total\{instance="VI_1",vrid="51"\} 2$/m);
  assert.match(text, /^tapvs_sync_resync_seconds 0\.32$/m);
  assert.match(text, /^tapvs_sync_resync_entries 7$/m);
});

test.run();
