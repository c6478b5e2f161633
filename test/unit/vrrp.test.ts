import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VrrpInstance, VrrpState, VRRP_STATE_NAMES } from '../../src/ha/vrrp.js';
import { PROTO_VRRP, VRRP_GROUP, VrrpView, virtualMac } from '../../src/packet/vrrp.js';
import { parseIpv4 } from '../../src/packet/address.js';
import { pseudoHeaderSum, checksum } from '../../src/packet/checksum.js';

const ME = parseIpv4('192.168.1.10')!;
const PEER = parseIpv4('192.168.1.9')!;

function instance(priority: number, preempt = true) {
  const log: string[] = [];
  const sent: number[] = [];
  const i = new VrrpInstance(
    { vrid: 51, priority, intervalCs: 100, preempt, address: ME },
    {
      advertise: (p) => sent.push(p),
      transition: (from, to) => log.push(`${VRRP_STATE_NAMES[from]}>${VRRP_STATE_NAMES[to]}`),
      twoMasters: () => log.push('two masters'),
    },
  );
  return { i, log, sent };
}

test('a lone backup becomes master after Master_Down_Interval (3 intervals + skew) and advertises every interval', () => {
  const { i, log, sent } = instance(100);
  i.start(0);
  assert.is(i.state, VrrpState.Backup);
  const down = 3 * 1000 + ((256 - 100) * 1000) / 256;
  assert.is(i.masterDownMs, down);
  i.tick(down - 1);
  assert.is(i.state, VrrpState.Backup);
  i.tick(down);
  assert.is(i.state, VrrpState.Master);
  assert.equal(log, ['INIT>BACKUP', 'BACKUP>MASTER']);
  i.tick(down + 999);
  i.tick(down + 1000);
  assert.equal(sent, [100, 100]);
});

test('a backup that hears the master keeps waiting; a higher backup preempts a lower master, a nopreempt one does not', () => {
  const { i } = instance(150);
  i.start(0);
  for (let t = 0; t < 10_000; t += 1000) {
    i.receive(t, PEER, 200, 100);
    i.tick(t);
  }
  assert.is(i.state, VrrpState.Backup, 'a higher master holds it');
  const low = instance(150);
  low.i.start(0);
  for (let t = 0; t < 10_000; t += 1000) {
    low.i.receive(t, PEER, 100, 100);
    low.i.tick(t);
  }
  assert.is(low.i.state, VrrpState.Master, 'preempts the lower master');
  const np = instance(150, false);
  np.i.start(0);
  for (let t = 0; t < 10_000; t += 1000) {
    np.i.receive(t, PEER, 100, 100);
    np.i.tick(t);
  }
  assert.is(np.i.state, VrrpState.Backup, 'nopreempt: the master keeps it');
});

test('a master steps down to a higher priority, or an equal one from a higher address; it reports a lower master as two masters', () => {
  const { i, log } = instance(100);
  i.start(0);
  i.tick(10_000);
  assert.is(i.state, VrrpState.Master);
  i.receive(10_100, PEER, 90, 100);
  assert.is(i.state, VrrpState.Master);
  assert.ok(log.includes('two masters'));
  i.receive(10_200, PEER, 100, 100); // equal priority, lower address than ours: we stay
  assert.is(i.state, VrrpState.Master);
  i.receive(10_300, parseIpv4('192.168.1.20')!, 100, 100);
  assert.is(i.state, VrrpState.Backup);
});

test('priority 0 from the master makes a backup take over after the skew time, not three intervals', () => {
  const { i } = instance(200);
  i.start(0);
  i.receive(0, PEER, 250, 100);
  i.receive(1000, PEER, 0, 100);
  const skew = ((256 - 200) * 1000) / 256;
  i.tick(1000 + skew);
  assert.is(i.state, VrrpState.Master);
});

test('a stopping master advertises priority 0; a backup holding for its table does not take over', () => {
  const { i, sent } = instance(100);
  i.start(0);
  i.tick(10_000);
  i.stop();
  assert.is(sent.at(-1), 0);
  const held = instance(250);
  held.i.holdMastership = true;
  held.i.start(0);
  held.i.receive(0, PEER, 100, 100);
  held.i.tick(60_000);
  assert.is(held.i.state, VrrpState.Backup);
  held.i.holdMastership = false;
  held.i.tick(60_000 + held.i.masterDownMs);
  assert.is(held.i.state, VrrpState.Master);
});

test('advertisements: v3 with the pseudo-header checksum and centiseconds, v2 with seconds and 8 bytes of auth data', () => {
  const b = new Uint8Array(64);
  const v = new VrrpView().point(b, 0);
  const addrs = [parseIpv4('192.168.1.2')!, parseIpv4('10.20.0.1')!];
  const n3 = v.write(3, 51, 150, 100, addrs, ME, VRRP_GROUP);
  assert.is(n3, 16);
  assert.equal([b[0], b[1], b[2], b[3], v.intervalCs, v.address(1)], [0x31, 51, 150, 2, 100, addrs[1]]);
  assert.is(checksum(b, 0, n3, pseudoHeaderSum(ME, VRRP_GROUP, PROTO_VRRP, n3)), 0);
  assert.ok(v.validAdvertisement(n3, ME, VRRP_GROUP));
  assert.not.ok(v.validAdvertisement(n3, PEER, VRRP_GROUP), 'the pseudo-header binds the source');
  b[9] ^= 1;
  assert.not.ok(v.validAdvertisement(n3, ME, VRRP_GROUP), 'a changed byte fails the checksum');
  const n2 = v.write(2, 7, 100, 300, addrs, ME, VRRP_GROUP);
  assert.is(n2, 24);
  assert.equal([b[0], b[5], v.intervalCs], [0x21, 3, 300]);
  assert.is(checksum(b, 0, n2), 0);
  assert.ok(v.validAdvertisement(n2, ME, VRRP_GROUP));
  assert.not.ok(v.validAdvertisement(n2 - 1, ME, VRRP_GROUP), 'shorter than its count says');
  assert.equal([...virtualMac(51)], [0, 0, 0x5e, 0, 1, 51]);
});

test.run();
