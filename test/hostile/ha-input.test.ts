// Attacks on the pair's control protocols from a host on the LAN: advertisements that would
// win mastership if believed (priority 254) but come from off the link, carry a bad checksum,
// a bad version or a lying count; advertisements for another VRID; garbage sync datagrams; and
// well-formed sync messages for the VIP from a host that is not the master. Every one is a
// counted drop, the master stays master, the backup's table stays empty, and the VIP keeps
// answering.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VIP, directorLab } from '../../src/lab/director.js';
import { readState, type LabState } from '../../src/lab/lab.js';
import { onHost, routerCounters, skipUnlessRoot, spawnOnHost, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';
import { daemonView, vrrpState, waitFor } from '../helpers/ha.js';

const prefix = uniquePrefix('ha');
let state: LabState;
const PER_KIND = 1000;

test.before(async () => {
  state = await startLab(directorLab(prefix, 'dr', { ha: 'tapvs' }));
  await waitFor('director1 master', async () => (await vrrpState(prefix, 'director1')) === 'MASTER', 15_000);
  await waitFor('director2 backup with the table', async () => (await daemonView(prefix, 'director2')).sync?.resync.state === 'done', 5_000);
});
test.after(() => stopLab(prefix));

test('forged VRRP and sync from a LAN host: counted drops; mastership, the backup\'s table and the VIP unmoved', async () => {
  const script = new URL('../fixtures/ha-garbage.py', import.meta.url).pathname;
  const before = await Promise.all(['director1', 'director2'].map(async (d) => (await routerCounters(readState(prefix)!, d)).router));
  const ping = spawnOnHost(prefix, 'client', ['ping', '-q', '-c', '400', '-i', '0.01', '-W', '1', VIP]);
  let pingOut = '';
  ping.stdout!.on('data', (d) => (pingOut += d));
  const pinged = new Promise((r) => ping.on('exit', r));
  const sent = JSON.parse(onHost(prefix, 'rs1', ['python3', script, 'eth0', String(PER_KIND), VIP, '192.168.1.12'], 60_000).stdout) as Record<string, number>;
  await pinged;
  const after = await Promise.all(['director1', 'director2'].map(async (d) => (await routerCounters(readState(prefix)!, d)).router));
  const delta = (i: number, k: string) => after[i][k] - before[i][k];
  const loss = Number(/(\d+(?:\.\d+)?)% packet loss/.exec(pingOut)?.[1] ?? 100);
  console.log(`  sent ${JSON.stringify(sent)}`);
  for (const [i, d] of ['director1', 'director2'].entries()) {
    console.log(`  ${d}: vrrp_bad_adverts +${delta(i, 'vrrp_bad_adverts')}, vrrp_other_vrid +${delta(i, 'vrrp_other_vrid')}, sync_messages_dropped +${delta(i, 'sync_messages_dropped')}, sync_entries_dropped +${delta(i, 'sync_entries_dropped')}`);
    // Counted as they arrive (a kernel queue may lose a few of a flood before tapvs sees them).
    assert.ok(delta(i, 'vrrp_bad_adverts') >= 0.95 * 4 * PER_KIND && delta(i, 'vrrp_bad_adverts') <= 4 * PER_KIND, `${d}: off-link, bad checksum, bad version, lying count`);
    assert.ok(delta(i, 'vrrp_other_vrid') >= 0.95 * PER_KIND, d);
    assert.ok(delta(i, 'sync_messages_dropped') >= PER_KIND * 0.9, `${d}: garbage sync (a few random ones may parse as empty)`);
    assert.ok(delta(i, 'sync_entries_dropped') >= 0.95 * 10 * PER_KIND, `${d}: the forged entries`);
  }
  console.log(`  ping to the VIP during the attack: ${loss}% loss`);
  assert.is(loss, 0);
  assert.is(await vrrpState(prefix, 'director1'), 'MASTER');
  assert.is(await vrrpState(prefix, 'director2'), 'BACKUP');
  const backupTable = (await routerCounters(readState(prefix)!, 'director2')) as unknown as { director: { connections: number } };
  assert.is(backupTable.director.connections, 0, 'the backup took none of the forged entries');
  assert.match(onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]).stdout, /rs[12]/);
});

if (!skipUnlessRoot('ha-input.test.ts')) test.run();
