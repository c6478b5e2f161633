// tapvsadm against a running director: ipvsadm's output, weight changes and removals taking
// effect on real traffic, save / clear / restore, and a reload during a download.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP, VIP6, directorLab } from '../../src/lab/director.js';
import { controlSocket, type LabState } from '../../src/lab/lab.js';
import { Capture, onHost, skipUnlessRoot, sleep, slowDownload, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('tapvsadm');
const prefix = uniquePrefix('ad');
const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
let state: LabState;

function adm(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [TAPVSADM, ...args], { encoding: 'utf8', input, env: { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') }, timeout: 20_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
const curlNames = (n: number) => Array.from({ length: n }, () => onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]).stdout.trim());

test.before(async () => {
  state = await startLab(directorLab(prefix, 'dr'));
});
test.after(async () => {
  await stopLab(prefix);
});

test('the control socket is private to root (0600)', () => {
  const mode = statSync(controlSocket(prefix, 'director')).mode & 0o777;
  assert.is(mode.toString(8), '600');
});

test('tapvsadm -L -n prints what ipvsadm prints', () => {
  const r = adm(['-L', '-n']);
  assert.is(r.status, 0, r.stderr);
  assert.is(
    r.stdout,
    [
      'IP Virtual Server version 1.2.1 (size=1048576)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  192.168.1.2:80 rr',
      '  -> 192.168.1.11:80              Route   1      0          0         ',
      '  -> 192.168.1.12:80              Route   1      0          0         ',
      // The dual-stack lab's IPv6 service, after the IPv4 ones, its names never cut.
      `TCP  [${VIP6}]:80 rr`,
      '  -> [2001:db8:1::b]:80           Route   1      0          0         ',
      '  -> [2001:db8:1::c]:80           Route   1      0          0         ',
      '',
    ].join('\n'),
  );
});

test('a weight of 0 quiesces a server at once; a removed server gets nothing', () => {
  assert.is(adm(['-e', '-t', `${VIP}:80`, '-r', '192.168.1.11', '-w', '0']).status, 0);
  assert.equal(new Set(curlNames(4)), new Set(['rs2']));
  assert.is(adm(['-e', '-t', `${VIP}:80`, '-r', '192.168.1.11', '-w', '1']).status, 0);
  assert.is(adm(['-d', '-t', `${VIP}:80`, '-r', '192.168.1.12']).status, 0);
  assert.equal(new Set(curlNames(4)), new Set(['rs1']));
  assert.match(adm(['-Ln']).stdout, /192\.168\.1\.11:80 +Route +1 /);
  assert.not.match(adm(['-Ln']).stdout, /192\.168\.1\.12/);
});

test('-S, then -C, then -R: the same rules, and traffic flows again', () => {
  assert.is(adm(['-a', '-t', `${VIP}:80`, '-r', '192.168.1.12', '-g', '-w', '2']).status, 0);
  const saved = adm(['-S', '-n']).stdout;
  const v6 = `-A -t [${VIP6}]:80 -s rr\n-a -t [${VIP6}]:80 -r [2001:db8:1::b]:80 -g -w 1\n-a -t [${VIP6}]:80 -r [2001:db8:1::c]:80 -g -w 1\n`;
  assert.is(saved, `-A -t ${VIP}:80 -s rr\n-a -t ${VIP}:80 -r 192.168.1.11:80 -g -w 1\n-a -t ${VIP}:80 -r 192.168.1.12:80 -g -w 2\n${v6}`);
  assert.is(adm(['-C']).status, 0);
  assert.not.match(adm(['-Ln']).stdout, /TCP/);
  assert.is(onHost(prefix, 'client', ['curl', '-s', '--max-time', '2', `http://${VIP}/`]).stdout, '', 'no service, no answer');
  const restored = adm(['-R'], saved);
  assert.is(restored.status, 0, restored.stderr);
  assert.is(adm(['-S', '-n']).stdout, saved);
  assert.equal(new Set(curlNames(6)), new Set(['rs1', 'rs2']));
});

test('with every server quiesced, a real client is refused at once (a RST from the VIP), not left hanging', () => {
  for (const rs of ['192.168.1.11', '192.168.1.12']) assert.is(adm(['-e', '-t', `${VIP}:80`, '-r', rs, '-w', '0']).status, 0);
  const started = Date.now();
  const r = onHost(prefix, 'client', ['curl', '-s', '--max-time', '5', `http://${VIP}/`]);
  assert.is(r.status, 7, 'curl: failed to connect (refused)');
  assert.ok(Date.now() - started < 2000, 'refused, not timed out');
  assert.is(adm(['-e', '-t', `${VIP}:80`, '-r', '192.168.1.11', '-w', '1']).status, 0);
  assert.is(adm(['-e', '-t', `${VIP}:80`, '-r', '192.168.1.12', '-w', '2']).status, 0);
});

test("deleting the server under a live download resets the client instead of leaving it hanging", async () => {
  const download = slowDownload(prefix, 'client', VIP, '/blob', 300_000);
  await sleep(1000);
  const conns = adm(['-L', '-n', '-c']).stdout;
  const server = /ESTABLISHED .* (192\.168\.1\.1[12]):80/.exec(conns)?.[1];
  assert.ok(server, conns);
  const started = Date.now();
  assert.is(adm(['-d', '-t', `${VIP}:80`, '-r', server!]).status, 0);
  const r = await download;
  assert.is(r.error, 'ConnectionResetError', JSON.stringify(r));
  assert.ok(r.bytes < 2097152, 'cut short');
  assert.ok(Date.now() - started < 5000, 'reset at once, not after a timeout');
  assert.is(adm(['-a', '-t', `${VIP}:80`, '-r', server!, '-g', '-w', server === '192.168.1.11' ? '1' : '2']).status, 0);
});

test('--set changes the timeouts ipvsadm shows with --timeout', () => {
  assert.is(adm(['--set', '600', '60', '120']).status, 0);
  assert.is(adm(['-L', '--timeout']).stdout, 'Timeout (tcp tcpfin udp): 600 60 120\n');
});

test('errors: bad syntax exits 2, a refused operation exits 1, both say why', () => {
  const bad = adm(['-A', '-t', '192.168.1.300:80']);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /Illegal virtual server address\[:port\] specified/);
  const dup = adm(['-A', '-t', `${VIP}:80`, '-s', 'rr']);
  assert.is(dup.status, 1);
  assert.match(dup.stderr, /Service already exists/);
  assert.match(adm(['-e', '-t', `${VIP}:81`, '-r', '192.168.1.11']).stderr, /Service not defined/);
});

test('a reload (SIGHUP) applies the config file while a download carries on', async () => {
  const router = state.routers[0];
  const want = new Set(['rs1', 'rs2'].map((h) => onHost(prefix, h, ['sha256sum', `/tmp/${prefix}-${h}-www/blob`]).stdout.split(' ')[0]));
  const download = slowDownload(prefix, 'client', VIP, '/blob', 500_000);
  await sleep(1000);
  const config = JSON.parse(readFileSync(router.config, 'utf8'));
  config.services[0].scheduler = 'wrr';
  config.services[0].realServers[0].weight = 3;
  writeFileSync(router.config, JSON.stringify(config));
  process.kill(router.pid, 'SIGHUP');
  await sleep(500);
  assert.match(adm(['-Ln']).stdout, /TCP  192\.168\.1\.2:80 wrr\n  -> 192\.168\.1\.11:80 +Route +3 /);
  const r = await download;
  assert.is(r.error, null);
  assert.ok(r.seconds > 2, `the download took ${r.seconds} s: it spanned the reload`);
  assert.ok(want.has(r.sha256), 'the download that spanned the reload arrived whole');
  assert.match(readFileSync(router.log, 'utf8'), /"msg":"reloaded"/);
  // The reloaded weights shape the spread: wrr 3:1.
  const names = curlNames(8);
  assert.is(names.filter((n) => n === 'rs1').length, 6, names.join(','));
});

test('tapvs reload (the control command) reports what changed', () => {
  const router = state.routers[0];
  const config = JSON.parse(readFileSync(router.config, 'utf8'));
  config.services[0].realServers[1].weight = 2;
  writeFileSync(router.config, JSON.stringify(config));
  const r = spawnSync(process.execPath, [join(dirname(TAPVSADM), 'tapvs.js'), 'reload', '--socket', controlSocket(prefix, 'director')], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, 'added: none\nremoved: none\nchanged: TCP 192.168.1.2:80\n');
  assert.match(adm(['-Ln']).stdout, /192\.168\.1\.12:80 +Route +2 /);
});

test('a reload with a bad config is refused and changes nothing', async () => {
  const router = state.routers[0];
  const before = adm(['-S', '-n']).stdout;
  const good = readFileSync(router.config, 'utf8');
  writeFileSync(router.config, good.replace('"wrr"', '"nosuch"'));
  process.kill(router.pid, 'SIGHUP');
  await sleep(500);
  writeFileSync(router.config, good);
  assert.is(adm(['-S', '-n']).stdout, before);
  assert.match(readFileSync(router.log, 'utf8'), /unknown scheduler 'nosuch'.*reload refused/);
});

test('tapvs trace explains each decision, including why a packet was dropped', async () => {
  const bundle = join(dirname(TAPVSADM), 'tapvs.js');
  const trace = spawnSync('sh', ['-c', `(sleep 1; ip netns exec ${prefix}-client curl -s --max-time 3 http://${VIP}/ >/dev/null) & timeout 8 ${process.execPath} ${bundle} trace --json --count 12 --match 10.0.0.2/32 --socket ${controlSocket(prefix, 'director')}`], { encoding: 'utf8', timeout: 30_000 });
  const records = trace.stdout.trim().split('\n').map((l) => JSON.parse(l) as { packet: string; decisions: string[] });
  // Earlier tests may leave stray segments from the client (RSTs to a removed server's
  // retransmissions): find the curl's SYN rather than assume it comes first.
  const syn = records.find((r) => /^TCP 10\.0\.0\.2:\d+ > 192\.168\.1\.2:80 \[S\]/.test(r.packet));
  assert.ok(syn, trace.stdout + trace.stderr);
  assert.is(syn!.decisions[0], 'service TCP 192.168.1.2:80 wrr');
  assert.match(syn!.decisions[1], /^new connection: scheduler wrr -> 192\.168\.1\.1[12]:80/);
  assert.is(syn!.decisions[2], 'state NONE -> SYN_RECV');
  assert.match(syn!.decisions[3], /^Route to 192\.168\.1\.1[12]:80$/);
  // A bare ACK that belongs to no connection: the trace says why it was refused, with a RST.
  const ack = spawnSync('sh', ['-c', `(sleep 1; ip netns exec ${prefix}-client hping3 -q -c 1 -A -p 80 -s 5555 ${VIP} >/dev/null 2>&1) & timeout 10 ${process.execPath} ${bundle} trace --json --count 1 --match 10.0.0.2:5555 --socket ${controlSocket(prefix, 'director')}`], { encoding: 'utf8', timeout: 30_000 });
  const dropped = JSON.parse(ack.stdout.trim()) as { packet: string; decisions: string[] };
  assert.match(dropped.packet, /\[\.\]/);
  assert.equal(dropped.decisions.filter((d) => !d.startsWith('send ')), ['service TCP 192.168.1.2:80 wrr', 'no connection for a mid-stream segment: reset', 'TCP reset to 10.0.0.2', 'drop: lvs_no_conn']);
});

test("ipvsadm's daemon commands: a master sync daemon starts, sends what the director does, and stops", async () => {
  assert.is(adm(['-L', '--daemon']).stdout, '', 'no daemon at first');
  const bad = adm(['--start-daemon', 'master', '--mcast-interface', 'eth9']);
  assert.equal([bad.status, bad.stderr.trim()], [1, "no interface named 'eth9' (tapvs interfaces: lan)"]);
  assert.is(adm(['--start-daemon', 'master', '--mcast-interface', 'lan', '--syncid', '7']).status, 0);
  assert.is(adm(['-L', '--daemon']).stdout, 'master sync daemon (mcast=lan, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n');
  const other = adm(['--start-daemon', 'backup', '--mcast-interface', 'lan', '--syncid', '8']);
  assert.is(other.status, 1);
  assert.match(other.stderr, /already runs on lan with syncid 7: stop it first/);
  const cap = await Capture.start(prefix, 'br-lan', 'udp port 8848');
  curlNames(2);
  const rows = await cap.fields('ipvs', ['ipvs.syncid', 'ipvs.conncount']);
  assert.ok(rows.length >= 1 && rows.every((r) => r[0] === '7'), `sync messages with syncid 7: ${JSON.stringify(rows)}`);
  assert.is(adm(['--stop-daemon', 'master']).status, 0);
  assert.is(adm(['-L', '--daemon']).stdout, '');
});

if (!skipUnlessRoot('director-admin.test.ts')) test.run();
