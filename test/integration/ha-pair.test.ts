// Two tapvs directors as a VRRP pair syncing their connections (IPVS sync protocol v1):
// downloads in progress when the master is killed (kill -9) complete intact through the
// backup, through DR and through NAT, over IPv4 and IPv6; persistence holds; a master that rejoins takes the
// whole table before it takes the VIP back; tshark's IPVS dissector reads the sync messages.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, VIP6, directorLab } from '../../src/lab/director.js';
import { controlSocket, readState, startLabRouter, stopLabRouter, type LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, slowDownload, sleep, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';
import { daemonView, gatewayMacFor, vrrpState, waitFor } from '../helpers/ha.js';

const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
const curl = (prefix: string) => onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]);
const blobSha = (prefix: string, host: string) => onHost(prefix, host, ['sha256sum', `/tmp/${prefix}-${host}-www/blob`]).stdout.split(' ')[0];
const log = (state: LabState, router: string) => readFileSync(state.routers.find((r) => r.name === router)!.log, 'utf8');

async function settled(prefix: string): Promise<void> {
  await waitFor('director1 master', async () => (await vrrpState(prefix, 'director1')) === 'MASTER', 15_000);
  await waitFor('director2 backup, with the table', async () => (await vrrpState(prefix, 'director2')) === 'BACKUP' && (await daemonView(prefix, 'director2')).sync?.resync.state === 'done', 5_000);
}

/**
 * Slow downloads of the 2 MiB blob, three over IPv4 and two over IPv6; the master is killed two
 * seconds in. All must arrive whole, each family's from one server (persistence).
 */
async function downloadsSurviveKill(prefix: string, state: LabState, master: string, backup: string): Promise<void> {
  const shas = new Set(['rs1', 'rs2'].map((h) => blobSha(prefix, h)));
  const vips = [VIP, VIP, VIP, VIP6, VIP6];
  const downloads = vips.map((vip) => slowDownload(prefix, 'client', vip, '/blob', 300_000));
  await sleep(2000);
  const before = (await routerCounters(readState(prefix)!, backup)).router;
  const killedAt = performance.now();
  await stopLabRouter(prefix, master, 'SIGKILL');
  await waitFor(`${backup} master`, async () => (await vrrpState(prefix, backup)) === 'MASTER', 8_000);
  const takeover = performance.now() - killedAt;
  const results = await Promise.all(downloads);
  console.log(`  ${backup} master ${Math.round(takeover)} ms after the kill; downloads: ${results.map((r, i) => `${vips[i] === VIP6 ? 'IPv6 ' : ''}${r.bytes} B in ${r.seconds} s${r.error ? ` (${r.error})` : ''}`).join(', ')}; entries it had synced: ${before.sync_entries_received}`);
  for (const r of results) {
    assert.is(r.error, null);
    assert.is(r.bytes, 2 * 1024 * 1024);
    assert.ok(shas.has(r.sha256), 'the blob, intact');
  }
  for (const family of [VIP, VIP6]) assert.is(new Set(results.filter((_, i) => vips[i] === family).map((r) => r.sha256)).size, 1, `${family}: all from one server (persistence)`);
  assert.ok(before.sync_entries_received >= 5, `the backup had heard of the connections, both families (${before.sync_entries_received})`);
  const after = (await routerCounters(readState(prefix)!, backup)).router;
  assert.is(after.lvs_no_conn, 0, 'no segment met an unknown connection');
}

// ---- direct routing, persistent

const dr = suite('ha pair: direct routing, persistence 60');
const pd = uniquePrefix('hd');
let sd: LabState;

dr.before(async () => {
  sd = await startLab(directorLab(pd, 'dr', { ha: 'tapvs', persistence: 60 }));
  await settled(pd);
});
dr.after(() => stopLab(pd));

dr('the pair settles with director1 master; tapvsadm -L --daemon says so as ipvsadm would', async () => {
  const out = spawnSync(process.execPath, [TAPVSADM, '-L', '--daemon', '--socket', controlSocket(pd, 'director1')], { encoding: 'utf8' }).stdout;
  assert.match(out, /^master sync daemon \(mcast=lan, syncid=0, maxlen=1472, group=224\.0\.0\.81, port=8848, ttl=1\)$/m);
  assert.match(out, /^backup sync daemon \(mcast=lan, syncid=0,/m);
  assert.match(out, /^vrrp instance VI_1 \(lan, vrid 51, priority 150\): MASTER, \d+ transitions$/m);
  const backup = await daemonView(pd, 'director2');
  assert.equal([backup.sync?.sending, backup.vrrp[0].master], [false, '192.168.1.10']);
  assert.is(backup.sync?.resync.state, 'done', 'the backup took the (empty) table before it could become master');
});

dr("tshark's IPVS dissector decodes the master's sync messages: the connection and its persistence template", async () => {
  const cap = await Capture.start(pd, 'br-lan', 'udp port 8848');
  assert.match(curl(pd).stdout, /rs[12]/);
  await sleep(500);
  const rows = await cap.fields('ipvs', ['ip.src', 'ip.dst', 'ipvs.version', 'ipvs.syncid', 'ipvs.conncount', 'ipvs.proto', 'ipvs.caddr', 'ipvs.cport', 'ipvs.vaddr', 'ipvs.vport', 'ipvs.daddr', 'ipvs.flags.v1', 'ipvs.timeout', '_ws.malformed']);
  console.log(`  sync messages decoded: ${rows.length}; e.g. ${rows[0]?.join(' ')}`);
  assert.ok(rows.length >= 1);
  const entries = rows.flatMap((r) => {
    const count = Number(r[4]);
    const col = (i: number) => r[i].split(',');
    return Array.from({ length: count }, (_, k) => ({ src: r[0], dst: r[1], version: r[2], malformed: r[13], caddr: col(6)[k], cport: col(7)[k], vaddr: col(8)[k], vport: col(9)[k], flags: Number(col(11)[k]), timeout: Number(col(12)[k]) }));
  });
  for (const e of entries) assert.equal([e.src, e.dst, e.version, e.malformed, e.vaddr, e.vport], ['192.168.1.10', '224.0.0.81', '1', '', VIP, '80']);
  const conn = entries.find((e) => e.caddr === '10.0.0.2' && e.cport !== '0' && !(e.flags & 0x1000));
  const template = entries.find((e) => e.flags & 0x1000);
  assert.ok(conn && conn.timeout > 0, 'the connection, with its timeout');
  assert.ok(template && template.cport === '0' && template.timeout > 55 && template.timeout <= 60, 'the persistence template, with its 60 s');
});

dr('kill -9 the master mid-download: every download completes intact through the backup, and persistence holds', async () => {
  const servedBefore = curl(pd).stdout.trim();
  await downloadsSurviveKill(pd, sd, 'director1', 'director2');
  assert.is(curl(pd).stdout.trim(), servedBefore, 'the same real server after the failover: the template was synced');
});

dr('the old master rejoins: it takes the whole table before the VIP, and downloads on the backup survive the preemption', async () => {
  const shas = new Set(['rs1', 'rs2'].map((h) => blobSha(pd, h)));
  const downloads = [0, 1].map(() => slowDownload(pd, 'client', VIP, '/blob', 300_000));
  await sleep(1000);
  await startLabRouter(pd, 'director1');
  await waitFor('director1 master again', async () => (await vrrpState(pd, 'director1')) === 'MASTER', 15_000);
  // The log is written asynchronously: the state can be MASTER before its line is on disk.
  await waitFor('the transition in the log', async () => log(sd, 'director1').includes('BACKUP -> MASTER'), 5_000);
  const text = log(sd, 'director1');
  const resynced = text.indexOf('resync complete (table received from 192.168.1.9)');
  const master = text.indexOf('BACKUP -> MASTER');
  if (!(resynced > 0 && master > resynced)) console.log(text.split('\n').filter((l) => /sync:|vrrp:/.test(l)).join('\n'));
  assert.ok(resynced > 0 && master > resynced, 'the table first, then mastership');
  const view = await daemonView(pd, 'director1');
  console.log(`  resync: ${view.sync?.resync.entries} entries in ${view.sync?.resync.ms} ms, then master`);
  assert.ok((view.sync?.resync.entries ?? 0) >= 2, 'the downloads and their template');
  const results = await Promise.all(downloads);
  for (const r of results) {
    assert.is(r.error, null);
    assert.ok(shas.has(r.sha256) && r.bytes === 2 * 1024 * 1024);
  }
});

// ---- NAT

const nat = suite('ha pair: NAT');
const pn = uniquePrefix('hn');
let sn: LabState;

nat.before(async () => {
  sn = await startLab(directorLab(pn, 'nat', { ha: 'tapvs', persistence: 60 }));
  await settled(pn);
});
nat.after(() => stopLab(pn));

nat('kill -9 the master mid-download through NAT: every download completes intact through the backup', async () => {
  assert.match(curl(pn).stdout, /rs[12]/);
  await downloadsSurviveKill(pn, sn, 'director1', 'director2');
});

// ---- the virtual MAC

const vmac = suite('ha pair: the virtual MAC 00:00:5e:00:01:33');
const pv = uniquePrefix('hv');
const VMAC = '00:00:5e:00:01:33'; // VRID 51

vmac.before(async () => {
  await startLab(directorLab(pv, 'dr', { ha: 'tapvs', vrrp: { virtualMac: true } }));
  await settled(pv);
});
vmac.after(() => stopLab(pv));

vmac('the gateway learns the VIP at the virtual MAC, which stays the same across a failover; the switch follows it to the new master', async () => {
  const cap = await Capture.start(pv, 'br-lan', 'ip proto 112 or arp');
  assert.match(curl(pv).stdout, /rs[12]/);
  assert.is(gatewayMacFor(pv, VIP), VMAC);
  await stopLabRouter(pv, 'director1', 'SIGKILL');
  await waitFor('director2 master', async () => (await vrrpState(pv, 'director2')) === 'MASTER', 8_000);
  assert.match(curl(pv).stdout, /rs[12]/, 'served by the new master at the same MAC');
  assert.is(gatewayMacFor(pv, VIP), VMAC, 'the gateway never had to learn a new MAC');
  await sleep(2200); // a few of the new master's advertisements
  const frames = await cap.fields('vrrp || (arp.src.proto_ipv4 == 192.168.1.2)', ['ip.src', 'eth.src', 'arp.src.hw_mac']);
  const adverts = frames.filter((f) => f[0]);
  const garps = frames.filter((f) => !f[0]);
  assert.ok(adverts.length >= 2 && adverts.every((f) => f[1] === VMAC), `advertisements from the virtual MAC: ${JSON.stringify(adverts.slice(0, 3))}`);
  assert.ok(garps.length >= 1 && garps.every((f) => f[1] === VMAC && f[2] === VMAC), 'ARP for the VIP from and about the virtual MAC');
});

if (!skipUnlessRoot('ha-pair.test.ts')) {
  dr.run();
  nat.run();
  vmac.run();
}
