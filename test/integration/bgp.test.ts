// VIPs announced over BGP (issue 14, first part): tapvs keeps the routes file that the
// director's BIRD includes; that BIRD, on the management leg, peers with a BIRD standing for
// the upstream router. The upstream learns the VIP with tapvs's LAN address as next hop (tshark
// reads the UPDATE), loses it when the service's last real server fails its health check, gets
// it back when a server returns, and loses it on SIGTERM before tapvs is gone.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { VIP, directorLab } from '../../src/lab/director.js';
import { spawnSync } from 'node:child_process';
import { controlSocket, stateDir, type LabState } from '../../src/lab/lab.js';
import { BUNDLE } from '../helpers/cli.js';
import { Capture, onHost, skipUnlessRoot, slowDownload, spawnOnHost, startLab, stopChild, stopLab, uniquePrefix } from '../helpers/lab.js';
import { waitFor } from '../helpers/ha.js';

const test = suite('bgp: VIPs announced by BIRD');
const prefix = uniquePrefix('bg');
const dir = stateDir(prefix);
const routesFile = join(dir, 'bird-vips.conf');
const directorSocket = join(dir, 'bird-director.ctl');
const upstreamSocket = join(dir, 'bird-upstream.ctl');
let state: LabState;
const children: ChildProcess[] = [];

const directorBird = `router id 192.168.1.250;
protocol device { scan time 1; }
protocol static tapvs_vips {
  ipv4;
  include "${routesFile}";
}
protocol bgp upstream {
  local 192.168.1.250 as 65010;
  neighbor 192.168.1.1 as 65000;
  hold time 3; keepalive time 1; connect retry time 1;
  ipv4 { import none; export where proto = "tapvs_vips"; next hop keep; };
}
`;
const upstreamBird = `router id 192.168.1.1;
protocol device { scan time 1; }
protocol bgp director {
  local 192.168.1.1 as 65000;
  neighbor 192.168.1.250 as 65010;
  hold time 3; keepalive time 1; connect retry time 1;
  ipv4 { import all; export none; };
}
`;

/** What the upstream router has for the VIP: the next hop, or null. */
function upstreamRoute(): string | null {
  const r = onHost(prefix, 'gateway', ['birdc', '-s', upstreamSocket, 'show', 'route', 'for', `${VIP}/32`, 'all']);
  return /BGP\.next_hop: (\S+)/.exec(r.stdout)?.[1] ?? null;
}

function bird(host: string, conf: string, socket: string, name: string): void {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, conf);
  children.push(spawnOnHost(prefix, host, ['bird', '-f', '-c', file, '-s', socket, '-P', join(dir, `${name}.pid`)]));
}

test.before(async () => {
  const spec = directorLab(prefix, 'dr', { healthCheck: { type: 'http', path: '/', expectStatus: 200, interval: 1, timeout: 1, rise: 1, fall: 2 } });
  const router = spec.routers[0];
  router.extra = { ...router.extra, bgp: { birdSocket: directorSocket, routesFile, nextHop: '192.168.1.10' } };
  state = await startLab(spec);
});
test.after(async () => {
  for (const c of children) await stopChild(c);
  await stopLab(prefix);
});

test('the upstream learns the VIP with tapvs as next hop, and tshark reads the UPDATE', async () => {
  const cap = await Capture.start(prefix, 'br-lan', 'tcp port 179');
  bird('gateway', upstreamBird, upstreamSocket, 'upstream');
  bird('sw', directorBird, directorSocket, 'director');
  const ms = await waitFor('the VIP at the upstream', () => upstreamRoute() !== null, 20_000).catch((e) => {
    for (const [host, sock] of [['sw', directorSocket], ['gateway', upstreamSocket]]) {
      console.log(`  ${host}:`, onHost(prefix, host, ['birdc', '-s', sock, 'show', 'protocols', 'all']).stdout, onHost(prefix, host, ['birdc', '-s', sock, 'show', 'route', 'all']).stdout);
    }
    throw e;
  });
  const rows = await cap.fields('bgp.type == 2', ['bgp.nlri_prefix', 'bgp.update.path_attribute.next_hop', 'bgp.update.path_attribute.as_path_segment.as4', '_ws.malformed']);
  console.log(`  the upstream has ${VIP}/32 via ${upstreamRoute()} ${Math.round(ms)} ms after BIRD started; UPDATEs on the wire: ${rows.map((r) => r.join(' ')).join('; ')}`);
  assert.is(upstreamRoute(), '192.168.1.10', "the next hop is tapvs's LAN address, not the management one");
  assert.ok(rows.some((r) => r[0] === VIP && r[1] === '192.168.1.10' && !r[3]), 'an UPDATE for the VIP with that next hop, not malformed');
  assert.match(readFileSync(routesFile, 'utf8'), new RegExp(`^route ${VIP.replace(/\./g, '\\.')}/32 via 192\\.168\\.1\\.10;$`, 'm'));
});

test('the last real server failing its health check withdraws the VIP; one coming back announces it again', async () => {
  const http = state.daemons!.filter((d) => d.name === 'http');
  for (const d of http) process.kill(d.pid, 'SIGTERM');
  const gone = await waitFor('the VIP withdrawn', () => upstreamRoute() === null, 20_000);
  console.log(`  both servers' HTTP killed: withdrawn from the upstream ${Math.round(gone)} ms later`);
  children.push(spawnOnHost(prefix, 'rs1', ['python3', '-m', 'http.server', '80', '--bind', '0.0.0.0', '--directory', `/tmp/${prefix}-rs1-www`]));
  const back = await waitFor('the VIP back', () => upstreamRoute() === '192.168.1.10', 20_000);
  console.log(`  rs1 serving again: announced ${Math.round(back)} ms later`);
});

test('tapvs drain: the VIP is withdrawn, a download in progress completes intact, and the drain waits for it; --cancel announces again', async () => {
  const sha = onHost(prefix, 'rs1', ['sha256sum', `/tmp/${prefix}-rs1-www/blob`]).stdout.split(' ')[0];
  const download = slowDownload(prefix, 'client', VIP, '/blob', 400_000); // about 5 s
  await new Promise((r) => setTimeout(r, 1000));
  const started = Date.now();
  const drain = spawnSync(process.execPath, [BUNDLE, 'drain', '--socket', controlSocket(prefix, 'director'), '--timeout', '20'], { encoding: 'utf8' });
  const waited = Date.now() - started;
  const d = await download;
  console.log(`  ${drain.stdout.trim().replace(/\n/g, ' / ')} (${(waited / 1000).toFixed(1)} s); the download: ${d.bytes} B in ${d.seconds} s${d.error ? `, ${d.error}` : ''}`);
  assert.is(drain.status, 0, drain.stderr);
  assert.match(drain.stdout, /withdrawn from BGP; 1 active connections carry on/);
  assert.match(drain.stdout, /drained: no active connection left/);
  assert.is(upstreamRoute(), null, 'withdrawn while draining');
  assert.is(d.error, null);
  assert.is(d.sha256, sha, 'the flow already here finished intact');
  const cancel = spawnSync(process.execPath, [BUNDLE, 'drain', '--cancel', '--socket', controlSocket(prefix, 'director')], { encoding: 'utf8' });
  assert.match(cancel.stdout, /announcing again/);
  await waitFor('the VIP announced again', () => upstreamRoute() === '192.168.1.10', 10_000);
});

test('SIGTERM: the VIP is withdrawn while tapvs still runs, then tapvs stops', async () => {
  const director = state.routers[0];
  process.kill(director.pid, 'SIGTERM');
  await waitFor('tapvs gone', () => {
    try {
      process.kill(director.pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 15_000);
  const log = readFileSync(director.log, 'utf8');
  const withdrawn = log.lastIndexOf('bgp: withdrawing every VIP');
  const stopping = log.indexOf('"msg":"stopping"');
  assert.ok(withdrawn > 0 && stopping > withdrawn, 'withdrawn before it stopped');
  await waitFor('the upstream without the route', () => upstreamRoute() === null, 1_000);
});

if (!skipUnlessRoot('bgp.test.ts')) test.run();
