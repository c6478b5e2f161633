// The JSON configuration: parsed and validated in one pass, with errors that name the field.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseCidr, parseIpv4, parseMac, type Ipv4, type Mac } from '../packet/address.js';
import { DEFAULT_NEIGHBOUR_TIMERS, type NeighbourTimers } from '../l2/neighbours.js';
import type { TapMode } from '../io/backend.js';

export interface InterfaceConfig {
  name: string;
  tap: string;
  tapMode: TapMode;
  mac: Mac;
  mtu: number;
  addresses: { address: Ipv4; length: number }[];
}

export interface RouteConfig {
  network: Ipv4;
  length: number;
  via: Ipv4;
  /** Interface name for on-link routes (no gateway). */
  dev: string | null;
}

export interface Config {
  interfaces: InterfaceConfig[];
  routes: RouteConfig[];
  icmp: { ratePerSecond: number; burst: number };
  neighbour: NeighbourTimers;
  ttl: number;
  log: { level: 'trace' | 'debug' | 'info' | 'warn' | 'error' };
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

function integer(v: Json, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(path, `must be an integer from ${min} to ${max} (got ${JSON.stringify(v)})`);
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
  const o = object(v, path, ['name', 'tap', 'tapMode', 'mac', 'mtu', 'addresses']);
  const name = string(o.name, `${path}.name`);
  const tap = string(o.tap ?? name, `${path}.tap`);
  if (!IFNAME.test(tap)) throw new ConfigError(`${path}.tap`, `'${tap}' is not a valid device name (1-15 of A-Z a-z 0-9 _ . -)`);
  const tapMode = (o.tapMode ?? 'auto') as TapMode;
  if (!['attach', 'create', 'auto'].includes(tapMode)) throw new ConfigError(`${path}.tapMode`, 'must be attach, create or auto');
  // Two appliances (or two lab routers) with the same interface names must not share MACs.
  let mac = defaultMac(`${machineId()}:${tap}`);
  if (o.mac !== undefined) {
    const parsed = parseMac(string(o.mac, `${path}.mac`));
    if (!parsed) throw new ConfigError(`${path}.mac`, `'${o.mac}' is not a MAC address like 02:00:00:00:00:01`);
    if (parsed[0] & 1) throw new ConfigError(`${path}.mac`, 'must be a unicast MAC (first octet even)');
    mac = parsed;
  }
  const mtu = o.mtu === undefined ? 1500 : integer(o.mtu, `${path}.mtu`, 576, 1900);
  const addresses = array(o.addresses ?? [], `${path}.addresses`).map((a, i) => {
    const p = `${path}.addresses[${i}]`;
    const c = parseCidr(string(a, p));
    if (!c || c.length === 0) throw new ConfigError(p, `'${a}' is not an IPv4 address with prefix, like 10.0.0.1/24`);
    return c;
  });
  return { name, tap, tapMode, mac, mtu, addresses };
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

export function parseConfig(json: Json): Config {
  const o = object(json, '$', ['interfaces', 'routes', 'icmp', 'neighbour', 'ttl', 'log']);
  const interfaces = array(o.interfaces, '$.interfaces').map((v, i) => parseInterface(v, `$.interfaces[${i}]`));
  if (interfaces.length === 0) throw new ConfigError('$.interfaces', 'needs at least one interface');
  const seen = new Set<string>();
  interfaces.forEach((iface, i) => {
    for (const key of [`name:${iface.name}`, `tap:${iface.tap}`]) {
      if (seen.has(key)) throw new ConfigError(`$.interfaces[${i}]`, `duplicate ${key.replace(':', " '")}'`);
      seen.add(key);
    }
  });
  const routes = array(o.routes ?? [], '$.routes').map((v, i) => parseRoute(v, `$.routes[${i}]`, interfaces));

  const icmpIn = object(o.icmp ?? {}, '$.icmp', ['ratePerSecond', 'burst']);
  const icmp = {
    ratePerSecond: icmpIn.ratePerSecond === undefined ? 100 : integer(icmpIn.ratePerSecond, '$.icmp.ratePerSecond', 0, 1_000_000),
    burst: icmpIn.burst === undefined ? 50 : integer(icmpIn.burst, '$.icmp.burst', 1, 1_000_000),
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
  return { interfaces, routes, icmp, neighbour, ttl, log: { level } };
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
