// The real-server agent on real hosts: with it, only the director ever speaks for the VIP in
// ARP; without it (the VIP on lo, default sysctls) a real server does (seed 004). Setup is
// idempotent, undo restores what it found, doctor names each misconfiguration.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VIP, VIP6, directorLab } from '../../src/lab/director.js';
import { labRouterMac, stateDir } from '../../src/lab/lab.js';
import { BUNDLE } from '../helpers/cli.js';
import { Capture, onHost, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const curl = (prefix: string) => onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]).stdout.trim();
const hostMacs = (prefix: string, hosts: string[]) => hosts.map((h) => /link\/ether ([0-9a-f:]{17})/.exec(onHost(prefix, h, ['ip', 'link', 'show', 'eth0']).stdout)![1]);

// ---- with the agent

const withAgent = suite('agent: real servers set up by tapvs agent');
const prefix = uniquePrefix('ag');
const agent = (host: string, args: string[]) =>
  onHost(prefix, host, [process.execPath, BUNDLE, 'agent', ...args, '--state', join(stateDir(prefix), `${host}-agent.json`), ...(args[0] === 'doctor' ? [] : ['--sysctl-dir', join(stateDir(prefix), `${host}-sysctl.d`)])]);
const sysctls = (host: string) => onHost(prefix, host, ['sysctl', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce', 'net.ipv4.conf.eth0.arp_ignore', 'net.ipv4.conf.eth0.arp_announce']).stdout;
let originalSysctls = '';

withAgent.before(async () => {
  await startLab(directorLab(prefix, 'dr', { noArpHygiene: true }));
  originalSysctls = sysctls('rs1');
});
withAgent.after(async () => {
  await stopLab(prefix);
});

withAgent('setup gives each real server the VIP on a NOARP device, and traffic flows', () => {
  for (const rs of ['rs1', 'rs2']) {
    const r = agent(rs, ['setup', '--vip', VIP, '--iface', 'eth0']);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /VIPs 192\.168\.1\.2 on tapvs-vip, a TUN the agent made: it has no link layer, so it can never answer ARP/);
  }
  assert.match(onHost(prefix, 'rs1', ['ip', 'link', 'show', 'tapvs-vip']).stdout, /NOARP/);
  assert.match(readFileSync(join(stateDir(prefix), 'rs1-sysctl.d', '90-tapvs-agent.conf'), 'utf8'), /net\.ipv4\.conf\.eth0\.arp_announce = 2/);
  assert.equal(Array.from({ length: 4 }, () => curl(prefix)), ['rs1', 'rs2', 'rs1', 'rs2']);
});

withAgent("on the wire only the director answers for the VIP, and no ARP request carries the VIP as sender", async () => {
  const capture = await Capture.start(prefix, 'br-lan', 'arp');
  // Make everyone ask again: the gateway for the VIP, the real servers for the gateway.
  onHost(prefix, 'gateway', ['ip', 'neigh', 'flush', 'dev', 'eth1']);
  for (const rs of ['rs1', 'rs2']) onHost(prefix, rs, ['ip', 'neigh', 'flush', 'dev', 'eth0']);
  for (let i = 0; i < 4; i++) curl(prefix);
  const rows = await capture.fields('arp', ['arp.opcode', 'eth.src', 'arp.src.proto_ipv4']);
  const director = labRouterMac(prefix, 'director', 'lan');
  const vipReplies = rows.filter(([op, , ip]) => op === '2' && ip === VIP);
  assert.ok(vipReplies.length >= 1, 'the gateway asked and was answered');
  for (const [, mac] of vipReplies) assert.is(mac, director);
  assert.equal(rows.filter(([op, mac, ip]) => op === '1' && ip === VIP && mac !== director), [], 'no "tell 192.168.1.2" from a real server');
  assert.match(onHost(prefix, 'gateway', ['ip', 'neigh', 'show', VIP]).stdout, new RegExp(director));
});

withAgent('setup twice is setup once', () => {
  const before = readFileSync(join(stateDir(prefix), 'rs1-agent.json'), 'utf8');
  const again = agent('rs1', ['setup', '--vip', VIP, '--iface', 'eth0', '--json']);
  assert.is(again.status, 0);
  assert.equal(JSON.parse(again.stdout).changed, []);
  assert.is(readFileSync(join(stateDir(prefix), 'rs1-agent.json'), 'utf8'), before);
});

withAgent('doctor reports each injected misconfiguration, one line each', () => {
  assert.is(agent('rs1', ['doctor']).status, 0);
  onHost(prefix, 'rs1', ['sysctl', '-qw', 'net.ipv4.conf.eth0.arp_announce=0']);
  onHost(prefix, 'rs1', ['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'eth0']);
  const r = agent('rs1', ['doctor']);
  assert.is(r.status, 6);
  assert.match(r.stdout, /FAIL sysctl  net\.ipv4\.conf\.eth0\.arp_announce = 0 \(want 2\)/);
  assert.match(r.stdout, /FAIL vip     192\.168\.1\.2 on eth0, tapvs-vip \(only tapvs-vip may hold it\)/);
  assert.match(r.stdout, /ok   noarp   tapvs-vip is NOARP/);
  onHost(prefix, 'rs1', ['ip', 'addr', 'del', `${VIP}/32`, 'dev', 'eth0']);
  assert.is(agent('rs1', ['setup', '--vip', VIP, '--iface', 'eth0']).status, 0, 'setup repairs the sysctl');
  assert.is(agent('rs1', ['doctor']).status, 0);
});

withAgent('doctor --port warns when nothing listens on the VIP, and when nftables would drop its traffic', () => {
  assert.match(agent('rs2', ['doctor', '--port', '80']).stdout, /ok   listen  a service listens on 192\.168\.1\.2:80 \(or all addresses\)/);
  const closed = agent('rs2', ['doctor', '--port', '8081']);
  assert.is(closed.status, 6);
  assert.match(closed.stdout, /FAIL listen  nothing listens on 192\.168\.1\.2:8081 or 0\.0\.0\.0:8081/);
  onHost(prefix, 'rs2', ['nft', 'add', 'table', 'inet', 'tvtest']);
  onHost(prefix, 'rs2', ['nft', 'add', 'chain', 'inet', 'tvtest', 'input', '{ type filter hook input priority 0; policy accept; }']);
  onHost(prefix, 'rs2', ['nft', 'add', 'rule', 'inet', 'tvtest', 'input', 'ip', 'daddr', VIP, 'tcp', 'dport', '80', 'drop']);
  const blocked = agent('rs2', ['doctor', '--port', '80']);
  onHost(prefix, 'rs2', ['nft', 'delete', 'table', 'inet', 'tvtest']);
  assert.is(blocked.status, 6);
  assert.match(blocked.stdout, /FAIL firewall rule \d+ in tvtest\/input drops traffic to 192\.168\.1\.2/);
});

withAgent("doctor's live ARP probe: passes when set up, and catches both failures of seed 004", () => {
  const good = agent('rs1', ['doctor']);
  assert.is(good.status, 0, good.stdout);
  assert.match(good.stdout, /ok   probe   no answer to who-has 192\.168\.1\.2/);
  assert.match(good.stdout, /ok   probe   ARP requests say 192\.168\.1\.11, not 192\.168\.1\.2/);
  const keep = onHost(prefix, 'rs1', ['sysctl', '-n', 'net.ipv4.conf.all.arp_ignore', 'net.ipv4.conf.all.arp_announce', 'net.ipv4.conf.eth0.arp_announce']).stdout.trim().split('\n');
  onHost(prefix, 'rs1', ['sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=0', 'net.ipv4.conf.all.arp_announce=0', 'net.ipv4.conf.eth0.arp_announce=0']);
  const bad = agent('rs1', ['doctor']);
  onHost(prefix, 'rs1', ['sysctl', '-qw', `net.ipv4.conf.all.arp_ignore=${keep[0]}`, `net.ipv4.conf.all.arp_announce=${keep[1]}`, `net.ipv4.conf.eth0.arp_announce=${keep[2]}`]);
  assert.is(bad.status, 6);
  assert.match(bad.stdout, /FAIL probe   this host answered who-has 192\.168\.1\.2/);
  assert.match(bad.stdout, /FAIL probe   ARP requests say 192\.168\.1\.2: "tell 192\.168\.1\.2"/);
  assert.is.not(onHost(prefix, 'rs1', ['ip', 'link', 'show', 'tapvs-probe']).status, 0, 'the probe TAP is gone');
});

withAgent('clear errors: unknown interface (3), a VIP on an interface that answers ARP (5)', () => {
  const unknown = agent('rs2', ['setup', '--vip', '192.168.1.3', '--iface', 'eth7']);
  assert.is(unknown.status, 3);
  assert.match(unknown.stderr, /no interface 'eth7' \(have: lo, eth0, tapvs-vip\)/);
  onHost(prefix, 'rs2', ['ip', 'addr', 'add', '192.168.1.3/32', 'dev', 'eth0']);
  const conflict = agent('rs2', ['setup', '--vip', '192.168.1.3', '--iface', 'eth0']);
  assert.is(conflict.status, 5);
  assert.match(conflict.stderr, /192\.168\.1\.3 is already on eth0, which answers ARP for it; remove it first: ip addr del 192\.168\.1\.3\/32 dev eth0/);
  onHost(prefix, 'rs2', ['ip', 'addr', 'del', '192.168.1.3/32', 'dev', 'eth0']);
});

withAgent('a conflicting setup is refused (5), saying how to get out of it', () => {
  const r = agent('rs1', ['setup', '--vip', VIP, '--iface', 'eth0', '--method', 'tun']);
  assert.is(r.status, 5);
  assert.match(r.stderr, /already set up for eth0\/tapvs-vip\/dr .* run 'tapvs agent undo' first/);
});

withAgent('an IPv6 VIP: a /128 on the same device, served through the director; doctor checks neighbour discovery', () => {
  for (const rs of ['rs1', 'rs2']) {
    const r = agent(rs, ['setup', '--vip', VIP6, '--iface', 'eth0']);
    assert.is(r.status, 0, r.stderr);
  }
  assert.match(onHost(prefix, 'rs1', ['ip', '-6', 'addr', 'show', 'dev', 'tapvs-vip']).stdout, new RegExp(`inet6 ${VIP6}/128`));
  assert.equal(Array.from({ length: 4 }, () => onHost(prefix, 'client', ['curl', '-6', '-g', '-s', '--max-time', '3', `http://[${VIP6}]/`]).stdout.trim()), ['rs1', 'rs2', 'rs1', 'rs2']);
  assert.match(agent('rs1', ['doctor']).stdout, new RegExp(`ok   nd      eth0 neither answers neighbour solicitations for ${VIP6} nor sends them from it`));
  onHost(prefix, 'rs1', ['ip', '-6', 'addr', 'add', `${VIP6}/128`, 'dev', 'eth0', 'nodad']);
  const bad = agent('rs1', ['doctor']);
  onHost(prefix, 'rs1', ['ip', '-6', 'addr', 'del', `${VIP6}/128`, 'dev', 'eth0']);
  assert.is(bad.status, 6);
  assert.match(bad.stdout, new RegExp(`FAIL nd      ${VIP6} is on eth0: this host would answer neighbour solicitations for it`));
});

withAgent('setup --undo restores every sysctl and removes what it made; twice is harmless', () => {
  const r = agent('rs1', ['setup', '--undo']);
  assert.is(r.status, 0, r.stderr);
  assert.is(sysctls('rs1'), originalSysctls);
  assert.is.not(onHost(prefix, 'rs1', ['ip', 'link', 'show', 'tapvs-vip']).status, 0, 'device gone');
  assert.not.match(onHost(prefix, 'rs1', ['ip', '-6', 'addr']).stdout, new RegExp(VIP6), 'the IPv6 VIP gone with it');
  assert.match(agent('rs1', ['undo']).stdout, /nothing to undo/);
});

if (!skipUnlessRoot('agent.test.ts (with agent)')) withAgent.run();

// ---- without it: the failure the agent exists to prevent

const without = suite('agent: the same LAN without ARP hygiene');
const badPrefix = uniquePrefix('na');

without.before(async () => {
  const spec = directorLab(badPrefix, 'dr', { noArpHygiene: true });
  for (const h of spec.hosts.filter((x) => x.name.startsWith('rs'))) h.setup = [['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'lo'], ...(h.setup ?? [])];
  await startLab(spec);
});
without.after(async () => {
  await stopLab(badPrefix);
});

without('a real server with the VIP on lo and default sysctls answers ARP for the VIP', async () => {
  const capture = await Capture.start(badPrefix, 'br-lan', 'arp');
  onHost(badPrefix, 'gateway', ['ip', 'neigh', 'flush', 'dev', 'eth1']);
  curl(badPrefix);
  const rows = await capture.fields(`arp.opcode == 2 && arp.src.proto_ipv4 == ${VIP}`, ['eth.src']);
  const realServers = hostMacs(badPrefix, ['rs1', 'rs2']);
  assert.ok(rows.some(([mac]) => realServers.includes(mac)), `replies for the VIP came from ${rows.map((r) => r[0]).join(', ')}`);
});

without("and a real server's 'who-has gateway, tell VIP' teaches the gateway the VIP at that server's MAC", () => {
  // The real servers forget the gateway, so their next reply (sent from the VIP) makes them ask
  // for it, naming the VIP as sender: the gateway believes them (seed 004, problem 3).
  for (const rs of ['rs1', 'rs2']) onHost(badPrefix, rs, ['ip', 'neigh', 'flush', 'dev', 'eth0']);
  curl(badPrefix);
  curl(badPrefix);
  const neigh = onHost(badPrefix, 'gateway', ['ip', 'neigh', 'show', VIP]).stdout;
  const realServers = hostMacs(badPrefix, ['rs1', 'rs2']);
  assert.ok(realServers.some((m) => neigh.includes(m)), `gateway: ${neigh.trim()} (real servers ${realServers.join(', ')})`);
});

if (!skipUnlessRoot('agent.test.ts (without agent)')) without.run();
