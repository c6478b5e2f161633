// The lab `tapvs lab up` builds: a client network and a server network, tapvs routing between.
//
//   client 10.1.0.2 ── [clients] ── 10.1.0.1 tapvs 10.2.0.1 ── [servers] ── server 10.2.0.2
//   2001:db8:1::2                 2001:db8:1::1 2001:db8:2::1              2001:db8:2::2   (dual stack)

import type { LabSpec } from './lab.js';

export const DEFAULT_PREFIX = 'tvlab';

export function defaultLab(prefix = DEFAULT_PREFIX): LabSpec {
  return {
    prefix,
    segments: ['clients', 'servers'],
    hosts: [
      { name: 'client', segment: 'clients', address: '10.1.0.2/24', gateway: '10.1.0.1', address6: '2001:db8:1::2/64', gateway6: '2001:db8:1::1' },
      { name: 'server', segment: 'servers', address: '10.2.0.2/24', gateway: '10.2.0.1', address6: '2001:db8:2::2/64', gateway6: '2001:db8:2::1' },
    ],
    routers: [
      {
        name: 'tapvs',
        interfaces: [
          { name: 'clients', segment: 'clients', addresses: ['10.1.0.1/24', '2001:db8:1::1/64'] },
          { name: 'servers', segment: 'servers', addresses: ['10.2.0.1/24', '2001:db8:2::1/64'] },
        ],
      },
    ],
  };
}
