// Director labs (`tapvs lab up --topology dr|nat`): the seed's topology. A client behind a
// gateway host; on the LAN, the director and real servers running a real HTTP server that
// answers with its own name. For nat the real servers sit on a private LAN behind the director.
//
//   client 10.0.0.2 ── [wan] ── 10.0.0.1 gateway 192.168.1.1 ── [lan] ── director 192.168.1.10, VIP 192.168.1.2
//                                                                  dr:  ├── rs1 192.168.1.11 ... (VIP on lo, arp_ignore)
//   nat: director 10.20.0.1 ── [private] ── rs1 10.20.0.11, rs2 10.20.0.12 ...
//   tun: as dr, but packets reach the real servers in IP-in-IP, decapsulated in user space

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabHost, LabSpec } from './lab.js';

export const VIP = '192.168.1.2';
export type DirectorTopology = 'dr' | 'nat' | 'tun';

/** The user-space IP-in-IP decapsulator real servers of the tun lab run (until the agent). */
function decapHelper(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const found = [join(here, '../../scripts/ipip-decap.py'), join(here, '../scripts/ipip-decap.py')].find((p) => existsSync(p));
  if (!found) throw new Error('lab: scripts/ipip-decap.py is missing');
  return found;
}

/** A tun real server: the VIP on a TUN device fed by the decapsulator; loose reverse-path checks. */
export function tunnelEndpointSetup(vip: string): string[][] {
  return [
    ['ip', 'tuntap', 'add', 'mode', 'tun', 'name', 'tunl-vip'],
    ['ip', 'addr', 'add', `${vip}/32`, 'dev', 'tunl-vip'],
    ['ip', 'link', 'set', 'tunl-vip', 'up'],
    ['sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.eth0.arp_ignore=1', 'net.ipv4.conf.eth0.arp_announce=2'],
    ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0', 'net.ipv4.conf.tunl-vip.rp_filter=0'],
  ];
}

/** Until the real-server agent: the VIP on lo, and the sysctls that keep the server quiet about it. */
export function quietVipSetup(vip: string): string[][] {
  return [
    ['ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo'],
    ['sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.eth0.arp_ignore=1', 'net.ipv4.conf.eth0.arp_announce=2'],
  ];
}

/** A real HTTP server on port 80 whose index page is the host's name. */
export function nameServer(prefix: string, name: string): Pick<LabHost, 'setup' | 'daemons'> {
  const www = `/tmp/${prefix}-${name}-www`;
  return {
    setup: [['sh', '-c', `mkdir -p ${www} && echo ${name} > ${www}/index.html && head -c 2097152 /dev/urandom > ${www}/blob`]],
    daemons: [{ name: 'http', cmd: ['python3', '-m', 'http.server', '80', '--bind', '0.0.0.0', '--directory', www] }],
  };
}

export interface DirectorLabOptions {
  servers?: number;
  scheduler?: string;
  persistence?: number;
  /** Leave out the real servers' ARP hygiene (to show the seed 004 failure). */
  noArpHygiene?: boolean;
}

export function directorLab(prefix: string, topology: DirectorTopology, opts: DirectorLabOptions = {}): LabSpec {
  const count = opts.servers ?? 2;
  const nat = topology === 'nat';
  const tun = topology === 'tun';
  const servers: LabHost[] = Array.from({ length: count }, (_, i) => {
    const name = `rs${i + 1}`;
    const http = nameServer(prefix, name);
    return {
      name,
      segment: nat ? 'private' : 'lan',
      address: nat ? `10.20.0.${11 + i}/24` : `192.168.1.${11 + i}/24`,
      gateway: nat ? '10.20.0.1' : '192.168.1.1',
      setup: [...(tun ? tunnelEndpointSetup(VIP) : nat || opts.noArpHygiene ? [] : quietVipSetup(VIP)), ...http.setup!],
      daemons: [...http.daemons!, ...(tun ? [{ name: 'decap', cmd: ['python3', decapHelper(), 'tunl-vip'] }] : [])],
    };
  });
  return {
    prefix,
    segments: nat ? ['wan', 'lan', 'private'] : ['wan', 'lan'],
    hosts: [
      { name: 'client', segment: 'wan', address: '10.0.0.2/24', gateway: '10.0.0.1' },
      { name: 'gateway', segment: 'wan', address: '10.0.0.1/24', moreInterfaces: [{ segment: 'lan', address: '192.168.1.1/24' }], forwarding: true },
      ...servers,
    ],
    routers: [
      {
        name: 'director',
        interfaces: [
          { name: 'lan', segment: 'lan', addresses: ['192.168.1.10/24'] },
          ...(nat ? [{ name: 'private', segment: 'private', addresses: ['10.20.0.1/24'] }] : []),
        ],
        routes: [{ to: 'default', via: '192.168.1.1' }],
        services: [
          {
            protocol: 'tcp',
            vip: VIP,
            port: 80,
            scheduler: opts.scheduler ?? 'rr',
            ...(opts.persistence ? { persistence: opts.persistence } : {}),
            iface: 'lan',
            realServers: servers.map((s) => ({ address: s.address.split('/')[0], method: topology })),
          },
        ],
      },
    ],
  };
}
