// VRRP interop: tapvs and keepalived (Debian's, VRRP only) as a pair on the LAN, each in both
// roles. Failover and preemption are timed against RFC 5798's Master_Down_Interval, the
// gateway's ARP entry for the VIP must follow the master, and tshark's VRRP dissector reads
// tapvs's advertisements.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { VIP, directorLab } from '../../src/lab/director.js';
import { hostNs, labRouterMac, readState, startLabRouter, stopLabRouter, switchNs, type LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';
import { gatewayMacFor, hostMac, killHost, masterDownMs, vrrpState, waitFor } from '../helpers/ha.js';

/** What slack a measured failover may have over the protocol's time: our 20 ms timer, the gateway's update, the poll. */
const SLACK_MS = 400;
const curl = (prefix: string) => onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]);
const keepalivedLog = (state: LabState) => readFileSync(state.daemons!.find((d) => d.host === 'director2')!.log, 'utf8');
const lastKeepalivedState = (state: LabState) => [...keepalivedLog(state).matchAll(/Entering (MASTER|BACKUP) STATE/g)].pop()?.[1] ?? 'NONE';

/** Starts keepalived again on director2, as the lab first did. */
function restartKeepalived(state: LabState): void {
  const cmd = state.spec.hosts.find((h) => h.name === 'director2')!.daemons![0].cmd;
  const log = state.daemons!.find((d) => d.host === 'director2')!.log;
  const child = spawn('sh', ['-c', `exec ip netns exec ${hostNs(state.spec.prefix, 'director2')} ${cmd.join(' ')} >> ${log} 2>&1`], { detached: true, stdio: 'ignore' });
  child.unref();
}

/** Drops VRRP between the bridge's ports: a partition of the pair, the rest of the LAN intact. */
function partition(prefix: string, on: boolean): void {
  const script = on ? 'table bridge tvha {\n chain cut {\n  type filter hook forward priority 0;\n  ip protocol vrrp drop\n }\n}\n' : 'delete table bridge tvha\n';
  const r = spawnSync('ip', ['netns', 'exec', switchNs(prefix), 'nft', '-f', '-'], { input: script, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
}

// ---- tapvs master, keepalived backup (VRRP version 3)

const v3 = suite('vrrp v3: tapvs master, keepalived backup');
const p3 = uniquePrefix('kv');
let s3: LabState;

v3.before(async () => {
  s3 = await startLab(directorLab(p3, 'dr', { ha: 'keepalived', vrrp: { version: 3, priorities: [150, 100] } }));
});
v3.after(async () => {
  killHost(p3, 'director2');
  await stopLab(p3);
});

v3('tapvs becomes master, keepalived backs up, the VIP answers through tapvs, tshark reads tapvs\'s advertisements', async () => {
  await waitFor('tapvs master', async () => (await vrrpState(p3, 'director1')) === 'MASTER', 10_000);
  await waitFor('keepalived backup', () => lastKeepalivedState(s3) === 'BACKUP', 5_000);
  const cap = await Capture.start(p3, 'br-lan', 'ip proto 112');
  assert.match(curl(p3).stdout, /rs[12]/);
  const tapvsMac = labRouterMac(p3, 'director1', 'lan');
  assert.is(gatewayMacFor(p3, VIP), tapvsMac, "the gateway's ARP entry points at tapvs");
  await new Promise((r) => setTimeout(r, 2500));
  const rows = await cap.fields('vrrp', ['ip.src', 'ip.ttl', 'vrrp.version', 'vrrp.virt_rtr_id', 'vrrp.prio', 'vrrp.addr_count', 'vrrp.short_adver_int', 'vrrp.ip_addr', 'vrrp.checksum.status', '_ws.malformed', '_ws.expert']);
  const ours = rows.filter((r) => r[0] === '192.168.1.10');
  console.log(`  tapvs advertisements decoded: ${ours.length}, e.g. ${ours[0]?.join(' ')}`);
  assert.ok(ours.length >= 2, 'one a second');
  for (const r of ours) assert.equal(r, ['192.168.1.10', '255', '3', '51', '150', '1', '100', VIP, '1', '', ''], 'version 3, vrid 51, priority 150, 1 s, the VIP, a good checksum, nothing malformed');
  assert.is(rows.filter((r) => r[0] !== '192.168.1.10').length, 0, 'keepalived stays quiet as backup');
});

v3('kill -9 tapvs: keepalived takes over within its Master_Down_Interval and the gateway follows', async () => {
  const keepalivedMac = hostMac(p3, 'director2');
  const start = performance.now();
  await stopLabRouter(p3, 'director1', 'SIGKILL');
  await waitFor('gateway ARP -> keepalived', () => gatewayMacFor(p3, VIP) === keepalivedMac, 10_000);
  const ms = performance.now() - start;
  console.log(`  failover to keepalived: ${Math.round(ms)} ms after the kill (Master_Down_Interval ${masterDownMs(100)} ms)`);
  assert.ok(ms <= masterDownMs(100) + SLACK_MS, `took ${Math.round(ms)} ms`);
  assert.is(lastKeepalivedState(s3), 'MASTER');
});

v3('tapvs restarted preempts keepalived within its own Master_Down_Interval; the gateway follows back', async () => {
  const tapvsMac = labRouterMac(p3, 'director1', 'lan');
  await startLabRouter(p3, 'director1');
  const ms = await waitFor('gateway ARP -> tapvs', () => gatewayMacFor(p3, VIP) === tapvsMac, 10_000);
  console.log(`  preemption by tapvs: ${Math.round(ms)} ms after it was ready (Master_Down_Interval ${masterDownMs(150)} ms)`);
  assert.ok(ms <= masterDownMs(150) + SLACK_MS, `took ${Math.round(ms)} ms`);
  await waitFor('keepalived backup', () => lastKeepalivedState(s3) === 'BACKUP', 3_000);
  assert.match(curl(p3).stdout, /rs[12]/);
});

v3('two masters at once (VRRP partitioned) are detected and logged; healed, keepalived steps down and tapvs carries on', async () => {
  partition(p3, true);
  try {
    await waitFor('keepalived master in the partition', () => lastKeepalivedState(s3) === 'MASTER', 8_000);
    assert.is(await vrrpState(p3, 'director1'), 'MASTER', 'both are master');
  } finally {
    partition(p3, false);
  }
  await waitFor('keepalived backup after the heal', () => lastKeepalivedState(s3) === 'BACKUP', 5_000);
  // The gateway may have followed keepalived's ARP in the partition: tapvs re-announces after seeing another master.
  const back = await waitFor("the gateway's ARP entry back at tapvs", () => gatewayMacFor(p3, VIP) === labRouterMac(p3, 'director1', 'lan'), 5_000);
  console.log(`  the gateway back at tapvs ${Math.round(back)} ms after keepalived stepped down`);
  const log = readFileSync(s3.routers.find((r) => r.name === 'director1')!.log, 'utf8');
  assert.match(log, /two masters at once/);
  const c = await routerCounters(readState(p3)!, 'director1'); // its pid changed with the restart
  console.log(`  two masters seen: vrrp_two_masters ${c.router.vrrp_two_masters}`);
  assert.ok(c.router.vrrp_two_masters >= 1);
  assert.is(await vrrpState(p3, 'director1'), 'MASTER');
  assert.match(curl(p3).stdout, /rs[12]/);
});

// ---- keepalived master, tapvs backup (VRRP version 2)

const v2 = suite('vrrp v2: keepalived master, tapvs backup');
const p2 = uniquePrefix('kw');
let s2: LabState;

v2.before(async () => {
  s2 = await startLab(directorLab(p2, 'dr', { ha: 'keepalived', vrrp: { version: 2, priorities: [100, 200] } }));
});
v2.after(async () => {
  killHost(p2, 'director2');
  await stopLab(p2);
});

v2('as backup, tapvs neither answers ARP for the VIP nor serves it; what reaches it is dropped and counted', async () => {
  await waitFor('keepalived master', () => lastKeepalivedState(s2) === 'MASTER', 10_000);
  await waitFor('tapvs backup with a master', async () => (await vrrpState(p2, 'director1')) === 'BACKUP', 5_000);
  const answers = onHost(p2, 'gateway', ['arping', '-c', '2', '-w', '3', '-I', 'eth1', VIP]).stdout;
  const macs = new Set([...answers.matchAll(/\[([0-9A-Fa-f:]{17})\]/g)].map((m) => m[1].toLowerCase()));
  assert.equal([...macs], [hostMac(p2, 'director2')], `only keepalived answers: ${answers}`);
  // A gateway with a stale entry still sends to tapvs: the backup drops it, counted.
  onHost(p2, 'gateway', ['ip', 'neigh', 'replace', VIP, 'lladdr', labRouterMac(p2, 'director1', 'lan'), 'dev', 'eth1', 'nud', 'reachable']);
  const before = (await routerCounters(s2, 'director1')).router.ha_backup_dropped;
  assert.is(curl(p2).status === 0, false, 'no answer from a backup');
  const after = (await routerCounters(s2, 'director1')).router.ha_backup_dropped;
  console.log(`  backup dropped ${after - before} packets to the VIP`);
  assert.ok(after - before >= 1);
  onHost(p2, 'gateway', ['ip', 'neigh', 'del', VIP, 'dev', 'eth1']);
});

v2('kill -9 keepalived: tapvs takes over within its Master_Down_Interval, the gateway follows, and tshark reads its v2 advertisements', async () => {
  assert.match(onHost(p2, 'gateway', ['ping', '-c', '1', '-W', '2', VIP]).stdout, /1 received/, 'the gateway knows the master');
  const cap = await Capture.start(p2, 'br-lan', 'ip proto 112');
  const tapvsMac = labRouterMac(p2, 'director1', 'lan');
  killHost(p2, 'director2');
  const ms = await waitFor('gateway ARP -> tapvs', () => gatewayMacFor(p2, VIP) === tapvsMac, 10_000);
  console.log(`  failover to tapvs: ${Math.round(ms)} ms after the kill (Master_Down_Interval ${masterDownMs(100)} ms)`);
  assert.ok(ms <= masterDownMs(100) + SLACK_MS, `took ${Math.round(ms)} ms`);
  assert.match(curl(p2).stdout, /rs[12]/, 'the VIP is served by tapvs');
  await new Promise((r) => setTimeout(r, 2200));
  const rows = (await cap.fields('vrrp && ip.src == 192.168.1.10', ['vrrp.version', 'vrrp.virt_rtr_id', 'vrrp.prio', 'vrrp.auth_type', 'vrrp.adver_int', 'vrrp.ip_addr', 'vrrp.checksum.status', '_ws.malformed', '_ws.expert'])).filter((r) => r[2] !== '0');
  console.log(`  tapvs v2 advertisements decoded: ${rows.length}, e.g. ${rows[0]?.join(' ')}`);
  assert.ok(rows.length >= 2);
  for (const r of rows) assert.equal(r, ['2', '51', '100', '0', '1', VIP, '1', '', '']);
});

v2('keepalived restarted preempts tapvs within its Master_Down_Interval; tapvs backs up and the gateway follows', async () => {
  const keepalivedMac = hostMac(p2, 'director2');
  restartKeepalived(s2);
  const ms = await waitFor('gateway ARP -> keepalived', () => gatewayMacFor(p2, VIP) === keepalivedMac, 12_000);
  console.log(`  preemption by keepalived: ${Math.round(ms)} ms after it started (Master_Down_Interval ${masterDownMs(200)} ms, plus keepalived's start)`);
  assert.ok(ms <= masterDownMs(200) + 1000 + SLACK_MS, `took ${Math.round(ms)} ms`);
  await waitFor('tapvs backup', async () => (await vrrpState(p2, 'director1')) === 'BACKUP', 3_000);
});

if (!skipUnlessRoot('ha-keepalived.test.ts')) {
  v3.run();
  v2.run();
}
