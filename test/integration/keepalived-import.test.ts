// Moving in from keepalived: a keepalived.conf for the DR lab's service (rr over two real
// servers, TCP_CHECK, inhibit_on_failure) goes through `tapvs import keepalived` onto the lab
// director's own config, and the result runs in the lab and balances.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VIP, directorLab } from '../../src/lab/director.js';
import { routerConfig } from '../../src/lab/lab.js';
import { tapvs } from '../helpers/cli.js';
import { onHost, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const prefix = uniquePrefix('ki');
const dir = mkdtempSync(join(tmpdir(), 'tapvs-import-'));

const KEEPALIVED_CONF = `! the lab's service, as a keepalived user has it
global_defs {
   router_id LAB_DIRECTOR
}

virtual_server ${VIP} 80 {
    delay_loop 2
    lb_algo rr
    lb_kind DR
    protocol TCP

    real_server 192.168.1.11 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
            retry 2
        }
    }
    real_server 192.168.1.12 80 {
        weight 1
        inhibit_on_failure
        TCP_CHECK {
            connect_timeout 1
            retry 2
        }
    }
}
`;

test.after(async () => {
  await stopLab(prefix);
  rmSync(dir, { recursive: true, force: true });
});

test('a keepalived.conf imported onto the lab director\'s config runs and balances over both real servers', async () => {
  const spec = directorLab(prefix, 'dr');
  const { services: _, ...base } = routerConfig(prefix, spec.routers[0]);
  writeFileSync(join(dir, 'keepalived.conf'), KEEPALIVED_CONF);
  writeFileSync(join(dir, 'base.json'), JSON.stringify(base));
  const r = tapvs(['import', 'keepalived', join(dir, 'keepalived.conf'), '--base', join(dir, 'base.json'), '--out', join(dir, 'tapvs.json')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /keepalived\.conf:3: router_id LAB_DIRECTOR: tapvs logs as tapvs/, 'what was not converted is named by line');
  assert.match(r.stderr, /ok \(1 services\); 1 directives not converted/);
  const converted = JSON.parse(readFileSync(join(dir, 'tapvs.json'), 'utf8'));
  assert.equal(converted.services[0].healthCheck, { type: 'tcp', timeout: 1, fall: 2, interval: 2, onFail: 'inhibit' });
  spec.routers[0].services = converted.services;
  await startLab(spec);
  const served = Array.from({ length: 10 }, () => onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]).stdout.trim());
  console.log(`  served by: ${served.join(' ')}`);
  assert.equal(new Set(served), new Set(['rs1', 'rs2']));
});

if (!skipUnlessRoot('keepalived-import.test.ts')) test.run();
