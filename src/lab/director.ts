// Director labs (`tapvs lab up --topology dr|nat`): the seed's topology. A client behind a
// gateway host; on the LAN, the director and real servers running a real HTTP server that
// answers with its own name. For nat the real servers sit on a private LAN behind the director.
//
//   client 10.0.0.2 ── [wan] ── 10.0.0.1 gateway 192.168.1.1 ── [lan] ── director 192.168.1.10, VIP 192.168.1.2
//                                                                  dr:  ├── rs1 192.168.1.11 ... (VIP on lo, arp_ignore)
//   nat: director 10.20.0.1 ── [private] ── rs1 10.20.0.11, rs2 10.20.0.12 ...
//   tun: as dr, but packets reach the real servers in IP-in-IP, which `tapvs agent` decapsulates
//   --ha: a second director, director2 192.168.1.9 (nat: 10.20.0.3), in a VRRP pair with the
//   first (director1, priority 150 against 100) and syncing its connections; nat's real servers
//   route through the pair's address 10.20.0.1, which VRRP moves with the VIP.
//   --ha keepalived: director2 is keepalived (VRRP only, the VIP on its kernel; no forwarding).
//
// Dual stack: every host has an IPv6 address too (wan 2001:db8:10::/64, lan 2001:db8:1::/64,
// private 2001:db8:20::/64, each host the IPv4 address's last byte), and every topology serves
// [2001:db8:1::2]:80 beside the IPv4 VIP: tun in IPv6-in-IPv6, --ha with VRRP moving the IPv6
// VIP (and nat's IPv6 gateway) with the IPv4 ones.

import { join } from 'node:path';
import { stateDir, tapvsBundle, writeOnHost, type LabHost, type LabSpec } from './lab.js';

export const VIP = '192.168.1.2';
export const VIP6 = '2001:db8:1::2';
export type DirectorTopology = 'dr' | 'nat' | 'tun';

/** `tapvs agent setup` on a lab real server: the VIP on a device that never answers ARP. */
export function agentSetup(prefix: string, host: string, method: 'dr' | 'tun', vip = VIP): string[] {
  const stateFile = join(stateDir(prefix), `${host}-agent.json`);
  return [process.execPath, tapvsBundle(), 'agent', 'setup', '--vip', vip, '--iface', 'eth0', '--method', method, '--state', stateFile, '--sysctl-dir', join(stateDir(prefix), `${host}-sysctl.d`)];
}

/** A tun real server, set up by the agent: both VIPs on its TUN, decapsulation by `agent run`. */
export function tunnelEndpoint(prefix: string, host: string): Pick<LabHost, 'setup' | 'daemons'> {
  const stateFile = join(stateDir(prefix), `${host}-agent.json`);
  return {
    setup: [agentSetup(prefix, host, 'tun'), agentSetup(prefix, host, 'tun', VIP6)],
    daemons: [{ name: 'agent', cmd: [process.execPath, tapvsBundle(), 'agent', 'run', '--state', stateFile, '--director', '192.168.1.10', '--director', twin6('192.168.1.10'), '--health-port', String(AGENT_HEALTH_PORT)], readyPort: AGENT_HEALTH_PORT }],
  };
}

/** Where lab real servers run by the agent answer GET /health. */
export const AGENT_HEALTH_PORT = 9100;

/**
 * Until the real-server agent: the VIP on lo, and the sysctls that keep the server quiet about
 * it. An IPv6 VIP needs no sysctl: Linux answers neighbour solicitations only for addresses of
 * the interface they arrive on, and solicits from an address of the outgoing one.
 */
export function quietVipSetup(vip: string, vip6?: string): string[][] {
  return [
    ['ip', 'addr', 'add', `${vip}/32`, 'dev', 'lo'],
    ...(vip6 ? [['ip', '-6', 'addr', 'add', `${vip6}/128`, 'dev', 'lo', 'nodad']] : []),
    ['sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2', 'net.ipv4.conf.eth0.arp_ignore=1', 'net.ipv4.conf.eth0.arp_announce=2'],
  ];
}

/**
 * Python's http.server with a listen backlog of 1024 rather than its 5: with wrk's 200
 * connections at once, a full accept queue made the server's kernel reset some of them.
 */
const HTTP_SERVER = [
  'import functools, http.server as h, sys',
  'h.ThreadingHTTPServer.request_queue_size = 1024',
  'h.test(HandlerClass=functools.partial(h.SimpleHTTPRequestHandler, directory=sys.argv[2]), ServerClass=h.ThreadingHTTPServer, port=80, bind=sys.argv[1])',
].join('\n');

/** A real HTTP server on port 80 whose index page is the host's name; on IPv6 too when `dualStack`. */
export function nameServer(prefix: string, name: string, dualStack = false): Pick<LabHost, 'setup' | 'daemons'> {
  const www = `/tmp/${prefix}-${name}-www`;
  return {
    setup: [['sh', '-c', `mkdir -p ${www} && echo ${name} > ${www}/index.html && head -c 2097152 /dev/urandom > ${www}/blob`]],
    daemons: [{ name: 'http', cmd: ['python3', '-c', HTTP_SERVER, dualStack ? '::' : '0.0.0.0', www], readyPort: 80 }],
  };
}

/** A lab IPv4 address's IPv6 twin: the same last byte on the segment's /64. */
const SEGMENT_PREFIX6: Record<string, string> = { '10.0.0': '2001:db8:10', '192.168.1': '2001:db8:1', '10.20.0': '2001:db8:20' };
export function twin6(address: string): string {
  const [ip, length] = address.split('/');
  const net = ip.split('.').slice(0, 3).join('.');
  const host = Number(ip.split('.')[3]).toString(16);
  return `${SEGMENT_PREFIX6[net]}::${host}${length ? '/64' : ''}`;
}

export interface DirectorLabOptions {
  servers?: number;
  /** dr: the real servers' VIP set up by `tapvs agent` rather than on lo by hand (tun always uses it). */
  agent?: boolean;
  scheduler?: string;
  persistence?: number;
  /** Leave out the real servers' ARP hygiene (to show the seed 004 failure). */
  noArpHygiene?: boolean;
  /** A health check for the HTTP service (the director reaches servers from 192.168.1.250). */
  healthCheck?: Record<string, unknown>;
  /** The director's config section (table size, timeouts, defences). */
  director?: Record<string, unknown>;
  /** A pair of directors: two tapvs, or tapvs and keepalived (VRRP only). */
  ha?: 'tapvs' | 'keepalived';
  /** VRRP settings for both sides of the pair (version, interval, preempt). */
  vrrp?: { version?: 2 | 3; advertIntervalMs?: number; preempt?: boolean; virtualMac?: boolean; priorities?: [number, number] };
}

export const VRID = 51;
/** Where nat's real servers send their replies: the address VRRP moves with the VIP. */
export const NAT_GATEWAY = '10.20.0.1';

/** The ha section of one director of the pair. */
function haSection(nat: boolean, priority: number, opts: DirectorLabOptions, sync: boolean): Record<string, unknown> {
  const v = opts.vrrp ?? {};
  return {
    vrrp: [
      {
        name: 'VI_1',
        iface: 'lan',
        vrid: VRID,
        priority,
        ...(v.version ? { version: v.version } : {}),
        ...(v.advertIntervalMs ? { advertIntervalMs: v.advertIntervalMs } : {}),
        ...(v.preempt === false ? { preempt: false } : {}),
        ...(v.virtualMac ? { virtualMac: true } : {}),
        // The IPv6 VIP (and NAT gateway) move with the IPv4 ones: one election for both families.
        addresses: [VIP, VIP6, ...(nat ? [{ address: NAT_GATEWAY, iface: 'private' }, { address: twin6(NAT_GATEWAY), iface: 'private' }] : [])],
      },
    ],
    ...(sync ? { sync: { iface: 'lan' } } : {}),
  };
}

/** keepalived.conf for the peer: one VRRP instance over the same VRID and addresses. */
export function keepalivedConf(opts: DirectorLabOptions, priority: number): string {
  const v = opts.vrrp ?? {};
  const seconds = (v.advertIntervalMs ?? 1000) / 1000;
  return [
    'global_defs {',
    '  router_id tapvs-lab-peer',
    `  vrrp_version ${v.version ?? 3}`,
    '}',
    'vrrp_instance VI_1 {',
    '  state BACKUP',
    '  interface eth0',
    `  virtual_router_id ${VRID}`,
    `  priority ${priority}`,
    `  advert_int ${seconds}`,
    ...(v.preempt === false ? ['  nopreempt'] : []),
    '  virtual_ipaddress {',
    `    ${VIP}/32`,
    '  }',
    '  virtual_ipaddress_excluded {',
    `    ${VIP6}/128`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** The lab host that runs keepalived as director2. */
function keepalivedPeer(prefix: string, opts: DirectorLabOptions, priority: number): LabHost {
  const dir = stateDir(prefix);
  const conf = join(dir, 'keepalived.conf');
  return {
    name: 'director2',
    segment: 'lan',
    address: '192.168.1.9/24',
    gateway: '192.168.1.1',
    setup: [writeOnHost(conf, keepalivedConf(opts, priority))],
    daemons: [{ name: 'keepalived', cmd: ['keepalived', '--dont-fork', '--log-console', '--log-detail', '--vrrp', '--use-file', conf, '--pid', join(dir, 'keepalived.pid'), '--vrrp_pid', join(dir, 'keepalived-vrrp.pid')] }],
  };
}

export function directorLab(prefix: string, topology: DirectorTopology, opts: DirectorLabOptions = {}): LabSpec {
  const count = opts.servers ?? 2;
  const nat = topology === 'nat';
  const tun = topology === 'tun';
  const servers: LabHost[] = Array.from({ length: count }, (_, i) => {
    const name = `rs${i + 1}`;
    const http = nameServer(prefix, name, true);
    const tunnel = tun ? tunnelEndpoint(prefix, name) : null;
    const viaAgent = topology === 'dr' && opts.agent ? [agentSetup(prefix, name, 'dr'), agentSetup(prefix, name, 'dr', VIP6)] : null;
    const address = nat ? `10.20.0.${11 + i}/24` : `192.168.1.${11 + i}/24`;
    return {
      name,
      segment: nat ? 'private' : 'lan',
      address,
      gateway: nat ? NAT_GATEWAY : '192.168.1.1',
      address6: twin6(address),
      gateway6: nat ? twin6(NAT_GATEWAY) : twin6('192.168.1.1'),
      setup: [...(tunnel ? tunnel.setup! : viaAgent ?? (nat || opts.noArpHygiene ? [] : quietVipSetup(VIP, VIP6))), ...http.setup!],
      daemons: [...http.daemons!, ...(tunnel ? tunnel.daemons! : [])],
    };
  });
  const priorities = opts.vrrp?.priorities ?? [150, 100];
  const director = (name: string, lan: string, privateAddress: string, priority: number) => ({
    name,
    interfaces: [
      { name: 'lan', segment: 'lan', addresses: [lan, twin6(lan)] },
      ...(nat ? [{ name: 'private', segment: 'private', addresses: [privateAddress, twin6(privateAddress)] }] : []),
    ],
    routes: [{ to: 'default', via: '192.168.1.1' }, { to: '::/0', via: twin6('192.168.1.1') }],
    ...(opts.director || opts.ha ? { extra: { ...(opts.director ? { director: opts.director } : {}), ...(opts.ha ? { ha: haSection(nat, priority, opts, opts.ha === 'tapvs') } : {}) } } : {}),
    services: [
      {
        protocol: 'tcp',
        vip: VIP,
        port: 80,
        scheduler: opts.scheduler ?? 'rr',
        ...(opts.persistence ? { persistence: opts.persistence } : {}),
        ...(opts.healthCheck ? { healthCheck: opts.healthCheck } : {}),
        iface: 'lan',
        realServers: servers.map((s) => ({ address: s.address.split('/')[0], method: topology })),
      },
      {
        protocol: 'tcp',
        vip: VIP6,
        port: 80,
        scheduler: opts.scheduler ?? 'rr',
        ...(opts.persistence ? { persistence: opts.persistence, netmask: 64 } : {}),
        iface: 'lan',
        realServers: servers.map((s) => ({ address: s.address6!.split('/')[0], method: topology })),
      },
    ],
  });
  // As appliances, each has a management address of its own on the shared segment.
  const mgmt = (n: number) => (nat ? `10.20.0.${249 + n}/24` : `192.168.1.${249 + n}/24`);
  const pair = opts.ha ? [{ ...director('director1', '192.168.1.10/24', '10.20.0.2/24', priorities[0]), managementAddress: mgmt(1) }, ...(opts.ha === 'tapvs' ? [{ ...director('director2', '192.168.1.9/24', '10.20.0.3/24', priorities[1]), managementAddress: mgmt(2) }] : [])] : null;
  return {
    prefix,
    segments: nat ? ['wan', 'lan', 'private'] : ['wan', 'lan'],
    // The director's management leg: health checks leave the switch namespace's kernel from here.
    management: { segment: nat ? 'private' : 'lan', address: nat ? '10.20.0.250/24' : '192.168.1.250/24' },
    hosts: [
      { name: 'client', segment: 'wan', address: '10.0.0.2/24', gateway: '10.0.0.1', address6: twin6('10.0.0.2/24'), gateway6: twin6('10.0.0.1') },
      { name: 'gateway', segment: 'wan', address: '10.0.0.1/24', address6: twin6('10.0.0.1/24'), moreInterfaces: [{ segment: 'lan', address: '192.168.1.1/24', address6: twin6('192.168.1.1/24') }], forwarding: true },
      ...servers,
      ...(opts.ha === 'keepalived' ? [keepalivedPeer(prefix, opts, priorities[1])] : []),
    ],
    routers: pair ?? [director('director', '192.168.1.10/24', '10.20.0.1/24', 0)],
  };
}
