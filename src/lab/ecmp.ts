// The scale-out lab (`tapvs lab up --topology ecmp --directors N`): N active directors behind an
// upstream router's equal-cost multipath, as Maglev, Katran and GLB run.
//
//   client1..3 10.0.0.2-4 ── [wan] ── 10.0.0.1 upstream 192.168.1.1 ── [lan] ── director1..N 192.168.1.21-2N
//                                     (FRR: bgpd + zebra,                 ├── rs1..M 192.168.1.11-1M (DR, the VIP by the agent)
//                                      maximum-paths, L4 hashing)         └── bgp1..N 192.168.1.251-25N (BIRD, one per director)
//
// Dual stack: every host has an IPv6 address too (wan 2001:db8:10::/64, lan 2001:db8:1::/64), and
// the IPv6 VIP 2001:db8:100::10 takes the same way: each BIRD has a second BGP session to the
// upstream over IPv6 for it, its /128 held up by an IPv6 BFD session to tapvs.
//
// The VIP, 198.51.100.10, is on no network: the upstream reaches it only by the /32 each director
// announces, through its BIRD, with the director's LAN address as next hop, and only while BIRD's
// BFD session to that address is up (src/ha/bfd.ts): a director that dies takes its route with it.
// Each BIRD runs in a namespace of its own, standing for its director's kernel (its management
// leg): BIRD instances cannot share one namespace's BGP and BFD ports. Every director schedules
// with mh (Maglev) over the same servers and takes mid-stream packets (sloppy TCP), so a flow that
// ECMP moves to another director reaches the same real server and carries on.

import { join } from 'node:path';
import { stateDir, writeOnHost, type LabHost, type LabRouter, type LabSpec } from './lab.js';
import { agentSetup, nameServer } from './director.js';

export const ECMP_VIP = '198.51.100.10';
export const ECMP_VIP6 = '2001:db8:100::10';
export const UPSTREAM_AS = 65000;
export const DIRECTOR_AS = 65010;
const UPSTREAM_LAN = '192.168.1.1';
const UPSTREAM_LAN6 = '2001:db8:1::1';
/** BGP hold and BFD timing: a dead director is gone from the upstream within a second. */
const HOLD_SECONDS = 3;
const BFD_INTERVAL_MS = 100;
const BFD_MULTIPLIER = 3;

export interface EcmpLabOptions {
  directors?: number;
  servers?: number;
  clients?: number;
}

export const directorLanAddress = (n: number) => `192.168.1.${20 + n}`;
export const bgpSpeakerAddress = (n: number) => `192.168.1.${250 + n}`;
/** The IPv6 twins: the IPv4 address's last byte as the last group. */
export const directorLanAddress6 = (n: number) => `2001:db8:1::${(20 + n).toString(16)}`;
export const bgpSpeakerAddress6 = (n: number) => `2001:db8:1::${(250 + n).toString(16)}`;
export const birdRoutesFile6 = (prefix: string, n: number) => join(stateDir(prefix), `bird${n}-vips6.conf`);
/** Where the lab's FRR keeps its sockets (vtysh --vty_socket). */
export const frrDir = (prefix: string) => join(stateDir(prefix), 'frr');
export const birdSocket = (prefix: string, n: number) => join(stateDir(prefix), `bird${n}.ctl`);
export const birdRoutesFile = (prefix: string, n: number) => join(stateDir(prefix), `bird${n}-vips.conf`);

/** FRR on the upstream: one eBGP session per director's BIRD, their routes as one multipath route. */
export function upstreamFrrConf(directors: number): string {
  return [
    'frr defaults traditional',
    'hostname upstream',
    'log stdout informational',
    `router bgp ${UPSTREAM_AS}`,
    ` bgp router-id ${UPSTREAM_LAN}`,
    ' no bgp ebgp-requires-policy',
    ` timers bgp 1 ${HOLD_SECONDS}`,
    ' neighbor directors peer-group',
    ` neighbor directors remote-as ${DIRECTOR_AS}`,
    ' neighbor directors timers connect 1',
    ...Array.from({ length: directors }, (_, i) => ` neighbor ${bgpSpeakerAddress(i + 1)} peer-group directors`),
    ' neighbor directors6 peer-group',
    ` neighbor directors6 remote-as ${DIRECTOR_AS}`,
    ' neighbor directors6 timers connect 1',
    ...Array.from({ length: directors }, (_, i) => ` neighbor ${bgpSpeakerAddress6(i + 1)} peer-group directors6`),
    ' address-family ipv4 unicast',
    '  maximum-paths 16',
    '  no neighbor directors6 activate',
    ' exit-address-family',
    ' address-family ipv6 unicast',
    '  maximum-paths 16',
    '  neighbor directors6 activate',
    ' exit-address-family',
    '',
  ].join('\n');
}

/** One family's static protocol over tapvs's routes file, and the BGP session that exports it. */
function exportVips(family: 'ipv4' | 'ipv6', me: string, upstream: string, routesFile: string, suffix: string): string {
  return `protocol static tapvs_vips${suffix} {
  ${family};
  include "${routesFile}";
}
protocol bgp upstream${suffix} {
  local ${me} as ${DIRECTOR_AS};
  neighbor ${upstream} as ${UPSTREAM_AS};
  hold time ${HOLD_SECONDS}; keepalive time 1; connect retry time 1;
  ${family} { import none; export where proto = "tapvs_vips${suffix}"; next hop keep; };
}`;
}

/** Director n's BIRD: the routes tapvs writes, each held up by BFD to tapvs, exported to the upstream (a session per family). */
export function directorBirdConf(prefix: string, n: number): string {
  const me = bgpSpeakerAddress(n);
  const me6 = bgpSpeakerAddress6(n);
  return `router id ${me};
protocol device { scan time 1; }
protocol bfd {
  interface "eth0" { min rx interval ${BFD_INTERVAL_MS} ms; min tx interval ${BFD_INTERVAL_MS} ms; multiplier ${BFD_MULTIPLIER}; };
}
${exportVips('ipv4', me, UPSTREAM_LAN, birdRoutesFile(prefix, n), '')}
${exportVips('ipv6', me6, UPSTREAM_LAN6, birdRoutesFile6(prefix, n), '6')}
`;
}

export function ecmpLab(prefix: string, opts: EcmpLabOptions = {}): LabSpec {
  const directors = opts.directors ?? 3;
  const serverCount = opts.servers ?? 2;
  const clientCount = opts.clients ?? 3;
  const dir = stateDir(prefix);
  const frr = frrDir(prefix);
  const frrConf = join(frr, 'frr.conf');
  const frrDaemon = (daemon: string, config: string) => [`/usr/lib/frr/${daemon}`, '-i', join(frr, `${daemon}.pid`), '-z', join(frr, 'zserv.api'), '--vty_socket', frr, '-P', '0', '-f', config, '--log', 'stdout'];

  const clients: LabHost[] = Array.from({ length: clientCount }, (_, i) => ({ name: `client${i + 1}`, segment: 'wan', address: `10.0.0.${2 + i}/24`, gateway: '10.0.0.1', address6: `2001:db8:10::${2 + i}/64`, gateway6: '2001:db8:10::1' }));
  const upstream: LabHost = {
    name: 'upstream',
    segment: 'wan',
    address: '10.0.0.1/24',
    address6: '2001:db8:10::1/64',
    moreInterfaces: [{ segment: 'lan', address: `${UPSTREAM_LAN}/24`, address6: `${UPSTREAM_LAN6}/64` }],
    forwarding: true,
    setup: [
      // ECMP by the 5-tuple (L4), so one client's connections spread over the directors too.
      ['sysctl', '-qw', 'net.ipv4.fib_multipath_hash_policy=1', 'net.ipv6.fib_multipath_hash_policy=1'],
      ['sh', '-c', `mkdir -p ${frr} && chown frr:frr ${frr}`],
      writeOnHost(frrConf, upstreamFrrConf(directors)),
    ],
    daemons: [
      { name: 'zebra', cmd: frrDaemon('zebra', '/dev/null') },
      { name: 'bgpd', cmd: frrDaemon('bgpd', frrConf), readyPort: 179 },
    ],
  };
  const servers: LabHost[] = Array.from({ length: serverCount }, (_, i) => {
    const name = `rs${i + 1}`;
    const http = nameServer(prefix, name, true);
    return {
      name,
      segment: 'lan',
      address: `192.168.1.${11 + i}/24`,
      gateway: UPSTREAM_LAN,
      address6: `2001:db8:1::${(11 + i).toString(16)}/64`,
      gateway6: UPSTREAM_LAN6,
      setup: [agentSetup(prefix, name, 'dr', ECMP_VIP), agentSetup(prefix, name, 'dr', ECMP_VIP6), ...http.setup!],
      daemons: http.daemons,
    };
  });
  const speakers: LabHost[] = Array.from({ length: directors }, (_, i) => {
    const n = i + 1;
    const conf = join(dir, `bird${n}.conf`);
    return {
      name: `bgp${n}`,
      segment: 'lan',
      address: `${bgpSpeakerAddress(n)}/24`,
      gateway: UPSTREAM_LAN,
      address6: `${bgpSpeakerAddress6(n)}/64`,
      gateway6: UPSTREAM_LAN6,
      // BIRD reads the routes files at start: they exist, empty, until tapvs writes them.
      setup: [writeOnHost(conf, directorBirdConf(prefix, n)), ['sh', '-c', `: > ${birdRoutesFile(prefix, n)}; : > ${birdRoutesFile6(prefix, n)}`]],
      daemons: [{ name: 'bird', cmd: ['bird', '-f', '-c', conf, '-s', birdSocket(prefix, n), '-P', join(dir, `bird${n}.pid`)], readyPort: 179 }],
    };
  });
  const routers: LabRouter[] = Array.from({ length: directors }, (_, i) => {
    const n = i + 1;
    return {
      name: `director${n}`,
      interfaces: [{ name: 'lan', segment: 'lan', addresses: [`${directorLanAddress(n)}/24`, `${directorLanAddress6(n)}/64`] }],
      routes: [{ to: 'default', via: UPSTREAM_LAN }, { to: '::/0', via: UPSTREAM_LAN6 }],
      services: [
        { protocol: 'tcp', vip: ECMP_VIP, port: 80, scheduler: 'mh', realServers: servers.map((s) => ({ address: s.address.split('/')[0], method: 'dr' })) },
        { protocol: 'tcp', vip: ECMP_VIP6, port: 80, scheduler: 'mh', realServers: servers.map((s) => ({ address: s.address6!.split('/')[0], method: 'dr' })) },
      ],
      extra: {
        director: { sloppyTcp: true },
        bgp: {
          birdSocket: birdSocket(prefix, n),
          routesFile: birdRoutesFile(prefix, n),
          routesFile6: birdRoutesFile6(prefix, n),
          nextHop: directorLanAddress(n),
          nextHop6: directorLanAddress6(n),
          bfd: { peers: [bgpSpeakerAddress(n), bgpSpeakerAddress6(n)], intervalMs: BFD_INTERVAL_MS, multiplier: BFD_MULTIPLIER },
        },
      },
    };
  });
  return {
    prefix,
    segments: ['wan', 'lan'],
    // The directors' health checks, when a test adds them, leave the switch namespace from here.
    management: { segment: 'lan', address: '192.168.1.250/24' },
    hosts: [...clients, upstream, ...servers, ...speakers],
    routers,
  };
}
