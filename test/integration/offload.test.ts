// GSO super-frames end to end (issue 12): 200 MB downloads through tapvs routing, a DR, a NAT
// and a TUN service with offloads on, each checked by sha256 against the file on the server,
// with the receiving kernel counting no bad TCP checksum and tapvs having seen super-frames.
// IP-in-IP, the one path tapvs segments itself, is read by tshark's checksum check; and an
// egress MTU of 1400 still gives path-MTU discovery, super-frames or not.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VIP, directorLab, type DirectorTopology } from '../../src/lab/director.js';
import type { LabState } from '../../src/lab/lab.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Capture, onHost, routerCounters, skipUnlessRoot, spawnOnHost, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/udp-gso.py');

const BIG_MB = 200;

interface Lab {
  prefix: string;
  state: LabState;
}

/** A lab of that topology whose director has offloads, and a 200 MB file on each server. */
async function offloadLab(tag: string, topology: DirectorTopology, lanMtu?: number, uploadService = false): Promise<Lab> {
  const prefix = uniquePrefix(tag);
  const spec = directorLab(prefix, topology);
  const router = spec.routers[0];
  router.extra = { ...router.extra, offload: true };
  if (uploadService) router.services!.push({ ...router.services![0], port: 8081 });
  if (lanMtu) router.interfaces.find((i) => i.name === 'lan')!.mtu = lanMtu;
  const state = await startLab(spec);
  for (const rs of ['rs1', 'rs2']) onHost(prefix, rs, ['sh', '-c', `head -c ${BIG_MB}M /dev/urandom > /tmp/${prefix}-${rs}-www/big`], 60_000);
  return { prefix, state };
}

const shaOn = (lab: Lab, rs: string) => onHost(lab.prefix, rs, ['sha256sum', `/tmp/${lab.prefix}-${rs}-www/big`]).stdout.split(' ')[0];

/** TCP segments the host's kernel refused for a bad checksum (/proc/net/snmp Tcp InCsumErrors). */
function badTcpChecksums(lab: Lab, host: string): number {
  const snmp = onHost(lab.prefix, host, ['cat', '/proc/net/snmp']).stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const [names, values] = snmp.map((l) => l.split(/\s+/));
  return Number(values[names.indexOf('InCsumErrors')]);
}

/** curl's download of `url` on the client: its sha256, size and rate. */
function download(lab: Lab, url: string): { sha: string; bytes: number; gbps: number } {
  const r = onHost(lab.prefix, 'client', ['sh', '-c', `curl -s --max-time 120 -w '%{size_download} %{speed_download}\\n' -o /dev/fd/3 ${url} 3>&1 1>&2 | sha256sum; true`], 150_000);
  const sha = r.stdout.split(' ')[0];
  const [bytes, speed] = r.stderr.trim().split(/\s+/).map(Number);
  return { sha, bytes, gbps: (speed * 8) / 1e9 };
}

async function checkDownload(lab: Lab, what: string, url: string, servedBy: string[]): Promise<void> {
  const shas = new Map(servedBy.map((rs) => [shaOn(lab, rs), rs]));
  const badBefore = badTcpChecksums(lab, 'client');
  const before = (await routerCounters(lab.state, 'director')).router.gso_super_frames;
  const d = download(lab, url);
  const after = await routerCounters(lab.state, 'director');
  const superFrames = after.router.gso_super_frames - before;
  const bad = badTcpChecksums(lab, 'client') - badBefore;
  console.log(`  ${what}: ${(d.bytes / 2 ** 20).toFixed(0)} MiB at ${d.gbps.toFixed(2)} Gbit/s, sha256 ${d.sha.slice(0, 12)} (${shas.get(d.sha) ?? 'no server has it'}), ${superFrames} super-frames, ${bad} bad TCP checksums at the client`);
  assert.is(d.bytes, BIG_MB * 2 ** 20);
  assert.ok(shas.has(d.sha), `${what}: the sha256 of the download is a server's file's`);
  assert.ok(superFrames > 0, `${what}: tapvs carried super-frames`);
  assert.is(bad, 0, `${what}: the client's kernel refused no segment for its checksum`);
  assert.is(after.router.vnet_malformed, 0);
}

// ---- routing and NAT (the NAT lab: real servers on a private network behind the director)

const nat = suite('offload: routing and NAT');
let natLab: Lab;
nat.before(async () => {
  natLab = await offloadLab('on', 'nat');
  // The gateway reaches the private network through the director: routing, no service.
  onHost(natLab.prefix, 'gateway', ['ip', 'route', 'add', '10.20.0.0/24', 'via', '192.168.1.10']);
});
nat.after(() => stopLab(natLab.prefix));

nat('routed: a 200 MB download from a server behind tapvs is intact', async () => {
  await checkDownload(natLab, 'routed', 'http://10.20.0.11/big', ['rs1']);
});

nat('NAT: a 200 MB download through the virtual service is intact', async () => {
  await checkDownload(natLab, 'NAT', `http://${VIP}/big`, ['rs1', 'rs2']);
});

nat('routed UDP with segmentation offload (UDP_SEGMENT): the kernel hands tapvs UDP super-frames (USO), every datagram arrives intact', async () => {
  const offloads = /"iface":"lan"[^\n]*"offloads":"([^"]*)"/.exec(readFileSync(natLab.state.routers[0].log, 'utf8'))?.[1] ?? '';
  if (!offloads.includes('uso')) {
    console.log(`  this kernel offers no UDP segmentation to TAPs (offloads: ${offloads}): skipped`);
    return;
  }
  const before = (await routerCounters(natLab.state, 'director')).router;
  const receiver = spawnOnHost(natLab.prefix, 'rs1', ['python3', FIXTURE, 'receive', '9999', '4']);
  let report = '';
  receiver.stdout!.on('data', (d) => (report += d));
  const done = new Promise((r) => receiver.on('exit', r));
  await new Promise((r) => setTimeout(r, 500));
  const sent = JSON.parse(onHost(natLab.prefix, 'client', ['python3', FIXTURE, 'send', '10.20.0.11', '9999', '1200', '200']).stdout).sent;
  await done;
  const got = JSON.parse(report);
  const after = (await routerCounters(natLab.state, 'director')).router;
  const superFrames = after.gso_super_frames - before.gso_super_frames;
  console.log(`  UDP_SEGMENT 1200: ${sent} datagrams sent in ${sent / 40} sends; ${got.datagrams} received, ${got.intact} intact; ${superFrames} super-frames through tapvs (offloads: ${offloads})`);
  assert.ok(superFrames > 0, 'UDP super-frames crossed tapvs whole');
  assert.ok(got.datagrams >= sent * 0.95, 'at most a few datagrams lost (UDP, a shared machine)');
  assert.is(got.intact, got.datagrams, 'every datagram that arrived is the one sent, byte for byte');
});

// ---- direct routing and IP-in-IP: uploads, the direction that crosses the director

/**
 * Sends `mb` MiB from the client to the VIP's port 8081, where each real server's nc writes
 * the sha256 of what it received: the upload's sha256, the servers', and what tapvs counted.
 */
async function upload(lab: Lab, mb: number): Promise<{ sent: string; got: string[]; counters: Record<string, number>; bad: number[] }> {
  const file = `/tmp/${lab.prefix}-upload`;
  onHost(lab.prefix, 'client', ['sh', '-c', `head -c ${mb}M /dev/urandom > ${file}`], 60_000);
  const sent = onHost(lab.prefix, 'client', ['sha256sum', file]).stdout.split(' ')[0];
  const servers = ['rs1', 'rs2'];
  for (const rs of servers) onHost(lab.prefix, rs, ['sh', '-c', `(timeout 90 nc -l 8081 | sha256sum > /tmp/${lab.prefix}-${rs}-got) > /dev/null 2>&1 &`]);
  await new Promise((r) => setTimeout(r, 300));
  const badBefore = servers.map((rs) => badTcpChecksums(lab, rs));
  const before = (await routerCounters(lab.state, 'director')).router;
  const up = onHost(lab.prefix, 'client', ['sh', '-c', `nc -N -w 10 ${VIP} 8081 < ${file}`], 90_000);
  assert.is(up.status, 0, up.stderr);
  let got: string[] = [];
  for (let i = 0; i < 50 && !got.includes(sent); i++) {
    await new Promise((r) => setTimeout(r, 200));
    got = servers.map((rs) => onHost(lab.prefix, rs, ['sh', '-c', `cat /tmp/${lab.prefix}-${rs}-got 2>/dev/null`]).stdout.split(' ')[0]);
  }
  for (const rs of servers) onHost(lab.prefix, rs, ['pkill', '-f', 'nc -l 8081']);
  const after = (await routerCounters(lab.state, 'director')).router;
  const counters = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
  return { sent, got, counters, bad: servers.map((rs, i) => badTcpChecksums(lab, rs) - badBefore[i]) };
}

/** The lab's service, and the same on port 8081 for uploads. */
async function uploadLab(tag: string, topology: DirectorTopology): Promise<Lab> {
  return offloadLab(tag, topology, undefined, true);
}

const dr = suite('offload: DR');
let drLab: Lab;
dr.before(async () => {
  drLab = await uploadLab('od', 'dr');
});
dr.after(() => stopLab(drLab.prefix));

dr('DR: a 200 MB upload through the service arrives intact (replies go straight to the client: the upload is what crosses tapvs)', async () => {
  const u = await upload(drLab, BIG_MB);
  console.log(`  DR upload: ${BIG_MB} MiB, sha256 ${u.sent.slice(0, 12)}; the servers got ${u.got.map((g) => g.slice(0, 12) || '-').join(', ')}; ${u.counters.gso_super_frames} super-frames; bad TCP checksums at the servers ${u.bad.join(', ')}`);
  assert.ok(u.got.includes(u.sent), 'a real server received the upload intact');
  assert.ok(u.counters.gso_super_frames > 0, 'tapvs carried super-frames');
  assert.equal(u.bad, [0, 0]);
});

const tun = suite('offload: TUN');
let tunLab: Lab;
tun.before(async () => {
  tunLab = await uploadLab('ot', 'tun');
});
tun.after(() => stopLab(tunLab.prefix));

tun('TUN: tapvs cuts the upload into segments and wraps each; tshark finds every inner checksum whole, and the file arrives intact', async () => {
  const cap = await Capture.start(tunLab.prefix, 'br-lan', 'ip proto 4', 20_000); // the first 20000 frames: 28 MB of pcap
  const u = await upload(tunLab, BIG_MB);
  const rows = await cap.fields('ip.proto == 4 && tcp.len > 1000', ['tcp.checksum.status', 'ip.len']);
  const statuses = new Map<string, number>();
  for (const [status] of rows) statuses.set(status, (statuses.get(status) ?? 0) + 1);
  console.log(`  TUN upload: ${BIG_MB} MiB, intact: ${u.got.includes(u.sent)}; ${u.counters.gso_segments_sent} segments cut by tapvs; tshark on ${rows.length} tunnelled data frames: ${[...statuses].map(([st, n]) => `${st === '2' ? 'good' : st === '1' ? 'BAD' : `status ${st}`} ${n}`).join(', ')}`);
  assert.ok(u.got.includes(u.sent), 'a real server received the upload intact');
  assert.ok(u.counters.gso_segments_sent > 0, 'super-frames were cut by tapvs');
  assert.ok(rows.length > 100);
  assert.is(statuses.get('2'), rows.length, 'every inner checksum verified good');
  assert.ok(rows.every(([, len]) => Number(len.split(',')[0]) <= 1500), 'every tunnelled packet fits the link');
  assert.equal(u.bad, [0, 0]);
});

// ---- path MTU with super-frames

const pmtu = suite('offload: an egress MTU of 1400');
let pmtuLab: Lab;
pmtu.before(async () => {
  pmtuLab = await offloadLab('om', 'nat', 1400);
});
pmtu.after(() => stopLab(pmtuLab.prefix));

pmtu("NAT download out of a 1400-byte egress: frag-needed to the server, which shrinks its segments, and the file arrives intact", async () => {
  const before = await routerCounters(pmtuLab.state, 'director');
  await checkDownload(pmtuLab, 'NAT, lan MTU 1400', `http://${VIP}/big`, ['rs1', 'rs2']);
  const after = await routerCounters(pmtuLab.state, 'director');
  const fragNeeded = after.router.frag_needed - before.router.frag_needed;
  console.log(`  frag-needed sent: ${fragNeeded}`);
  assert.ok(fragNeeded >= 1, 'the server learnt the path MTU from tapvs');
});

if (!skipUnlessRoot('offload.test.ts')) {
  nat.run();
  dr.run();
  tun.run();
  pmtu.run();
}
