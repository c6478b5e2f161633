import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { renderTop, type TopSnapshot } from '../../src/control/top.js';

const rates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const stats = { conns: 0, inPackets: 0, outPackets: 0, inBytes: 0, outBytes: 0 };
const dest = (address: string) => ({ address, port: 80, method: 'dr' as const, forward: 'Route', weight: 1, configuredWeight: 1, activeConns: 2, inactConns: 1, persistConns: 0, upperThreshold: 0, lowerThreshold: 0, stats, rates: { ...rates, cps: 12.4, inpps: 15_300 } });
const service = (i: number) => ({ protocol: 'tcp' as const, vip: `10.0.${i}.1`, port: 80, fwmark: 0, scheduler: 'wlc', persistence: 0, pe: null, netmask: '255.255.255.255', onePacket: false, flags: [], members: [], udpTimeout: 0, iface: 'lan', stats, rates, failedOut: [], dests: [dest(`10.1.${i}.11`), dest(`10.1.${i}.12`)] });
const snap = (at: number, drops: number, services = 2): TopSnapshot => ({
  at,
  list: { version: '1.2.1', size: 4096, services: Array.from({ length: services }, (_, i) => service(i)) },
  counters: { router: { rx_frames: at, forwarded: at, lvs_no_conn: drops, ip_bad_checksum: drops / 2 }, director: { connections: 1500, capacity: 1 << 20 } },
  daemon: { sync: null, vrrp: [{ name: 'VI_1', iface: 'lan', vrid: 51, state: 'MASTER', priority: 150, transitions: 1, master: 'self', holding: false }] },
});

test('a screen of exactly the terminal: header, services and servers with rates, drops by reason per second, the key', () => {
  const lines = renderTop(snap(2000, 40), snap(0, 0), 80, 24);
  assert.is(lines.length, 24);
  assert.ok(lines.every((l) => l.length <= 80));
  assert.match(lines[0], /table 1500\/1\.0M \(0\.1%\)  in 1000 fps  VI_1 MASTER$/);
  assert.match(lines[2], /^TCP  10\.0\.0\.1:80 +wlc/);
  assert.match(lines[3], /^  -> 10\.1\.0\.11:80 Route w1 +12 +15\.3K/);
  assert.is(lines[22], 'drops/s: lvs_no_conn 20, ip_bad_checksum 10', 'work is not a drop; most first');
});

test('more services than rows: what fits, and how many lines are left out; a narrow terminal cuts lines', () => {
  const lines = renderTop(snap(2000, 0, 30), snap(0, 0, 30), 60, 24);
  assert.is(lines.length, 24);
  assert.match(lines[21], /^\.\.\. 71 more lines/);
  assert.ok(lines.every((l) => l.length <= 60));
  assert.is(lines[22], 'drops/s: none');
});

test.run();
