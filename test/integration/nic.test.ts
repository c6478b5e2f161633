// Taking over a NIC named by its MAC (interfaces[].nic), as the appliance does with its real
// NICs: here the "NIC" is a namespace's veth. The router answers on the wire with a MAC of its
// own, the kernel keeps no address on anything tapvs owns, and a NIC that holds an address, or
// a MAC no NIC has, is refused with the reason.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync, rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { formatMac } from '../../src/packet/address.js';
import { defaultMac } from '../../src/control/config.js';
import { BUNDLE } from '../helpers/cli.js';
import { onHost, skipUnlessRoot, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('nic: tapvs takes over a NIC by its MAC');
const prefix = uniquePrefix('nic');
const configFile = `/tmp/${prefix}-nic.json`;
let nicMac = '';
let managementMac = '';
let daemon: ChildProcess | null = null;

const writeConfig = (nic: string, management?: string) =>
  writeFileSync(
    configFile,
    JSON.stringify({
      interfaces: [{ name: 'lan', nic, addresses: ['10.77.0.1/24'] }],
      ...(management ? { management: { nic: management, addresses: ['10.77.0.250/24'] } } : {}),
      control: { socket: `/tmp/${prefix}.sock` },
    }),
  );
const runOnce = () => onHost(prefix, 'appl', [process.execPath, BUNDLE, 'run', '--config', configFile], 20_000);

test.before(async () => {
  await startLab({
    prefix,
    segments: ['wire'],
    hosts: [
      { name: 'peer', segment: 'wire', address: '10.77.0.2/24' },
      // eth0: an address, to be refused first; eth1: the management NIC
      { name: 'appl', segment: 'wire', address: '10.77.0.9/24', moreInterfaces: [{ segment: 'wire', address: '10.77.0.8/24' }] },
    ],
    routers: [],
  });
  const macOf = (dev: string) => /link\/ether ([0-9a-f:]{17})/.exec(onHost(prefix, 'appl', ['ip', 'link', 'show', dev]).stdout)![1];
  nicMac = macOf('eth0');
  managementMac = macOf('eth1');
  onHost(prefix, 'appl', ['ip', 'addr', 'flush', 'dev', 'eth1']);
});
test.after(async () => {
  if (daemon) await stopChild(daemon);
  await stopLab(prefix);
  rmSync(configFile, { force: true });
});

test('a MAC that no NIC has is refused, naming the NICs there are', () => {
  writeConfig('52:54:00:de:ad:01');
  const r = runOnce();
  assert.is(r.status, 1);
  assert.match(r.stderr, `no NIC has MAC 52:54:00:de:ad:01 (NICs here: eth0 ${nicMac}, eth1 ${managementMac})`);
});

test('a NIC the kernel holds an address on is refused', () => {
  writeConfig(nicMac.toUpperCase());
  const r = runOnce();
  assert.is(r.status, 1);
  assert.match(r.stderr, `NIC eth0 (${nicMac}) holds 10.77.0.9/24`);
});

test('check --nics finds both before anything is touched (the appliance checks so at boot)', () => {
  writeConfig(nicMac, '52:54:00:de:ad:02');
  const r = onHost(prefix, 'appl', [process.execPath, BUNDLE, 'check', '--nics', '--config', configFile]);
  assert.is(r.status, 1);
  assert.match(r.stderr, `NIC eth0 (${nicMac}) holds 10.77.0.9/24; no NIC has MAC 52:54:00:de:ad:02`);
  assert.is(onHost(prefix, 'appl', [process.execPath, BUNDLE, 'check', '--config', configFile]).status, 0, 'without --nics, only the config itself');
  assert.is(onHost(prefix, 'appl', ['ip', 'link', 'show', 'tvb-lan']).status, 1, 'no bridge made');
});

test('taken over, the NIC carries the router: ping and ARP from a peer on the wire', async () => {
  onHost(prefix, 'appl', ['ip', 'addr', 'flush', 'dev', 'eth0']);
  writeConfig(nicMac, managementMac);
  daemon = spawnOnHost(prefix, 'appl', [process.execPath, BUNDLE, 'run', '--config', configFile]);
  let log = '';
  daemon.stdout!.on('data', (d) => (log += d));
  daemon.stderr!.on('data', (d) => (log += d));
  for (let i = 0; i < 300 && !log.includes('"msg":"ready"'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(log.includes('"msg":"ready"'), log);
  assert.match(log, /"nic":"eth0"/);

  const ping = onHost(prefix, 'peer', ['ping', '-c', '2', '-W', '2', '10.77.0.1']);
  assert.is(ping.status, 0, ping.stdout);
  const routerMac = formatMac(defaultMac(`nic:${nicMac}`));
  assert.match(onHost(prefix, 'peer', ['ip', 'neigh', 'show', '10.77.0.1']).stdout, routerMac);
  assert.is.not(routerMac, nicMac, 'the router has a MAC of its own: the NIC’s belongs to the bridge');

  // The kernel owns nothing tapvs took: its only IPv4 besides lo is the management address.
  const v4 = onHost(prefix, 'appl', ['ip', '-4', '-o', 'addr', 'show']).stdout.trim().split('\n').filter((l) => !/^\d+: lo /.test(l));
  assert.is(v4.length, 1, v4.join('\n'));
  assert.match(v4[0], /^\d+: eth1\s+inet 10\.77\.0\.250\/24/);
  assert.is(onHost(prefix, 'peer', ['ping', '-c', '1', '-W', '2', '10.77.0.250']).status, 0, 'the kernel answers on its management address');
  // ... and only there: asked on the wire, the data NIC's bridge must not answer for it too.
  const arping = onHost(prefix, 'peer', ['arping', '-c', '3', '-w', '4', '-I', 'eth0', '10.77.0.250']);
  const answerers = new Set([...arping.stdout.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1].toLowerCase()));
  assert.equal([...answerers], [managementMac], arping.stdout);
  // Nor does the kernel take IP for its management address that arrives on the data NIC,
  // sent straight to the bridge's MAC (a LAN host that knows or guesses it).
  const bridgeMac = onHost(prefix, 'appl', ['cat', '/sys/class/net/tvb-lan/address']).stdout.trim();
  onHost(prefix, 'peer', ['ip', 'neigh', 'replace', '10.77.0.250', 'lladdr', bridgeMac, 'dev', 'eth0', 'nud', 'permanent']);
  const sneaky = onHost(prefix, 'peer', ['ping', '-c', '2', '-W', '1', '10.77.0.250']);
  onHost(prefix, 'peer', ['ip', 'neigh', 'del', '10.77.0.250', 'dev', 'eth0']);
  assert.is.not(sneaky.status, 0, `the management address answered through the data NIC's bridge: ${sneaky.stdout}`);
  assert.is(onHost(prefix, 'appl', ['cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6']).stdout.trim(), '1');
  const ports = onHost(prefix, 'appl', ['ip', '-o', 'link', 'show', 'master', 'tvb-lan']).stdout;
  assert.match(ports, /: eth0@/);
  assert.match(ports, /: lan: /);
});

if (!skipUnlessRoot('nic.test.ts')) test.run();
