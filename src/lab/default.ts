// The lab `tapvs lab up` builds: a client network and a server network, tapvs routing between.
//
//   client 10.1.0.2 ── [clients] ── 10.1.0.1 tapvs 10.2.0.1 ── [servers] ── server 10.2.0.2

import type { LabSpec } from './lab.js';

export const DEFAULT_PREFIX = 'tvlab';

export function defaultLab(prefix = DEFAULT_PREFIX): LabSpec {
  return {
    prefix,
    segments: ['clients', 'servers'],
    hosts: [
      { name: 'client', segment: 'clients', address: '10.1.0.2/24', gateway: '10.1.0.1' },
      { name: 'server', segment: 'servers', address: '10.2.0.2/24', gateway: '10.2.0.1' },
    ],
    routers: [
      {
        name: 'tapvs',
        interfaces: [
          { name: 'clients', segment: 'clients', addresses: ['10.1.0.1/24'] },
          { name: 'servers', segment: 'servers', addresses: ['10.2.0.1/24'] },
        ],
      },
    ],
  };
}
