// The JSON configuration: parsed and validated in one pass, with errors that name the field.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatIpv4, formatMac, inSubnet, parseCidr, parseIpv4, parseMac, type Ipv4, type Mac } from '../packet/address.js';
import { formatIpv6, inPrefix6, ipv6Equals, isLinkLocal6, isLoopback6, isMulticast6, isUnspecified6, maskPrefix6, parseCidr6, parseIpv6, type Cidr6, type Ipv6 } from '../packet/address6.js';
import { SCHEDULER_FLAGS, SCHEDULER_NAMES } from '../lvs/schedulers/index.js';
import { DEFAULT_HEALTH, type CheckType, type HealthCheckConfig } from './health.js';
import { DEFAULT_NEIGHBOUR_TIMERS, type NeighbourTimers } from '../l2/neighbours.js';
import type { TapMode } from '../io/backend.js';
import { NO_SYSTEM, hostnameProblem, sshKeyProblem, timezoneProblem, type SystemConfig } from './system.js';
import type { BgpConfig } from './announce.js';
import type { BfdConfig } from '../ha/bfd.js';

export interface InterfaceConfig {
  name: string;
  tap: string;
  tapMode: TapMode;
  /** A physical NIC (by its MAC, lower case) that tapvs takes over by bridging it with the TAP. */
  nic: string | null;
  mac: Mac;
  mtu: number;
  addresses: { address: Ipv4; length: number }[];
  /** IPv6 addresses (besides the link-local one every interface has, from its MAC). */
  addresses6: Cidr6[];
}

/**
 * The kernel's own leg on a NIC tapvs does not take: where health checks leave from and where
 * an operator reaches the box. tapvs puts these addresses on the NIC at start.
 */
export interface ManagementConfig {
  nic: string;
  addresses: { address: Ipv4; length: number }[];
  gateway: Ipv4 | null;
}

export interface RouteConfig {
  network: Ipv4;
  length: number;
  via: Ipv4;
  /** Interface name for on-link routes (no gateway). */
  dev: string | null;
}

/** An IPv6 route: `via` null for an on-link prefix (then `dev`). */
export interface Route6Config {
  network: Ipv6;
  length: number;
  via: Ipv6 | null;
  dev: string | null;
}

export type MethodName = 'dr' | 'nat' | 'tun';

export interface RealServerConfig {
  address: Ipv4;
  port: number;
  weight: number;
  method: MethodName;
  upperThreshold: number;
  lowerThreshold: number;
  /** An IPv6 service's real server (`address` is then 0). */
  address6: Ipv6 | null;
}

export interface ServiceConfig {
  /** 6 or 17; 0 for a firewall-mark service. */
  protocol: number;
  vip: Ipv4;
  /** An IPv6 service's VIP (`vip` is then 0); its netmask is a prefix length, as ipvsadm's -M for IPv6. */
  vip6: Ipv6 | null;
  port: number;
  fwmark: number;
  members: { protocol: number; port: number }[];
  scheduler: string;
  persistence: number;
  netmask: number;
  onePacket: boolean;
  /** Seconds; 0 uses director.timeouts.udp. */
  udpTimeout: number;
  /** Persistence engine: 'sip' keeps each call on one server. */
  pe: 'sip' | null;
  healthCheck: HealthCheckConfig | null;
  flags: string[];
  /**
   * The interface that answers ARP for the VIP; null for a routed VIP (on no connected network:
   * an upstream router sends it to one of our addresses, and nobody asks ARP for it).
   */
  iface: string | null;
  realServers: RealServerConfig[];
}

export interface VrrpConfig {
  /** For logs and tapvsadm (keepalived's vrrp_instance name). */
  name: string;
  /** The interface VRRP advertises on. */
  iface: string;
  vrid: number;
  priority: number;
  advertIntervalMs: number;
  preempt: boolean;
  version: 2 | 3;
  /** Answer for the addresses with 00:00:5e:00:01:VRID rather than the interface's MAC. */
  virtualMac: boolean;
  /** The addresses the master owns (service VIPs, gateway addresses), each on its interface. */
  addresses: { address: Ipv4; iface: string }[];
  /**
   * IPv6 addresses that move with the instance (keepalived's virtual_ipaddress_excluded): the
   * master answers neighbour solicitations for them and announces them; an IPv4 advertisement
   * cannot list them, so they are not in it.
   */
  addresses6: { address: Ipv6; iface: string }[];
  /**
   * 6: an IPv6 instance (its addresses all IPv6, as keepalived decides): version 3 advertisements
   * from the interface's link-local address to ff02::12, listing them. 4: IPv4 advertisements,
   * the IPv6 addresses riding along unlisted.
   */
  family: 4 | 6;
}

export interface SyncConfig {
  /** Where sync messages go out and come in (ipvsadm's --mcast-interface). Sync follows ha.vrrp[0]: it sends while that instance is master. */
  iface: string;
  /** 0 takes every syncid (ipvsadm's --syncid). */
  syncid: number;
  /** Unicast to this peer instead of multicast to 224.0.0.81. */
  peer: Ipv4 | null;
  /** How long a (re)joining director waits for its peer's table before it may become master anyway. */
  resyncTimeoutMs: number;
}

export interface HaConfig {
  vrrp: VrrpConfig[];
  sync: SyncConfig | null;
}

export interface DirectorConfig {
  /** sloppy_tcp: a mid-stream segment of an unknown connection opens one (see Director.sloppyTcp). */
  sloppyTcp: boolean;
  /** Where a graceful stop writes the connection table for the next process, or null. */
  handoffFile: string | null;
  maxConnections: number;
  timeouts: { tcp: number; tcpfin: number; udp: number };
  defense: { amemthresh: number; dropEntry: number; dropPacket: number; secureTcp: number; amDropRate: number };
}

export interface ReadOnlySocketConfig {
  socket: string;
  mode: number;
  /** A group name or number given the socket, or null to keep root's. */
  group: string | null;
}

export interface ControlConfig {
  socket: string;
  mode: number;
  /** "ADDR:PORT" where Prometheus scrapes /metrics, or null for no metrics endpoint. */
  metrics: string | null;
  /** A second socket for monitoring users: list, stats, counters, trace; never changes. */
  readOnly: ReadOnlySocketConfig | null;
  /** Concurrent clients per socket; more are told to try again and disconnected. */
  maxClients: number;
}

export interface Config {
  interfaces: InterfaceConfig[];
  management: ManagementConfig | null;
  /**
   * TAPs with virtio-net headers and TSO/checksum offloads: TCP moves as 64 KiB super-frames
   * (issue 12). On by default; applies to every interface; a restart changes it.
   */
  offload: boolean;
  /** VIPs announced over BGP by BIRD (announce.ts), or null. */
  bgp: BgpConfig | null;
  /** The appliance's hostname, clock and SSH logins (see system.ts); `tapvs run` leaves them be. */
  system: SystemConfig;
  services: ServiceConfig[];
  director: DirectorConfig;
  control: ControlConfig;
  routes: RouteConfig[];
  routes6: Route6Config[];
  icmp: { ratePerSecond: number; burst: number; perDestinationPerSecond: number; perDestinationBurst: number };
  neighbour: NeighbourTimers;
  ttl: number;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' };
  ha: HaConfig;
}

export class ConfigError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`config: ${path}: ${message}`);
  }
}

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function object(v: Json, path: string, allowed: string[]): Record<string, Json> {
  if (!isObject(v)) throw new ConfigError(path, 'must be an object');
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) throw new ConfigError(`${path}.${key}`, `unknown field (known: ${allowed.join(', ')})`);
  }
  return v;
}

function string(v: Json, path: string): string {
  if (typeof v !== 'string' || v.length === 0) throw new ConfigError(path, 'must be a non-empty string');
  return v;
}

/** A value as it appears in a message: short, and never a throw (a nested value may be deep). */
function shortJson(v: Json): string {
  try {
    const text = JSON.stringify(v) ?? String(v);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  } catch {
    return Array.isArray(v) ? 'an array' : typeof v;
  }
}

function integer(v: Json, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(path, `must be an integer from ${min} to ${max} (got ${shortJson(v)})`);
  }
  return v;
}

function array(v: Json, path: string): Json[] {
  if (!Array.isArray(v)) throw new ConfigError(path, 'must be an array');
  return v;
}

/** A stable, locally administered unicast MAC for an interface that names none. */
export function defaultMac(seed: string): Mac {
  const h = createHash('sha256').update(`tapvs:${seed}`).digest();
  const mac = new Uint8Array(h.subarray(0, 6));
  mac[0] = (mac[0] & 0xfc) | 0x02;
  return mac;
}

let machineIdCache: string | undefined;
function machineId(): string {
  try {
    machineIdCache ??= readFileSync('/etc/machine-id', 'utf8').trim();
  } catch {
    machineIdCache = '';
  }
  return machineIdCache;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function parseInterface(v: Json, path: string): InterfaceConfig {
  const o = object(v, path, ['name', 'tap', 'tapMode', 'nic', 'mac', 'mtu', 'addresses']);
  const name = string(o.name, `${path}.name`);
  const tap = string(o.tap ?? name, `${path}.tap`);
  if (!IFNAME.test(tap)) throw new ConfigError(`${path}.tap`, `'${tap}' is not a valid device name (1-15 of A-Z a-z 0-9 _ . -)`);
  const tapMode = (o.tapMode ?? 'auto') as TapMode;
  if (!['attach', 'create', 'auto'].includes(tapMode)) throw new ConfigError(`${path}.tapMode`, 'must be attach, create or auto');
  const nic = o.nic === undefined ? null : nicField(o.nic, `${path}.nic`, 'name a NIC by its MAC, like 52:54:00:12:34:56');
  // Two appliances (or two lab routers) with the same interface names must not share MACs. The
  // router behind a NIC cannot use the NIC's own MAC (the bridge keeps frames to its ports'
  // MACs for itself), so it takes one derived from it: stable across reboots, unique per NIC.
  let mac = defaultMac(nic ? `nic:${nic}` : `${machineId()}:${tap}`);
  if (o.mac !== undefined) {
    const parsed = parseMac(string(o.mac, `${path}.mac`));
    if (!parsed) throw new ConfigError(`${path}.mac`, `'${o.mac}' is not a MAC address like 02:00:00:00:00:01`);
    if (parsed[0] & 1) throw new ConfigError(`${path}.mac`, 'must be a unicast MAC (first octet even)');
    mac = parsed;
  }
  const mtu = o.mtu === undefined ? 1500 : integer(o.mtu, `${path}.mtu`, 576, 1900);
  // One list in the config, as `ip addr` shows them: IPv4 and IPv6 told apart by their text.
  const all = array(o.addresses ?? [], `${path}.addresses`);
  const isV6 = (a: Json) => typeof a === 'string' && a.includes(':');
  const addresses = parseCidrs(all.filter((a) => !isV6(a)), `${path}.addresses`);
  const addresses6 = all.flatMap((a, i) => (isV6(a) ? [cidr6Field(a, `${path}.addresses[${i}]`)] : []));
  if (addresses6.length > 0 && mtu < 1280) throw new ConfigError(`${path}.mtu`, 'IPv6 needs an MTU of at least 1280 (RFC 8200 5)');
  return { name, tap, tapMode, nic, mac, mtu, addresses, addresses6 };
}

/** A NIC named by its MAC, normalised to lower case. */
function nicField(v: Json, path: string, hint: string): string {
  const mac = parseMac(string(v, path));
  if (!mac) throw new ConfigError(path, `'${v}' is not a MAC address: ${hint}`);
  return formatMac(mac);
}

function cidr6Field(v: Json, path: string): Cidr6 {
  const c = parseCidr6(string(v, path));
  if (!c || c.length === 0) throw new ConfigError(path, `'${v}' is not an IPv6 address with prefix, like 2001:db8::1/64`);
  if (isMulticast6(c.address, 0) || isLinkLocal6(c.address, 0) || isUnspecified6(c.address, 0) || isLoopback6(c.address, 0)) {
    throw new ConfigError(path, `${formatIpv6(c.address)} cannot be an interface's address (multicast, link-local, unspecified or loopback); the link-local one comes from the MAC`);
  }
  return c;
}

function ipv6Field(v: Json, path: string): Ipv6 {
  const a = parseIpv6(string(v, path));
  if (a === null) throw new ConfigError(path, `'${v}' is not an IPv6 address like 2001:db8::1`);
  return a;
}

function parseRoute6(o: Record<string, Json>, path: string, interfaces: InterfaceConfig[]): Route6Config {
  const to = parseCidr6(string(o.to, `${path}.to`));
  if (!to) throw new ConfigError(`${path}.to`, `'${o.to}' is not an IPv6 network like 2001:db8:9::/48 (or ::/0)`);
  const via = o.via === undefined ? null : ipv6Field(o.via, `${path}.via`);
  const dev = o.dev === undefined ? null : string(o.dev, `${path}.dev`);
  if (dev !== null && !interfaces.some((i) => i.name === dev)) throw new ConfigError(`${path}.dev`, `no interface named '${dev}'`);
  if (via === null && dev === null) throw new ConfigError(path, "needs 'via' (a gateway) or 'dev' (an on-link interface)");
  if (via !== null && isLinkLocal6(via, 0) && dev === null) throw new ConfigError(`${path}.dev`, 'a link-local gateway needs its interface');
  return { network: maskPrefix6(to.address, to.length), length: to.length, via, dev };
}

function parseCidrs(v: Json, path: string): { address: Ipv4; length: number }[] {
  return array(v, path).map((a, i) => {
    const p = `${path}[${i}]`;
    const c = parseCidr(string(a, p));
    if (!c || c.length === 0) throw new ConfigError(p, `'${a}' is not an IPv4 address with prefix, like 10.0.0.1/24`);
    return c;
  });
}

function parseManagement(v: Json, interfaces: InterfaceConfig[]): ManagementConfig {
  const path = '$.management';
  const o = object(v, path, ['nic', 'addresses', 'gateway']);
  const nic = nicField(o.nic, `${path}.nic`, 'name the management NIC by its MAC');
  const data = interfaces.find((i) => i.nic === nic);
  if (data) throw new ConfigError(`${path}.nic`, `${nic} is interface '${data.name}': the management NIC must be one tapvs does not take over`);
  const addresses = parseCidrs(o.addresses, `${path}.addresses`);
  if (addresses.length === 0) throw new ConfigError(`${path}.addresses`, 'needs at least one address');
  const gateway = o.gateway === undefined ? null : ipv4Field(o.gateway, `${path}.gateway`);
  if (gateway !== null && !addresses.some((a) => inSubnet(gateway, a.address, a.length))) {
    throw new ConfigError(`${path}.gateway`, 'is on none of the management addresses\' networks');
  }
  return { nic, addresses, gateway };
}

function parseRoute(v: Json, path: string, interfaces: InterfaceConfig[]): RouteConfig {
  const o = object(v, path, ['to', 'via', 'dev']);
  const to = o.to === 'default' ? { address: 0, length: 0 } : parseCidr(string(o.to, `${path}.to`));
  if (!to) throw new ConfigError(`${path}.to`, `'${o.to}' is not a network like 10.9.0.0/24 (or 'default')`);
  let via = 0;
  if (o.via !== undefined) {
    const g = parseIpv4(string(o.via, `${path}.via`));
    if (g === null) throw new ConfigError(`${path}.via`, `'${o.via}' is not an IPv4 address`);
    via = g;
  }
  const dev = o.dev === undefined ? null : string(o.dev, `${path}.dev`);
  if (dev !== null && !interfaces.some((i) => i.name === dev)) throw new ConfigError(`${path}.dev`, `no interface named '${dev}'`);
  if (via === 0 && dev === null) throw new ConfigError(path, "needs 'via' (a gateway) or 'dev' (an on-link interface)");
  return { network: to.address, length: to.length, via, dev };
}

export const DEFAULT_CONTROL_SOCKET = '/run/tapvs/tapvs.sock';

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17 };

function protocolOf(v: Json, path: string): number {
  const p = PROTOCOLS[string(v, path)];
  if (p === undefined) throw new ConfigError(path, `must be tcp or udp (got ${shortJson(v)})`);
  return p;
}

function ipv4Field(v: Json, path: string): Ipv4 {
  const a = parseIpv4(string(v, path));
  if (a === null) throw new ConfigError(path, `'${v}' is not an IPv4 address`);
  return a;
}

/** A real server's address as ipvsadm writes it: IPv4 dotted, IPv6 in brackets. */
export const realServerText = (r: RealServerConfig): string => (r.address6 ? `[${formatIpv6(r.address6)}]` : formatIpv4(r.address));

/** A service's VIP the same way. */
export const vipText = (s: ServiceConfig): string => (s.vip6 ? `[${formatIpv6(s.vip6)}]` : formatIpv4(s.vip));

function parseRealServer(v: Json, path: string, servicePort: number, ipv6: boolean): RealServerConfig {
  const o = object(v, path, ['address', 'port', 'weight', 'method', 'upperThreshold', 'lowerThreshold']);
  const address6 = ipv6 ? ipv6Field(o.address, `${path}.address`) : null;
  const method = (o.method ?? 'dr') as MethodName;
  if (!['dr', 'nat', 'tun'].includes(method)) throw new ConfigError(`${path}.method`, "must be dr, nat or tun (ipvsadm's -g, -m, -i)");
  const port = o.port === undefined ? servicePort : integer(o.port, `${path}.port`, 0, 65535);
  if (method !== 'nat' && port !== servicePort) {
    throw new ConfigError(`${path}.port`, `${method} cannot change the port (${servicePort} -> ${port}): only nat can; leave it out or use the service port`);
  }
  const upperThreshold = o.upperThreshold === undefined ? 0 : integer(o.upperThreshold, `${path}.upperThreshold`, 0, 2 ** 31 - 1);
  const lowerThreshold = o.lowerThreshold === undefined ? 0 : integer(o.lowerThreshold, `${path}.lowerThreshold`, 0, 2 ** 31 - 1);
  if (upperThreshold && lowerThreshold > upperThreshold) throw new ConfigError(`${path}.lowerThreshold`, 'must not exceed upperThreshold');
  return {
    address: address6 ? 0 : ipv4Field(o.address, `${path}.address`),
    address6,
    port,
    weight: o.weight === undefined ? 1 : integer(o.weight, `${path}.weight`, 0, 65535),
    method,
    upperThreshold,
    lowerThreshold,
  };
}

/** An HTTP request target as it goes on the wire: a path, no spaces or control characters. */
function httpPath(v: Json, path: string): string {
  const p = string(v, path);
  if (!/^\/[\x21-\x7e]*$/.test(p)) throw new ConfigError(path, `'${p}' is not an HTTP path: it must start with / and hold no spaces or control characters (percent-encode them, like /a%20b)`);
  return p;
}

function parseHealthCheck(v: Json, path: string): HealthCheckConfig {
  const o = object(v, path, ['type', 'port', 'path', 'expectStatus', 'send', 'command', 'interval', 'timeout', 'rise', 'fall', 'onFail']);
  const type = string(o.type, `${path}.type`) as CheckType;
  if (!['tcp', 'http', 'udp', 'command'].includes(type)) throw new ConfigError(`${path}.type`, 'must be tcp, http, udp or command');
  const command = array(o.command ?? [], `${path}.command`).map((c, i) => {
    const word = string(c, `${path}.command[${i}]`);
    if (word.includes('\0')) throw new ConfigError(`${path}.command[${i}]`, 'must not contain a NUL character');
    return word;
  });
  if (type === 'command' && command.length === 0) throw new ConfigError(`${path}.command`, 'a command check needs the command (its arguments get the address and port appended)');
  const send = o.send === undefined ? '' : string(o.send, `${path}.send`);
  if (!/^([0-9a-f]{2})*$/i.test(send)) throw new ConfigError(`${path}.send`, 'must be hex bytes, like 0001');
  const seconds = (x: Json, name: string, fallback: number) => (x === undefined ? fallback : integer(x, `${path}.${name}`, 1, 3600) * 1000);
  const onFail = (o.onFail ?? 'inhibit') as 'inhibit' | 'remove';
  if (onFail !== 'inhibit' && onFail !== 'remove') throw new ConfigError(`${path}.onFail`, 'must be inhibit (weight 0) or remove');
  const h: HealthCheckConfig = {
    ...DEFAULT_HEALTH,
    type,
    port: o.port === undefined ? null : integer(o.port, `${path}.port`, 1, 65535),
    path: o.path === undefined ? '/' : httpPath(o.path, `${path}.path`),
    expectStatus: o.expectStatus === undefined ? 200 : integer(o.expectStatus, `${path}.expectStatus`, 100, 599),
    sendHex: send,
    command,
    intervalMs: seconds(o.interval, 'interval', 2),
    timeoutMs: seconds(o.timeout, 'timeout', 1),
    rise: o.rise === undefined ? 2 : integer(o.rise, `${path}.rise`, 1, 100),
    fall: o.fall === undefined ? 2 : integer(o.fall, `${path}.fall`, 1, 100),
    onFail,
  };
  if (h.timeoutMs > h.intervalMs) throw new ConfigError(`${path}.timeout`, 'must not exceed the interval');
  return h;
}

function parseService(v: Json, path: string, interfaces: InterfaceConfig[]): ServiceConfig {
  const o = object(v, path, ['protocol', 'vip', 'port', 'fwmark', 'members', 'scheduler', 'persistence', 'netmask', 'onePacket', 'udpTimeout', 'pe', 'healthCheck', 'flags', 'iface', 'realServers']);
  // IPv4 or IPv6, told apart by the text, as the interfaces' addresses are.
  const vip6 = typeof o.vip === 'string' && o.vip.includes(':') ? ipv6Field(o.vip, `${path}.vip`) : null;
  const vip = vip6 ? 0 : ipv4Field(o.vip, `${path}.vip`);
  const fwmark = o.fwmark === undefined ? 0 : integer(o.fwmark, `${path}.fwmark`, 1, 2 ** 32 - 1);
  const members = array(o.members ?? [], `${path}.members`).map((m, i) => {
    const mo = object(m, `${path}.members[${i}]`, ['protocol', 'port']);
    return { protocol: protocolOf(mo.protocol, `${path}.members[${i}].protocol`), port: integer(mo.port ?? 0, `${path}.members[${i}].port`, 0, 65535) };
  });
  if (fwmark && members.length === 0) throw new ConfigError(`${path}.members`, 'a firewall-mark service needs the protocol/port pairs it groups');
  if (!fwmark && members.length) throw new ConfigError(`${path}.members`, "only a firewall-mark service ('fwmark') groups members");
  const protocol = fwmark ? 0 : protocolOf(o.protocol ?? 'tcp', `${path}.protocol`);
  const port = fwmark ? 0 : integer(o.port, `${path}.port`, 0, 65535);
  const scheduler = string(o.scheduler ?? 'wlc', `${path}.scheduler`);
  if (!SCHEDULER_NAMES.includes(scheduler)) throw new ConfigError(`${path}.scheduler`, `unknown scheduler '${scheduler}' (known: ${SCHEDULER_NAMES.join(', ')})`);
  const flags = array(o.flags ?? [], `${path}.flags`).map((f, i) => {
    const flag = string(f, `${path}.flags[${i}]`);
    if (!SCHEDULER_FLAGS.includes(flag)) throw new ConfigError(`${path}.flags[${i}]`, `unknown flag '${flag}' (known: ${SCHEDULER_FLAGS.join(', ')})`);
    return flag;
  });
  const netmask = vip6
    ? o.netmask === undefined ? 128 : integer(o.netmask, `${path}.netmask`, 1, 128)
    : o.netmask === undefined ? 0xffffffff : ipv4Field(o.netmask, `${path}.netmask`);
  let iface = o.iface === undefined ? null : string(o.iface, `${path}.iface`);
  if (iface !== null && !interfaces.some((i) => i.name === iface)) throw new ConfigError(`${path}.iface`, `no interface named '${iface}'`);
  iface ??= interfaces.find((i) => (vip6 ? i.addresses6.some((a) => inPrefix6(vip6, 0, a.address, a.length)) : i.addresses.some((a) => inSubnet(vip, a.address, a.length))))?.name ?? null;
  const onePacket = o.onePacket === undefined ? false : o.onePacket === true;
  const pe = o.pe === undefined ? null : string(o.pe, `${path}.pe`);
  if (pe !== null && pe !== 'sip') throw new ConfigError(`${path}.pe`, `unknown persistence engine '${pe}' (known: sip)`);
  if (pe !== null && protocol === 6) throw new ConfigError(`${path}.pe`, 'the SIP engine is for UDP services');
  if (pe !== null && !(typeof o.persistence === 'number' && o.persistence > 0)) throw new ConfigError(`${path}.pe`, "a persistence engine needs 'persistence' (seconds), as ipvsadm's --pe needs -p");
  if (onePacket && protocol !== 17 && !fwmark) throw new ConfigError(`${path}.onePacket`, 'one-packet scheduling is for UDP services');
  const realServers = array(o.realServers ?? [], `${path}.realServers`).map((r, i) => parseRealServer(r, `${path}.realServers[${i}]`, port, vip6 !== null));
  const seenServers = new Set<string>();
  realServers.forEach((r, i) => {
    const key = `${realServerText(r)}:${r.port}`;
    if (seenServers.has(key)) throw new ConfigError(`${path}.realServers[${i}]`, `${key} is already a real server of this service`);
    seenServers.add(key);
  });
  const healthCheck = o.healthCheck === undefined ? null : parseHealthCheck(o.healthCheck, `${path}.healthCheck`);
  if (healthCheck && healthCheck.type !== 'command' && healthCheck.port === null) {
    const i = realServers.findIndex((r) => r.port === 0);
    if (i >= 0) throw new ConfigError(`${path}.healthCheck.port`, `realServers[${i}] has no port of its own (the service takes every port): say which port the ${healthCheck.type} check probes`);
  }
  return {
    protocol,
    vip,
    vip6,
    port,
    fwmark,
    members,
    scheduler,
    persistence: o.persistence === undefined ? 0 : integer(o.persistence, `${path}.persistence`, 0, 2 ** 31 - 1),
    netmask,
    onePacket,
    udpTimeout: o.udpTimeout === undefined ? 0 : integer(o.udpTimeout, `${path}.udpTimeout`, 1, 31 * 24 * 3600),
    pe: pe as 'sip' | null,
    healthCheck,
    flags,
    iface,
    realServers,
  };
}

function parseDirector(v: Json, socket: string): DirectorConfig {
  const o = object(v ?? {}, '$.director', ['maxConnections', 'timeouts', 'defense', 'sloppyTcp', 'handoffFile']);
  const d = object(o.defense ?? {}, '$.director.defense', ['amemthresh', 'dropEntry', 'dropPacket', 'secureTcp', 'amDropRate']);
  const mode = (x: Json, name: string) => (x === undefined ? 0 : integer(x, `$.director.defense.${name}`, 0, 3));
  const defense = {
    amemthresh: d.amemthresh === undefined ? 1024 : integer(d.amemthresh, '$.director.defense.amemthresh', 0, 1 << 26),
    dropEntry: mode(d.dropEntry, 'dropEntry'),
    dropPacket: mode(d.dropPacket, 'dropPacket'),
    secureTcp: mode(d.secureTcp, 'secureTcp'),
    amDropRate: d.amDropRate === undefined ? 10 : integer(d.amDropRate, '$.director.defense.amDropRate', 2, 1_000_000),
  };
  const t = object(o.timeouts ?? {}, '$.director.timeouts', ['tcp', 'tcpfin', 'udp']);
  const seconds = (x: Json, name: string, fallback: number) => (x === undefined ? fallback : integer(x, `$.director.timeouts.${name}`, 1, 31 * 24 * 3600));
  const handoffFile = o.handoffFile === undefined ? `${dirname(socket)}/connections.handoff` : o.handoffFile === null ? null : string(o.handoffFile, '$.director.handoffFile');
  return {
    sloppyTcp: boolean(o.sloppyTcp, '$.director.sloppyTcp', false),
    handoffFile,
    maxConnections: o.maxConnections === undefined ? 1 << 20 : integer(o.maxConnections, '$.director.maxConnections', 16, 1 << 26),
    timeouts: { tcp: seconds(t.tcp, 'tcp', 900), tcpfin: seconds(t.tcpfin, 'tcpfin', 120), udp: seconds(t.udp, 'udp', 300) },
    defense,
  };
}

function fileMode(v: Json, path: string, fallback: string): number {
  const mode = v === undefined ? fallback : string(v, path);
  if (!/^0?[0-7]{3}$/.test(mode)) throw new ConfigError(path, `'${mode}' is not an octal file mode like ${fallback}`);
  return parseInt(mode, 8);
}

function parseControl(v: Json): ControlConfig {
  const o = object(v ?? {}, '$.control', ['socket', 'mode', 'metrics', 'readOnly', 'maxClients']);
  let metrics: string | null = null;
  if (o.metrics !== undefined) {
    metrics = string(o.metrics, '$.control.metrics');
    const m = /^([^:]+):(\d{1,5})$/.exec(metrics);
    if (!m || parseIpv4(m[1]) === null || Number(m[2]) < 1 || Number(m[2]) > 65535) {
      throw new ConfigError('$.control.metrics', `'${metrics}' is not ADDR:PORT, like 127.0.0.1:9101`);
    }
  }
  const socket = o.socket === undefined ? DEFAULT_CONTROL_SOCKET : string(o.socket, '$.control.socket');
  let readOnly: ReadOnlySocketConfig | null = null;
  if (o.readOnly !== undefined) {
    const r = object(o.readOnly, '$.control.readOnly', ['socket', 'mode', 'group']);
    const roSocket = string(r.socket, '$.control.readOnly.socket');
    if (roSocket === socket) throw new ConfigError('$.control.readOnly.socket', 'must differ from the admin socket');
    const group = r.group === undefined ? null : typeof r.group === 'number' ? String(integer(r.group, '$.control.readOnly.group', 0, 2 ** 31 - 1)) : string(r.group, '$.control.readOnly.group');
    readOnly = { socket: roSocket, mode: fileMode(r.mode, '$.control.readOnly.mode', '0660'), group };
  }
  const maxClients = o.maxClients === undefined ? 32 : integer(o.maxClients, '$.control.maxClients', 1, 1024);
  return { socket, mode: fileMode(o.mode, '$.control.mode', '0600'), metrics, readOnly, maxClients };
}

const ifaceNamed = (name: string, path: string, interfaces: InterfaceConfig[]): string => {
  if (!interfaces.some((i) => i.name === name)) throw new ConfigError(path, `no interface named '${name}' (known: ${interfaces.map((i) => i.name).join(', ')})`);
  return name;
};

function boolean(v: Json, path: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new ConfigError(path, 'must be true or false');
  return v;
}

function parseVrrp(v: Json, path: string, interfaces: InterfaceConfig[]): VrrpConfig {
  const o = object(v, path, ['name', 'iface', 'vrid', 'priority', 'advertIntervalMs', 'preempt', 'version', 'virtualMac', 'addresses']);
  const iface = ifaceNamed(string(o.iface, `${path}.iface`), `${path}.iface`, interfaces);
  const vrid = integer(o.vrid, `${path}.vrid`, 1, 255);
  const version = o.version === undefined ? 3 : integer(o.version, `${path}.version`, 2, 3);
  const advertIntervalMs = o.advertIntervalMs === undefined ? 1000 : integer(o.advertIntervalMs, `${path}.advertIntervalMs`, 10, version === 2 ? 255_000 : 40_950);
  if (version === 2 && advertIntervalMs % 1000 !== 0) throw new ConfigError(`${path}.advertIntervalMs`, 'VRRP version 2 counts whole seconds: use a multiple of 1000, or version 3');
  if (version === 3 && advertIntervalMs % 10 !== 0) throw new ConfigError(`${path}.advertIntervalMs`, 'VRRP version 3 counts centiseconds: use a multiple of 10');
  const addresses: VrrpConfig['addresses'] = [];
  const addresses6: VrrpConfig['addresses6'] = [];
  array(o.addresses, `${path}.addresses`).forEach((a, i) => {
    const p = `${path}.addresses[${i}]`;
    const ao = typeof a === 'string' ? { address: a } : object(a, p, ['address', 'iface']);
    const text = typeof ao.address === 'string' ? ao.address : '';
    const on = ao.iface === undefined ? iface : ifaceNamed(string(ao.iface, `${p}.iface`), `${p}.iface`, interfaces);
    const at = typeof a === 'string' ? p : `${p}.address`;
    const own = interfaces.find((x) => x.name === on)!;
    if (text.includes(':')) {
      const address = ipv6Field(ao.address, at);
      if (isLinkLocal6(address, 0) || isMulticast6(address, 0)) throw new ConfigError(at, `${text} is link-local or multicast: VRRP moves global addresses`);
      if (own.addresses6.length === 0) throw new ConfigError(at, `interface '${on}' has no IPv6 address: give it one to carry ${text}`);
      if (own.addresses6.some((x) => ipv6Equals(x.address, 0, address, 0))) throw new ConfigError(at, `${text} is an address of interface '${on}': VRRP moves addresses no director keeps for itself`);
      addresses6.push({ address, iface: on });
      return;
    }
    const address = ipv4Field(ao.address, at);
    if (own.addresses.some((x) => x.address === address)) throw new ConfigError(at, `${formatIpv4(address)} is an address of interface '${on}': VRRP moves addresses no director keeps for itself`);
    addresses.push({ address, iface: on });
  });
  const family = addresses.length === 0 && addresses6.length > 0 ? 6 : 4;
  if (family === 4 && (addresses.length === 0 || addresses.length > 20)) throw new ConfigError(`${path}.addresses`, 'needs 1 to 20 IPv4 addresses (what one advertisement carries; IPv6 addresses move with them), or IPv6 addresses only (an IPv6 instance)');
  if (addresses6.length > 20) throw new ConfigError(`${path}.addresses`, 'at most 20 IPv6 addresses');
  const advertising = interfaces.find((i) => i.name === iface)!;
  if (family === 6 && version === 2) throw new ConfigError(`${path}.version`, 'an IPv6 instance (its addresses all IPv6) speaks VRRP version 3 (RFC 5798): version 2 is IPv4 only');
  if (family === 6 && advertising.addresses6.length === 0) throw new ConfigError(`${path}.iface`, `interface '${iface}' has no IPv6 address: an IPv6 instance advertises from its link-local address, which IPv6 on the interface gives`);
  if (family === 4 && advertising.addresses.length === 0) throw new ConfigError(`${path}.iface`, `interface '${iface}' has no address to advertise from`);
  return {
    name: o.name === undefined ? `VI_${vrid}` : string(o.name, `${path}.name`),
    iface,
    vrid,
    priority: o.priority === undefined ? 100 : integer(o.priority, `${path}.priority`, 1, 255),
    advertIntervalMs,
    preempt: boolean(o.preempt, `${path}.preempt`, true),
    version: version as 2 | 3,
    virtualMac: boolean(o.virtualMac, `${path}.virtualMac`, false),
    addresses,
    addresses6,
    family,
  };
}

function parseHa(v: Json, interfaces: InterfaceConfig[]): HaConfig {
  const o = object(v ?? {}, '$.ha', ['vrrp', 'sync']);
  const vrrp = array(o.vrrp ?? [], '$.ha.vrrp').map((x, i) => parseVrrp(x, `$.ha.vrrp[${i}]`, interfaces));
  const seen = new Map<string, number>();
  vrrp.forEach((r, i) => {
    const key = `${r.iface}/${r.vrid}`;
    if (seen.has(key)) throw new ConfigError(`$.ha.vrrp[${i}].vrid`, `VRID ${r.vrid} is already used on '${r.iface}' by $.ha.vrrp[${seen.get(key)}]`);
    seen.set(key, i);
  });
  const owners = new Map<Ipv4, number>();
  vrrp.forEach((r, i) =>
    r.addresses.forEach((a, j) => {
      const other = owners.get(a.address);
      if (other !== undefined && other !== i) throw new ConfigError(`$.ha.vrrp[${i}].addresses[${j}]`, `${formatIpv4(a.address)} is already moved by $.ha.vrrp[${other}]`);
      owners.set(a.address, i);
    }),
  );
  const owners6 = new Map<string, number>();
  vrrp.forEach((r, i) =>
    r.addresses6.forEach((a) => {
      const text = formatIpv6(a.address);
      const other = owners6.get(text);
      if (other !== undefined && other !== i) throw new ConfigError(`$.ha.vrrp[${i}].addresses`, `${text} is already moved by $.ha.vrrp[${other}]`);
      owners6.set(text, i);
    }),
  );
  let sync: SyncConfig | null = null;
  if (o.sync !== undefined && vrrp[0]?.family === 6) throw new ConfigError('$.ha.vrrp[0]', 'sync follows the first VRRP instance and its master is an IPv4 peer: put an IPv4 instance first');
  if (o.sync !== undefined) {
    const so = object(o.sync, '$.ha.sync', ['iface', 'syncid', 'peer', 'resyncTimeoutMs']);
    const iface = ifaceNamed(string(so.iface, '$.ha.sync.iface'), '$.ha.sync.iface', interfaces);
    if (interfaces.find((i) => i.name === iface)!.addresses.length === 0) throw new ConfigError('$.ha.sync.iface', `interface '${iface}' has no address to send from`);
    sync = {
      iface,
      syncid: so.syncid === undefined ? 0 : integer(so.syncid, '$.ha.sync.syncid', 0, 255),
      peer: so.peer === undefined ? null : ipv4Field(so.peer, '$.ha.sync.peer'),
      resyncTimeoutMs: so.resyncTimeoutMs === undefined ? 10_000 : integer(so.resyncTimeoutMs, '$.ha.sync.resyncTimeoutMs', 0, 3_600_000),
    };
  }
  return { vrrp, sync };
}

function parseSystem(v: Json, management: ManagementConfig | null): SystemConfig {
  if (v === undefined) return NO_SYSTEM;
  const o = object(v, '$.system', ['hostname', 'timezone', 'ntp', 'ssh']);
  const checked = (field: string, problem: (s: string) => string | null): string | null => {
    if (o[field] === undefined) return null;
    const value = string(o[field], `$.system.${field}`);
    const why = problem(value);
    if (why) throw new ConfigError(`$.system.${field}`, why);
    return value;
  };
  const ntp = array(o.ntp ?? [], '$.system.ntp').map((a, i) => ipv4Field(a, `$.system.ntp[${i}]`));
  if (ntp.length > 4) throw new ConfigError('$.system.ntp', 'at most 4 servers');
  let ssh: SystemConfig['ssh'] = null;
  if (o.ssh !== undefined) {
    const so = object(o.ssh, '$.system.ssh', ['authorizedKeys']);
    const authorizedKeys = array(so.authorizedKeys, '$.system.ssh.authorizedKeys').map((k, i) => {
      const path = `$.system.ssh.authorizedKeys[${i}]`;
      const why = sshKeyProblem(string(k, path));
      if (why) throw new ConfigError(path, why);
      return k as string;
    });
    ssh = { authorizedKeys };
  }
  const needsManagement = ssh?.authorizedKeys.length ? '$.system.ssh' : ntp.length ? '$.system.ntp' : null;
  if (needsManagement && management === null) {
    throw new ConfigError(needsManagement, 'is reached through the management NIC, and there is none: add $.management');
  }
  return { hostname: checked('hostname', hostnameProblem), timezone: checked('timezone', timezoneProblem), ntp, ssh };
}

/** BFD sessions tapvs keeps: one per BGP speaker of this director, so a handful. */
const MAX_BFD_PEERS = 16;

/**
 * The bgp section: where BIRD is, the routes files its static protocols include (IPv4, IPv6),
 * and the next hops: tapvs's own addresses, the first of each family unless named.
 */
function parseBgp(v: Json, interfaces: InterfaceConfig[], controlSocket: string): BgpConfig | null {
  if (v === undefined) return null;
  const o = object(v, '$.bgp', ['birdSocket', 'routesFile', 'routesFile6', 'nextHop', 'nextHop6', 'bfd']);
  const own = interfaces.flatMap((i) => i.addresses.map((a) => a.address));
  if (own.length === 0) throw new ConfigError('$.bgp', 'announces a next hop of tapvs, and no interface has an address');
  const nextHop = o.nextHop === undefined ? own[0] : ipv4Field(o.nextHop, '$.bgp.nextHop');
  if (!own.includes(nextHop)) throw new ConfigError('$.bgp.nextHop', `${formatIpv4(nextHop)} is not an address of a tapvs interface: the upstream router must send VIP traffic to tapvs`);
  const own6 = interfaces.flatMap((i) => i.addresses6.map((a) => a.address));
  const nextHop6 = o.nextHop6 === undefined ? (own6[0] ?? null) : ipv6Field(o.nextHop6, '$.bgp.nextHop6');
  if (nextHop6 !== null && !own6.some((a) => ipv6Equals(a, 0, nextHop6, 0))) throw new ConfigError('$.bgp.nextHop6', `${formatIpv6(nextHop6)} is not an IPv6 address of a tapvs interface: the upstream router must send VIP traffic to tapvs`);
  return {
    birdSocket: o.birdSocket === undefined ? '/run/bird/bird.ctl' : string(o.birdSocket, '$.bgp.birdSocket'),
    routesFile: o.routesFile === undefined ? `${dirname(controlSocket)}/bird-vips.conf` : string(o.routesFile, '$.bgp.routesFile'),
    routesFile6: o.routesFile6 === undefined ? `${dirname(controlSocket)}/bird-vips6.conf` : string(o.routesFile6, '$.bgp.routesFile6'),
    nextHop,
    nextHop6,
    bfd: parseBfd(o.bfd),
  };
}

/** bgp.bfd: the BGP speakers that keep a BFD session to tapvs (either family), and the rate it asks for. */
function parseBfd(v: Json): BfdConfig | null {
  if (v === undefined) return null;
  const o = object(v, '$.bgp.bfd', ['peers', 'intervalMs', 'multiplier']);
  const texts = array(o.peers, '$.bgp.bfd.peers');
  if (texts.length === 0 || texts.length > MAX_BFD_PEERS) throw new ConfigError('$.bgp.bfd.peers', `lists the BGP speakers' addresses that may keep a BFD session with tapvs: 1 to ${MAX_BFD_PEERS} of them`);
  const peers: Ipv4[] = [];
  const peers6: Ipv6[] = [];
  texts.forEach((p, i) => (typeof p === 'string' && p.includes(':') ? peers6.push(ipv6Field(p, `$.bgp.bfd.peers[${i}]`)) : peers.push(ipv4Field(p, `$.bgp.bfd.peers[${i}]`))));
  if (new Set([...peers.map(String), ...peers6.map((a) => formatIpv6(a))]).size !== texts.length) throw new ConfigError('$.bgp.bfd.peers', 'lists an address twice');
  const intervalUs = (o.intervalMs === undefined ? 100 : integer(o.intervalMs, '$.bgp.bfd.intervalMs', 10, 10_000)) * 1000;
  return { peers, peers6, desiredMinTxUs: intervalUs, requiredMinRxUs: intervalUs, detectMult: o.multiplier === undefined ? 3 : integer(o.multiplier, '$.bgp.bfd.multiplier', 1, 255) };
}

export function parseConfig(json: Json): Config {
  const o = object(json, '$', ['$schema', 'interfaces', 'offload', 'bgp', 'management', 'system', 'routes', 'services', 'director', 'control', 'icmp', 'neighbour', 'ttl', 'log', 'ha']);
  const interfaces = array(o.interfaces, '$.interfaces').map((v, i) => parseInterface(v, `$.interfaces[${i}]`));
  if (interfaces.length === 0) throw new ConfigError('$.interfaces', 'needs at least one interface');
  const seen = new Set<string>();
  interfaces.forEach((iface, i) => {
    for (const key of [`name:${iface.name}`, `tap:${iface.tap}`, ...(iface.nic ? [`nic:${iface.nic}`] : [])]) {
      if (seen.has(key)) throw new ConfigError(`$.interfaces[${i}]`, `duplicate ${key.replace(':', " '")}'`);
      seen.add(key);
    }
  });
  const routeList = array(o.routes ?? [], '$.routes');
  const isRoute6 = (v: Json) => typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as Record<string, Json>).to === 'string' && ((v as Record<string, Json>).to as string).includes(':');
  const routes = routeList.flatMap((v, i) => (isRoute6(v) ? [] : [parseRoute(v, `$.routes[${i}]`, interfaces)]));
  const routes6 = routeList.flatMap((v, i) => (isRoute6(v) ? [parseRoute6(object(v, `$.routes[${i}]`, ['to', 'via', 'dev']), `$.routes[${i}]`, interfaces)] : []));

  const icmpIn = object(o.icmp ?? {}, '$.icmp', ['ratePerSecond', 'burst', 'perDestinationPerSecond', 'perDestinationBurst']);
  const icmpField = (name: string, fallback: number, min: number) => (icmpIn[name] === undefined ? fallback : integer(icmpIn[name], `$.icmp.${name}`, min, 1_000_000));
  const icmp = {
    ratePerSecond: icmpField('ratePerSecond', 100, 0),
    burst: icmpField('burst', 50, 1),
    perDestinationPerSecond: icmpField('perDestinationPerSecond', 20, 0),
    perDestinationBurst: icmpField('perDestinationBurst', 20, 1),
  };
  const nIn = object(o.neighbour ?? {}, '$.neighbour', Object.keys(DEFAULT_NEIGHBOUR_TIMERS));
  const neighbour = { ...DEFAULT_NEIGHBOUR_TIMERS };
  for (const key of Object.keys(nIn) as (keyof NeighbourTimers)[]) {
    neighbour[key] = integer(nIn[key], `$.neighbour.${key}`, 1, 10_000_000);
  }
  const ttl = o.ttl === undefined ? 64 : integer(o.ttl, '$.ttl', 1, 255);
  const logIn = object(o.log ?? {}, '$.log', ['level']);
  const level = (logIn.level ?? 'info') as Config['log']['level'];
  if (!['trace', 'debug', 'info', 'warn', 'error'].includes(level)) throw new ConfigError('$.log.level', 'must be trace, debug, info, warn or error');
  const services = array(o.services ?? [], '$.services').map((v, i) => parseService(v, `$.services[${i}]`, interfaces));
  const keys = new Set<string>();
  services.forEach((svc, i) => {
    const k = svc.fwmark ? `fwm:${svc.fwmark}` : `${svc.protocol}:${vipText(svc)}:${svc.port}`;
    if (keys.has(k)) throw new ConfigError(`$.services[${i}]`, 'the same virtual service is defined twice');
    keys.add(k);
  });
  const control = parseControl(o.control);
  const management = o.management === undefined ? null : parseManagement(o.management, interfaces);
  return { interfaces, offload: boolean(o.offload, '$.offload', true), bgp: parseBgp(o.bgp, interfaces, control.socket), management, system: parseSystem(o.system, management), routes, routes6, services, director: parseDirector(o.director, control.socket), control, icmp, neighbour, ttl, log: { level }, ha: parseHa(o.ha, interfaces) };
}

/** Reads and validates; JSON syntax errors are reported with the file name. */
export function parseConfigText(text: string, file = 'config'): Config {
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, `not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(json);
}
