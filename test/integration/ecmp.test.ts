// Scale out (issue 14): three tapvs directors behind an FRR router's ECMP, each announcing the
// VIP through its own BIRD, each route held up by BFD to tapvs (src/lab/ecmp.ts). FRR's route
// has three next hops; connections spread over all three; a director killed with SIGKILL is gone
// from the route within the BGP hold time and no download on any director breaks; a drained
// director takes no new flows while its old ones finish; a director with no usable server
// withdraws while the others keep announcing. The lab is dual stack: the IPv6 VIP has its own
// multipath route (BGP over IPv6, IPv6 BFD to tapvs), and leaves with the IPv4 one.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { ECMP_VIP, ECMP_VIP6, bgpSpeakerAddress, bgpSpeakerAddress6, birdSocket, directorLanAddress, directorLanAddress6, ecmpLab, frrDir } from '../../src/lab/ecmp.js';
import { controlSocket, readState, startLabRouter, stopLabRouter } from '../../src/lab/lab.js';
import { BUNDLE } from '../helpers/cli.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, sleep, slowDownload, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';
import { waitFor } from '../helpers/ha.js';

const test = suite('ecmp: three directors behind FRR, VIPs over BGP with BFD');
const prefix = uniquePrefix('ec');
const DIRECTORS = ['director1', 'director2', 'director3'];
const HOLD_MS = 3000;
let blobs: Set<string>;

/** The upstream kernel's next hops for the VIP, as zebra installed them. */
function nextHops(): string[] {
  const out = onHost(prefix, 'upstream', ['ip', '-j', 'route', 'show', `${ECMP_VIP}/32`]).stdout;
  const routes = JSON.parse(out || '[]') as { gateway?: string; nexthops?: { gateway: string }[] }[];
  return routes.flatMap((r) => (r.nexthops ? r.nexthops.map((n) => n.gateway) : r.gateway ? [r.gateway] : [])).sort();
}

/** The same for the IPv6 VIP. */
function nextHops6(): string[] {
  const out = onHost(prefix, 'upstream', ['ip', '-6', '-j', 'route', 'show', `${ECMP_VIP6}/128`]).stdout;
  const routes = JSON.parse(out || '[]') as { gateway?: string; nexthops?: { gateway: string }[] }[];
  return routes.flatMap((r) => (r.nexthops ? r.nexthops.map((n) => n.gateway) : r.gateway ? [r.gateway] : [])).sort();
}

const allThree = () => [1, 2, 3].map(directorLanAddress).sort();
const allThree6 = () => [1, 2, 3].map(directorLanAddress6).sort();
const without = (n: number) => allThree().filter((a) => a !== directorLanAddress(n));
const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function tapvsadm(director: string, args: string[]): string {
  const r = onHost(prefix, 'sw', [process.execPath, BUNDLE.replace(/tapvs\.js$/, 'tapvsadm.js'), '--socket', controlSocket(prefix, director), ...args]);
  if (r.status !== 0) throw new Error(`tapvsadm ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** ActiveConn summed over the service's real servers (tapvsadm -L -n). */
function activeConns(director: string): number {
  return tapvsadm(director, ['-L', '-n'])
    .split('\n')
    .filter((l) => l.trim().startsWith('->') && /Route/.test(l))
    .reduce((sum, l) => sum + Number(l.trim().split(/\s+/)[4]), 0);
}

async function counters(director: string): Promise<Record<string, number>> {
  return (await routerCounters(readState(prefix)!, director)).router;
}

/** `count` short GETs from each client, at once across clients: each must name a real server. */
async function requests(count: number): Promise<void> {
  await Promise.all(
    ['client1', 'client2', 'client3'].map(
      (client) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn('ip', ['netns', 'exec', `${prefix}-${client}`, 'sh', '-c', `for i in $(seq ${count}); do curl -s -m 5 http://${ECMP_VIP}/ || echo FAILED; done`], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (d) => (out += d));
          child.on('exit', () => {
            const lines = out.trim().split('\n');
            if (lines.length === count && lines.every((l) => /^rs\d$/.test(l))) resolve();
            else reject(new Error(`${client}: ${lines.filter((l) => !/^rs\d$/.test(l)).length} of ${count} requests failed: ${out.slice(0, 200)}`));
          });
        }),
    ),
  );
}

/** Long downloads, three per client, each on its own source port (so ECMP spreads them). */
function downloads(bytesPerSecond: number) {
  return ['client1', 'client2', 'client3'].flatMap((client) => [0, 1, 2].map(() => slowDownload(prefix, client, ECMP_VIP, '/blob', bytesPerSecond)));
}

function assertIntact(results: Awaited<ReturnType<typeof slowDownload>>[], what: string): void {
  const broken = results.filter((d) => d.error !== null || d.bytes !== 2_097_152 || !blobs.has(d.sha256));
  assert.is(broken.length, 0, `${what}: ${broken.length} of ${results.length} downloads broke (${broken.map((d) => d.error ?? `${d.bytes} B`).join(', ')})`);
}

test.before(async () => {
  await startLab(ecmpLab(prefix));
  blobs = new Set(['rs1', 'rs2'].map((rs) => onHost(prefix, rs, ['sha256sum', `/tmp/${prefix}-${rs}-www/blob`]).stdout.split(' ')[0]));
  await waitFor('three next hops at the upstream', () => nextHops().length === 3, 30_000).catch((e) => {
    console.log('  FRR:', onHost(prefix, 'upstream', ['vtysh', '--vty_socket', frrDir(prefix), '-c', 'show bgp summary']).stdout);
    for (const n of [1, 2, 3]) console.log(`  bird${n}:`, onHost(prefix, `bgp${n}`, ['birdc', '-s', birdSocket(prefix, n), 'show', 'bfd', 'sessions']).stdout);
    throw e;
  });
});
test.after(async () => {
  await stopLab(prefix);
});

test("FRR's route to the VIP has three next hops, the directors' LAN addresses; tshark reads BFD Up from each, TTL 255", async () => {
  const json = JSON.parse(onHost(prefix, 'upstream', ['vtysh', '--vty_socket', frrDir(prefix), '-c', `show ip route ${ECMP_VIP}/32 json`]).stdout);
  const entry = json[`${ECMP_VIP}/32`][0];
  const frrHops = (entry.nexthops as { ip: string; active?: boolean }[]).filter((n) => n.active).map((n) => n.ip).sort();
  console.log(`  FRR: ${ECMP_VIP}/32 via ${entry.protocol}, ${frrHops.join(', ')}; the kernel: ${nextHops().join(', ')}`);
  assert.is(entry.protocol, 'bgp');
  assert.equal(frrHops, allThree());
  assert.equal(nextHops(), allThree());
  const cap = await Capture.start(prefix, 'br-lan', 'udp port 3784');
  await sleep(1500);
  const rows = await cap.fields('bfd', ['ip.src', 'ip.dst', 'ip.ttl', 'bfd.sta', 'udp.srcport', '_ws.malformed']);
  for (const n of [1, 2, 3]) {
    const fromTapvs = rows.filter((r) => r[0] === directorLanAddress(n) && r[1] === bgpSpeakerAddress(n));
    console.log(`  director${n} -> bird${n}: ${fromTapvs.length} BFD packets in 1.5 s, states ${[...new Set(fromTapvs.map((r) => Number(r[3])))].join('/')}, source port ${fromTapvs[0]?.[4]}`);
    assert.ok(fromTapvs.length >= 8, `director${n} sends BFD at about 10/s once Up`);
    assert.ok(fromTapvs.every((r) => r[2] === '255' && Number(r[3]) === 3 && Number(r[4]) >= 49152 && !r[5]), 'Up (3), TTL 255, a source port >= 49152, well formed');
  }
});

test('connections from three clients spread over all three directors, each answered by a real server', async () => {
  const before = await Promise.all(DIRECTORS.map(counters));
  await requests(40);
  const after = await Promise.all(DIRECTORS.map(counters));
  const made = DIRECTORS.map((_, i) => after[i].lvs_conns_created - before[i].lvs_conns_created);
  const total = made.reduce((a, b) => a + b, 0);
  console.log(`  120 connections: ${made.map((m, i) => `${DIRECTORS[i]} ${m}`).join(', ')}`);
  assert.ok(total >= 120, `every connection was scheduled by some director (${total})`);
  for (const m of made) assert.ok(m >= 120 * 0.1, 'each director takes at least a tenth');
});

test('IPv6: the route to the IPv6 VIP has the directors\' IPv6 addresses as next hops, held by IPv6 BFD; curl -6 from every client spreads over them', async () => {
  const settled = await waitFor('three IPv6 next hops', () => nextHops6().length === 3, 20_000).catch((e) => {
    console.log('  FRR:', onHost(prefix, 'upstream', ['vtysh', '--vty_socket', frrDir(prefix), '-c', 'show bgp ipv6 summary']).stdout);
    for (const n of [1, 2, 3]) console.log(`  bird${n}:`, onHost(prefix, `bgp${n}`, ['birdc', '-s', birdSocket(prefix, n), 'show', 'bfd', 'sessions']).stdout);
    throw e;
  });
  assert.equal(nextHops6(), allThree6());
  const cap = await Capture.start(prefix, 'br-lan', 'ip6 and udp port 3784');
  await sleep(1000);
  const rows = await cap.fields('bfd', ['ipv6.src', 'ipv6.dst', 'ipv6.hlim', 'bfd.sta', '_ws.malformed']);
  const before = await Promise.all(DIRECTORS.map(counters));
  const served = await Promise.all(
    ['client1', 'client2', 'client3'].map((c) => onHost(prefix, c, ['sh', '-c', `for i in $(seq 20); do curl -6 -g -s -m 5 http://[${ECMP_VIP6}]/ || echo FAILED; done`]).stdout.trim().split('\n')),
  );
  const after = await Promise.all(DIRECTORS.map(counters));
  const made = DIRECTORS.map((_, i) => after[i].lvs_conns_created - before[i].lvs_conns_created);
  const bfdFrom = [1, 2, 3].map((n) => rows.filter((r) => r[0] === directorLanAddress6(n) && r[1] === bgpSpeakerAddress6(n) && r[2] === '255' && Number(r[3]) === 3 && !r[4]).length);
  console.log(`  ${ECMP_VIP6}/128 via ${nextHops6().join(', ')} (${Math.round(settled)} ms); IPv6 BFD Up packets in 1 s from each director: ${bfdFrom.join('/')}; 60 curl -6: ${made.map((m, i) => `${DIRECTORS[i]} ${m}`).join(', ')}`);
  for (const lines of served) assert.ok(lines.length === 20 && lines.every((l) => /^rs\d$/.test(l)), `every request answered: ${lines.join(' ')}`);
  for (const n of bfdFrom) assert.ok(n >= 5, 'each director answers its BIRD in IPv6 BFD, Up, hop limit 255');
  for (const m of made) assert.ok(m >= 60 * 0.1, 'each director takes at least a tenth');
});

test('kill -9 one director: its route leaves FRR within the hold time, and every long download, on it and on the others, completes intact', async () => {
  const pending = downloads(250_000); // about 8 s each
  await sleep(1500);
  const active = DIRECTORS.map(activeConns);
  const victim = active.indexOf(Math.max(...active)) + 1;
  const sloppyBefore = await Promise.all(DIRECTORS.filter((_, i) => i + 1 !== victim).map(counters));
  await stopLabRouter(prefix, `director${victim}`, 'SIGKILL');
  const gone = await waitFor(`director${victim} gone from the route`, () => sameSet(nextHops(), without(victim)), HOLD_MS);
  const gone6 = await waitFor(`director${victim} gone from the IPv6 route`, () => nextHops6().length === 2 && !nextHops6().includes(directorLanAddress6(victim)), HOLD_MS);
  const results = await Promise.all(pending);
  const sloppyAfter = await Promise.all(DIRECTORS.filter((_, i) => i + 1 !== victim).map(counters));
  const pickedUp = sloppyAfter.reduce((s, c, i) => s + c.lvs_conns_created - sloppyBefore[i].lvs_conns_created, 0);
  console.log(
    `  active connections before: ${active.join('/')}; killed director${victim}: withdrawn from the upstream ${Math.round(gone)} ms later, its IPv6 route ${Math.round(gone6)} ms after that (BGP hold ${HOLD_MS} ms); the others took up ${pickedUp} flows mid-stream; ${results.length} downloads: ${results.map((d) => `${d.seconds}s`).join(' ')}`,
  );
  assert.ok(active[victim - 1] >= 1, 'the killed director carried downloads');
  assertIntact(results, 'across the kill');
  assert.ok(pickedUp >= active[victim - 1], "the survivors took the dead director's flows without a SYN (mh, sloppy TCP)");
  await startLabRouter(prefix, `director${victim}`);
  const back = await waitFor('three next hops again', () => nextHops().length === 3 && nextHops6().length === 3, 15_000);
  console.log(`  director${victim} restarted: back in the route ${Math.round(back)} ms after it was ready`);
});

test('tapvs drain: the route leaves FRR, the drained director sees no new flow, and the downloads it carried finish intact', async () => {
  const pending = downloads(300_000);
  await sleep(1500);
  const active = DIRECTORS.map(activeConns);
  const n = active.indexOf(Math.max(...active)) + 1;
  const name = `director${n}`;
  const drain = spawn(process.execPath, [BUNDLE, 'drain', '--socket', controlSocket(prefix, name), '--timeout', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let said = '';
  drain.stdout.on('data', (d) => (said += d));
  const exited = new Promise<number>((r) => drain.on('exit', (code) => r(code ?? -1)));
  const gone = await waitFor(`${name} withdrawn`, () => sameSet(nextHops(), without(n)), 3000);
  await sleep(300); // packets already on their way
  const before = await counters(name);
  await requests(10);
  const results = await Promise.all(pending);
  const after = await counters(name);
  const code = await exited;
  console.log(
    `  ${name} drained with ${active[n - 1]} downloads on it: withdrawn in ${Math.round(gone)} ms; then 30 new connections and the downloads' ends: ${after.lvs_conns_created - before.lvs_conns_created} new flows and ${after.lvs_in_packets - before.lvs_in_packets} packets reached it; tapvs drain said "${said.trim().split('\n').pop()}" (exit ${code})`,
  );
  assert.ok(active[n - 1] >= 1, 'the drained director carried downloads');
  assert.is(after.lvs_conns_created - before.lvs_conns_created, 0, 'no new flow on a drained director');
  assertIntact(results, 'through the drain');
  assert.is(code, 0, 'drain ends once no packet comes for its flows (they moved to the other directors)');
  assert.match(said, /no packet for a VIP has arrived for 5 s/);
  const cancel = onHost(prefix, 'sw', [process.execPath, BUNDLE, 'drain', '--cancel', '--socket', controlSocket(prefix, name)]);
  assert.match(cancel.stdout, /announcing again/);
  await waitFor('three next hops again', () => nextHops().length === 3, 10_000);
});

test('a director left without a usable real server withdraws the VIP; the others keep it; a server back announces it again', async () => {
  const servers = ['192.168.1.11', '192.168.1.12'];
  for (const rs of servers) tapvsadm('director3', ['-e', '-t', `${ECMP_VIP}:80`, '-r', `${rs}:80`, '-g', '-w', '0']);
  const gone = await waitFor('director3 withdrawn', () => sameSet(nextHops(), without(3)), 5000);
  await requests(5);
  tapvsadm('director3', ['-e', '-t', `${ECMP_VIP}:80`, '-r', `${servers[0]}:80`, '-g', '-w', '1']);
  const back = await waitFor('director3 back', () => nextHops().length === 3, 5000);
  console.log(`  both servers at weight 0 on director3: withdrawn in ${Math.round(gone)} ms, 15 requests served by the other two; one back: announced in ${Math.round(back)} ms`);
  tapvsadm('director3', ['-e', '-t', `${ECMP_VIP}:80`, '-r', `${servers[1]}:80`, '-g', '-w', '1']);
});

test('sync between all three (both ipvsadm daemons on each): persistence templates and long-lived flows are in every director\'s table, whichever forwarded them', async () => {
  const service = ['-t', `${ECMP_VIP}:80`];
  for (const d of DIRECTORS) {
    tapvsadm(d, ['--start-daemon', 'master', '--mcast-interface', 'lan']);
    tapvsadm(d, ['--start-daemon', 'backup', '--mcast-interface', 'lan']);
    tapvsadm(d, ['-E', ...service, '-s', 'rr', '-p', '300']); // a template per client, which rr alone would not keep
  }
  try {
    const pending = slowDownload(prefix, 'client2', ECMP_VIP, '/blob', 400_000);
    const ports: string[] = [];
    for (let i = 0; i < 9; i++) {
      const r = onHost(prefix, 'client1', ['curl', '-s', '-m', '5', '-w', ' %{local_port}', `http://${ECMP_VIP}/`]);
      ports.push(r.stdout.trim().split(' ')[1]);
      await sleep(100);
    }
    await sleep(500);
    const tables = DIRECTORS.map((d) => tapvsadm(d, ['-L', '-c', '-n']));
    const servedBy = new Set(onHost(prefix, 'client1', ['sh', '-c', `for i in 1 2 3 4 5 6; do curl -s -m 5 http://${ECMP_VIP}/; done`]).stdout.trim().split('\n'));
    const d = await pending;
    const download = tables.map((t) => t.split('\n').filter((l) => l.includes('10.0.0.3:') && !l.includes('10.0.0.3:0 ') && /ESTABLISHED/.test(l)).length);
    console.log(
      `  9 connections from client1 over ECMP; each table holds: ${tables.map((t, i) => `${DIRECTORS[i]} template ${/10\.0\.0\.2:0\s/.test(t) ? 'yes' : 'no'}, ${ports.filter((p) => t.includes(`10.0.0.2:${p} `)).length} of 9 connections`).join('; ')}; client2's download ESTABLISHED in ${download.join('/')} tables; 6 more requests all to ${[...servedBy].join(', ')}`,
    );
    for (const [i, t] of tables.entries()) {
      assert.match(t, /TCP\s+\S+\s+NONE\s+10\.0\.0\.2:0\s+198\.51\.100\.10:80/, `${DIRECTORS[i]} holds client1's persistence template`);
      assert.is(ports.filter((p) => t.includes(`10.0.0.2:${p} `)).length, 9, `${DIRECTORS[i]} holds every connection, also those others forwarded`);
      assert.ok(download[i] >= 1, `${DIRECTORS[i]} holds the long download`);
    }
    assert.is(servedBy.size, 1, 'one client, one server, whichever director');
    assertIntact([d], 'with sync');
  } finally {
    for (const d of DIRECTORS) {
      tapvsadm(d, ['-E', ...service, '-s', 'mh']);
      tapvsadm(d, ['--stop-daemon', 'master']);
      tapvsadm(d, ['--stop-daemon', 'backup']);
    }
  }
});

if (!skipUnlessRoot('ecmp.test.ts')) test.run();
