// ICMP about virtual-service traffic, between real hosts (seed 001). The gateway's link to the
// client has MTU 1280 (the least IPv6 allows: the lab is dual stack) while the client's MSS says 1460: real servers' full-size replies make
// the gateway send "fragmentation needed" to their source, the VIP, i.e. to the director. A
// download completes only if the director hands that error to the right real server (for
// NAT, translated to its address), which then lowers its path MTU: else it is a black hole.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VIP, directorLab } from '../../src/lab/director.js';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlSocket, type LabState } from '../../src/lab/lab.js';

const TAPVSADM = join(dirname(fileURLToPath(import.meta.url)), '../../dist/tapvsadm.js');
import { Capture, onHost, routerCounters, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

function narrowGateway(spec: ReturnType<typeof directorLab>) {
  spec.hosts.find((h) => h.name === 'gateway')!.mtu = 1280;
  return spec;
}

for (const method of ['dr', 'nat'] as const) {
  const test = suite(`ICMP frag-needed for ${method} replies`);
  const prefix = uniquePrefix(`ic${method[0]}`);
  let state: LabState;
  test.before(async () => {
    state = await startLab(narrowGateway(directorLab(prefix, method)));
  });
  test.after(async () => {
    await stopLab(prefix);
  });

  test(`the error reaches the real server and the download completes (${method})`, async () => {
    const want = new Set(['rs1', 'rs2'].map((h) => onHost(prefix, h, ['sha256sum', `/tmp/${prefix}-${h}-www/blob`]).stdout.split(' ')[0]));
    const got = onHost(prefix, 'client', ['sh', '-c', `curl -s --max-time 20 http://${VIP}/blob | sha256sum`], 30_000).stdout.split(' ')[0];
    assert.ok(want.has(got), 'the 2 MiB download arrived: no PMTU black hole');
    const c = await routerCounters(state, 'director');
    assert.ok(c.router.lvs_icmp_forwarded >= 1, 'the director passed frag-needed on');
    // The real server now knows the smaller path MTU toward the client.
    const cached = ['rs1', 'rs2'].map((h) => onHost(prefix, h, ['ip', 'route', 'get', '10.0.0.2']).stdout).join('\n');
    assert.match(cached, /mtu 1280/);
  });

  if (method === 'nat') {
    test("a NAT real server's port unreachable reaches the client as the VIP's (dig is refused)", () => {
      const env = { ...process.env, TAPVS_SOCKET: controlSocket(prefix, 'director') };
      for (const args of [['-A', '-u', `${VIP}:5353`, '-s', 'rr'], ['-a', '-u', `${VIP}:5353`, '-r', '10.20.0.11:5353', '-m']]) {
        assert.is(spawnSync(process.execPath, [TAPVSADM, ...args], { env }).status, 0);
      }
      // Nothing listens on 5353 at rs1: it answers port unreachable, to the client, from 10.20.0.11.
      const started = Date.now();
      const r = onHost(prefix, 'client', ['dig', '+tries=1', '+time=3', '-p', '5353', `@${VIP}`, 'svc.test']);
      assert.match(r.stdout + r.stderr, /refused/i, 'the client matched the error to its query: it came from the VIP');
      assert.ok(Date.now() - started < 2500);
    });
  }

  if (method === 'dr') {
    test('a LAN host routed back out the interface it came in on gets no ICMP redirect', async () => {
      const lan = await Capture.start(prefix, 'br-lan', 'icmp');
      onHost(prefix, 'gateway', ['ip', 'route', 'add', '192.168.1.12/32', 'via', '192.168.1.10']);
      const ping = onHost(prefix, 'gateway', ['ping', '-c', '3', '-i', '0.2', '-W', '2', '192.168.1.12']);
      onHost(prefix, 'gateway', ['ip', 'route', 'del', '192.168.1.12/32']);
      assert.is(ping.status, 0, ping.stdout);
      const redirects = await lan.fields('icmp.type == 5', ['eth.src']);
      assert.equal(redirects, []);
      const forwarded = await routerCounters(state, 'director');
      assert.ok(forwarded.router.forwarded >= 3);
    });
  }

  if (!skipUnlessRoot(`icmp.test.ts (${method})`)) test.run();
}
