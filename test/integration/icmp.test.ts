// ICMP about virtual-service traffic, between real hosts (seed 001). The gateway's link to the
// client has MTU 1200 while the client's MSS says 1460: real servers' full-size replies make
// the gateway send "fragmentation needed" to their source, the VIP, i.e. to the director. A
// download completes only if the director hands that error to the right real server (for
// NAT, translated to its address), which then lowers its path MTU: else it is a black hole.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VIP, directorLab } from '../../src/lab/director.js';
import type { LabState } from '../../src/lab/lab.js';
import { Capture, onHost, routerCounters, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

function narrowGateway(spec: ReturnType<typeof directorLab>) {
  spec.hosts.find((h) => h.name === 'gateway')!.mtu = 1200;
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
    assert.match(cached, /mtu 1200/);
  });

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
