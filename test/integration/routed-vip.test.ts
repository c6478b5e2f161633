// A routed VIP, in the topology of the kernel's own IPVS selftest: the client routes the VIP
// via the director (10.0.0.1); the real server 172.16.0.2 sits behind it. The VIP is on no
// connected network, so nobody asks ARP for it: the director serves it (DR from the config,
// NAT added with tapvsadm and no interface named), answers no ARP for it, and never uses it
// as the source of its own ARP.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlSocket, type LabSpec } from '../../src/lab/lab.js';
import { quietVipSetup } from '../../src/lab/director.js';
import { Capture, onHost, skipUnlessRoot, sleep, spawnOnHost, startLab, stopLab, stopChild, uniquePrefix } from '../helpers/lab.js';

const prefix = uniquePrefix('rv');
const VIP = '10.0.1.1';
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
const www = `/tmp/${prefix}-rs-www`;
const adm = (...args: string[]) => spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') } });
const sha = (host: string, file: string) => onHost(prefix, host, ['sha256sum', file]).stdout.split(' ')[0];

const spec: LabSpec = {
  prefix,
  segments: ['client', 'server'],
  hosts: [
    { name: 'client', segment: 'client', address: '10.0.0.2/24', setup: [['ip', 'route', 'add', `${VIP}/32`, 'via', '10.0.0.1']] },
    {
      name: 'rs',
      segment: 'server',
      address: '172.16.0.2/24',
      gateway: '172.16.0.1',
      setup: [...quietVipSetup(VIP), ['sh', '-c', `mkdir -p ${www} && head -c 1048576 /dev/urandom > ${www}/blob`]],
      daemons: [{ name: 'http', cmd: ['python3', '-m', 'http.server', '80', '--bind', '0.0.0.0', '--directory', www], readyPort: 80 }],
    },
  ],
  routers: [
    {
      name: 'director',
      interfaces: [
        { name: 'client', segment: 'client', addresses: ['10.0.0.1/24'] },
        { name: 'server', segment: 'server', addresses: ['172.16.0.1/24'] },
      ],
      // No iface, and none could be found: a routed VIP.
      services: [{ protocol: 'tcp', vip: VIP, port: 80, scheduler: 'rr', realServers: [{ address: '172.16.0.2', method: 'dr' }] }],
    },
  ],
};

let arp: Capture;
test.before(async () => {
  await startLab(spec);
  arp = await Capture.start(prefix, 'br-client', 'arp');
});
test.after(() => stopLab(prefix));

test('DR from the config: the download through the routed VIP is intact', () => {
  const r = onHost(prefix, 'client', ['sh', '-c', `curl -s --max-time 10 http://${VIP}/blob | sha256sum`]);
  assert.is(r.stdout.split(' ')[0], sha('rs', `${www}/blob`));
});

test('NAT added with tapvsadm without naming an interface: nc carries the bytes intact both ways', async () => {
  for (const args of [['-A', '-t', `${VIP}:9000`, '-s', 'rr'], ['-a', '-t', `${VIP}:9000`, '-r', '172.16.0.2:9000', '-m'], ['-A', '-t', `${VIP}:8080`, '-s', 'rr'], ['-a', '-t', `${VIP}:8080`, '-r', '172.16.0.2:80', '-m']]) {
    const r = adm(...args);
    assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const list = adm('-L', '-n').stdout;
  assert.match(list, new RegExp(`TCP  ${VIP.replace(/\./g, '\\.')}:9000 rr\\n  -> 172\\.16\\.0\\.2:9000 +Masq`));
  // Upload: the client sends a file to the real server's nc through the VIP.
  onHost(prefix, 'client', ['sh', '-c', `head -c 524288 /dev/urandom > /tmp/${prefix}-up`]);
  const listener = spawnOnHost(prefix, 'rs', ['sh', '-c', `nc -l 9000 > /tmp/${prefix}-got`]);
  await sleep(300);
  const sent = onHost(prefix, 'client', ['sh', '-c', `nc -N -w 5 ${VIP} 9000 < /tmp/${prefix}-up`], 20_000);
  assert.is(sent.status, 0, sent.stderr);
  await sleep(300);
  await stopChild(listener);
  assert.is(sha('rs', `/tmp/${prefix}-got`), sha('client', `/tmp/${prefix}-up`), 'upload intact');
  // Download through NAT: the reply leaves from the VIP.
  const down = onHost(prefix, 'client', ['sh', '-c', `curl -s --max-time 10 http://${VIP}:8080/blob | sha256sum`]);
  assert.is(down.stdout.split(' ')[0], sha('rs', `${www}/blob`), 'download intact');
});

test('nobody is answered in ARP for the routed VIP, and no ARP of the director carries it', async () => {
  const r = onHost(prefix, 'client', ['arping', '-c', '2', '-w', '3', '-I', 'eth0', VIP]);
  assert.match(r.stdout, /Received 0 response/);
  const rows = await arp.fields('arp', ['arp.opcode', 'arp.src.proto_ipv4', 'arp.dst.proto_ipv4']);
  assert.ok(rows.some((r) => r[2] === VIP), 'the client did ask');
  assert.is(rows.filter((r) => r[0] === '2' && r[1] === VIP).length, 0, 'no reply for the VIP');
  assert.is(rows.filter((r) => r[1] === VIP).length, 0, 'the VIP is never an ARP sender');
});

if (!skipUnlessRoot('routed-vip.test.ts')) test.run();
