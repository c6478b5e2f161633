// The real-server agent: gives a real server its VIPs so that it serves them but never speaks
// for them in ARP (seed 004). The VIP goes, as a /32, on a TUN device the agent makes (a TUN
// has no link layer, so it can never answer ARP), or on lo when asked; the LAN interface and
// "all" get arp_ignore=1 (answer only for addresses on the asking interface) and
// arp_announce=2 (ARP requests carry the interface's own address). An IPv6 VIP goes, as a
// /128 without DAD, on the same device: Linux answers neighbour solicitations only for the
// receiving interface's addresses and solicits from the outgoing interface's, so off the LAN
// interface the VIP is never claimed nor used in neighbour discovery (no sysctl needed; the
// device's IPv6 is switched on). Everything it changes is recorded, with the values it found,
// in one state file, so `undo` puts it all back.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseIpv4 } from '../packet/address.js';
import { formatIpv6, isIpv6Text, parseIpv6 } from '../packet/address6.js';
import { arpProbe } from './probe.js';

export const DEFAULT_STATE_FILE = '/var/lib/tapvs/agent.json';
export const DEFAULT_SYSCTL_DIR = '/etc/sysctl.d';
export const DEFAULT_DEVICE = 'tapvs-vip';
const SYSCTL_FILE = '90-tapvs-agent.conf';

/** Exit codes scripts can rely on. */
export const enum AgentExit {
  Ok = 0,
  Failed = 1,
  Usage = 2,
  UnknownInterface = 3,
  NotRoot = 4,
  Conflict = 5,
  Unhealthy = 6,
}

export class AgentError extends Error {
  constructor(
    readonly code: AgentExit,
    message: string,
  ) {
    super(message);
  }
}

export type AgentMethod = 'dr' | 'tun';

export interface AgentOptions {
  vips: string[];
  iface: string;
  method: AgentMethod;
  /** A device name for the agent's TUN, or 'lo'. */
  device: string;
  stateFile: string;
  sysctlDir: string;
}

export interface AgentState {
  vips: string[];
  iface: string;
  method: AgentMethod;
  device: string;
  /** The agent made the device (and removes it on undo). */
  createdDevice: boolean;
  /** VIPs the agent added (and removes on undo). */
  addedVips: string[];
  /** sysctl name -> the value found before the agent changed it. */
  sysctls: Record<string, string>;
}

export interface SetupReport {
  device: string;
  why: string;
  changed: string[];
  state: AgentState;
}

function sh(cmd: string, args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new AgentError(AgentExit.Failed, `${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout;
}

/**
 * A sysctl's name as sysctl(8) writes it: dotted (net.ipv4.conf.eth0.arp_ignore), or with '/'
 * when the interface's own name has a dot (a VLAN: net/ipv4/conf/eth0.100/arp_ignore), which
 * the dotted form cannot tell from a separator. Both forms are read back.
 */
const conf = (scope: string, knob: string) => (scope.includes('.') ? `net/ipv4/conf/${scope}/${knob}` : `net.ipv4.conf.${scope}.${knob}`);
const sysctlPath = (name: string) => `/proc/sys/${name.includes('/') ? name : name.replace(/\./g, '/')}`;

export function readSysctl(name: string): string {
  return readFileSync(sysctlPath(name), 'utf8').trim();
}

function writeSysctl(name: string, value: string): void {
  writeFileSync(sysctlPath(name), value);
}

interface AddrInfo {
  ifname: string;
  flags: string[];
  addr_info: { local: string; prefixlen: number }[];
}

function addresses(): AddrInfo[] {
  return JSON.parse(must('ip', ['-j', 'addr', 'show'])) as AddrInfo[];
}

/** A VIP as the state file and `ip -j addr` write it: IPv6 canonical. */
const canonicalVip = (vip: string): string => (isIpv6Text(vip) ? formatIpv6(parseIpv6(vip)!) : vip);
/** A VIP's host prefix: /32 or /128. */
const hostPrefix = (vip: string): string => `${vip}/${isIpv6Text(vip) ? 128 : 32}`;

/** The sysctls the agent owns for a setup, with the values it wants. */
export function wantedSysctls(o: Pick<AgentOptions, 'iface' | 'method' | 'device' | 'vips'>): Record<string, string> {
  const want: Record<string, string> = {};
  // An IPv6 VIP needs IPv6 on its device (a new TUN takes 'default', which may have it off).
  if (o.vips.some(isIpv6Text)) want[o.device.includes('.') ? `net/ipv6/conf/${o.device}/disable_ipv6` : `net.ipv6.conf.${o.device}.disable_ipv6`] = '0';
  for (const scope of ['all', o.iface]) {
    want[conf(scope, 'arp_ignore')] = '1';
    want[conf(scope, 'arp_announce')] = '2';
  }
  if (o.method === 'tun') {
    // Decapsulated packets arrive on the device from clients it has no route back to. The
    // kernel uses the larger of 'all' and the device's value, so both must be 0; the LAN
    // interface keeps its own strictness (setup raises it to what 'all' gave it).
    for (const scope of ['all', o.device]) want[conf(scope, 'rp_filter')] = '0';
  }
  return want;
}

export function validateOptions(o: AgentOptions): void {
  if (o.vips.length === 0) throw new AgentError(AgentExit.Usage, 'agent: give at least one --vip');
  for (const v of o.vips) {
    if (isIpv6Text(v) ? parseIpv6(v) === null : parseIpv4(v) === null) throw new AgentError(AgentExit.Usage, `agent: '${v}' is not an IPv4 or IPv6 address`);
  }
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(o.device)) throw new AgentError(AgentExit.Usage, `agent: '${o.device}' is not a device name`);
  if (o.method !== 'dr' && o.method !== 'tun') throw new AgentError(AgentExit.Usage, 'agent: --method is dr or tun');
  if (o.method === 'tun' && o.device === 'lo') throw new AgentError(AgentExit.Usage, 'agent: the tun method needs the agent\'s own device (decapsulated packets are written to it), not lo');
}

function readState(file: string): AgentState | null {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as AgentState) : null;
}

/** Writes the state file whole or not at all (new file, then rename). */
function saveState(file: string, state: AgentState): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.new`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

/**
 * Runs `fn` holding the state file's lock (a file made with O_EXCL, holding our pid): two
 * setups at once would each record the other's changes as the originals. A lock whose
 * process is gone is taken over.
 */
function withStateLock<T>(stateFile: string, fn: () => T): T {
  const lock = `${stateFile}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw e;
      const holder = Number(readFileSync(lock, 'utf8'));
      if (holder && pidAlive(holder)) throw new AgentError(AgentExit.Conflict, `agent: another agent (pid ${holder}) is changing this host (lock ${lock}); wait for it`);
      rmSync(lock, { force: true }); // its process is gone
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Sets the server up; running it again changes nothing. The state is saved after every step,
 * so a failure half way leaves a record `undo` can put back.
 */
export function setup(o: AgentOptions): SetupReport {
  validateOptions(o);
  o = { ...o, vips: o.vips.map(canonicalVip) };
  if (process.getuid?.() !== 0) throw new AgentError(AgentExit.NotRoot, 'agent: must run as root (it sets sysctls and addresses)');
  return withStateLock(o.stateFile, () => setupLocked(o));
}

function setupLocked(o: AgentOptions): SetupReport {
  const links = addresses();
  if (!links.some((l) => l.ifname === o.iface)) {
    throw new AgentError(AgentExit.UnknownInterface, `agent: no interface '${o.iface}' (have: ${links.map((l) => l.ifname).join(', ')})`);
  }
  const previous = readState(o.stateFile);
  if (previous && (previous.iface !== o.iface || previous.device !== o.device || previous.method !== o.method)) {
    throw new AgentError(AgentExit.Conflict, `agent: already set up for ${previous.iface}/${previous.device}/${previous.method} (state in ${o.stateFile}); run 'tapvs agent undo' first`);
  }
  // A VIP on an interface that answers ARP would hand the VIP's traffic to this server.
  for (const vip of o.vips) {
    const holder = links.find((l) => l.ifname !== o.device && l.addr_info.some((a) => a.local === vip));
    if (holder && !(holder.ifname === 'lo' && o.device === 'lo')) {
      throw new AgentError(
        AgentExit.Conflict,
        `agent: ${vip} is already on ${holder.ifname}, which ${holder.flags.includes('NOARP') ? 'is not the agent\'s device' : 'answers ARP for it'}; remove it first: ip addr del ${vip}/${holder.addr_info.find((a) => a.local === vip)!.prefixlen} dev ${holder.ifname}`,
      );
    }
  }

  const state: AgentState = previous ?? { vips: [], iface: o.iface, method: o.method, device: o.device, createdDevice: false, addedVips: [], sysctls: {} };
  const changed: string[] = [];

  if (o.device !== 'lo' && !links.some((l) => l.ifname === o.device)) {
    must('ip', ['tuntap', 'add', 'mode', 'tun', 'name', o.device]);
    state.createdDevice = true;
    saveState(o.stateFile, state);
    changed.push(`created ${o.device} (a TUN: no link layer, so no ARP)`);
  }
  const device = addresses().find((l) => l.ifname === o.device)!;
  if (!device.flags.includes('UP')) {
    must('ip', ['link', 'set', o.device, 'up']);
    changed.push(`${o.device} up`);
  }
  // The sysctls first: the VIP never answers ARP, not even for a moment, and an IPv6 one
  // finds IPv6 on its device.
  // For every VIP this host serves, not just this call's (the sysctl.d file is rewritten whole).
  const wanted = { ...wantedSysctls({ ...o, vips: [...state.vips, ...o.vips] }), ...keepRpFilter(o, state) };
  for (const [name, value] of Object.entries(wanted)) {
    const now = readSysctl(name);
    if (!(name in state.sysctls)) state.sysctls[name] = now;
    saveState(o.stateFile, state); // the original is on record before it is changed
    if (now !== value) {
      writeSysctl(name, value);
      changed.push(`${name} ${now} -> ${value}`);
    }
  }
  for (const vip of o.vips) {
    if (device.addr_info.some((a) => a.local === vip)) continue;
    // No DAD: the VIP is meant to be on many hosts, and nobody on the device's link may ask.
    must('ip', ['addr', 'add', hostPrefix(vip), 'dev', o.device, ...(isIpv6Text(vip) ? ['nodad'] : [])]);
    if (!state.addedVips.includes(vip)) state.addedVips.push(vip);
    saveState(o.stateFile, state);
    changed.push(`${hostPrefix(vip)} on ${o.device}`);
  }
  state.vips = [...new Set([...state.vips, ...o.vips])];

  // For reboots: the same sysctls from sysctl.d.
  mkdirSync(o.sysctlDir, { recursive: true });
  const text = `# Written by tapvs agent: real-server ARP hygiene (see tapvs agent doctor)\n${Object.entries(wanted)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n')}\n`;
  const confFile = join(o.sysctlDir, SYSCTL_FILE);
  if (!existsSync(confFile) || readFileSync(confFile, 'utf8') !== text) {
    writeFileSync(confFile, text);
    changed.push(`wrote ${confFile}`);
  }
  saveState(o.stateFile, state);
  const why = o.device === 'lo' ? 'lo, as asked (loopback never answers ARP)' : `${o.device}, a TUN the agent made: it has no link layer, so it can never answer ARP for the VIP`;
  return { device: o.device, why, changed, state };
}

/**
 * tun relaxes rp_filter on 'all', which the LAN interface would inherit (the kernel takes the
 * larger of the two): the LAN interface gets what 'all' gave it before, so only the agent's
 * device is relaxed.
 */
function keepRpFilter(o: AgentOptions, state: AgentState): Record<string, string> {
  if (o.method !== 'tun') return {};
  const all = conf('all', 'rp_filter');
  const iface = conf(o.iface, 'rp_filter');
  const allBefore = Number(state.sysctls[all] ?? readSysctl(all));
  const ifaceBefore = Number(state.sysctls[iface] ?? readSysctl(iface));
  return allBefore > ifaceBefore ? { [iface]: String(allBefore) } : {};
}

/** Puts back everything setup changed, from the state file. Safe to run twice. */
export function undo(stateFile: string, sysctlDir: string): string[] {
  return withStateLock(stateFile, () => undoLocked(stateFile, sysctlDir));
}

function undoLocked(stateFile: string, sysctlDir: string): string[] {
  const state = readState(stateFile);
  if (!state) return [];
  const done: string[] = [];
  for (const [name, value] of Object.entries(state.sysctls)) {
    if (!existsSync(sysctlPath(name))) continue;
    if (readSysctl(name) !== value) {
      writeSysctl(name, value);
      done.push(`${name} -> ${value}`);
    }
  }
  for (const vip of state.addedVips) {
    if (sh('ip', ['addr', 'del', hostPrefix(vip), 'dev', state.device]).status === 0) done.push(`removed ${vip} from ${state.device}`);
  }
  if (state.createdDevice && sh('ip', ['link', 'del', state.device]).status === 0) done.push(`deleted ${state.device}`);
  const confFile = join(sysctlDir, SYSCTL_FILE);
  if (existsSync(confFile)) {
    rmSync(confFile);
    done.push(`removed ${confFile}`);
  }
  rmSync(stateFile);
  return done;
}

export interface Check {
  ok: boolean;
  what: string;
  detail: string;
}

/** Is something listening on `port` at the VIP, or at every address? (`ss`, TCP and UDP.) */
function listening(vip: string, port: number): boolean {
  const r = sh('ss', ['-ltunH']);
  if (r.status !== 0) return true; // cannot tell: say nothing rather than something false
  return r.stdout.split('\n').some((line) => {
    const local = line.trim().split(/\s+/)[4] ?? '';
    const at = local.lastIndexOf(':');
    const host = local.slice(0, at).replace(/%.*$/, '');
    return Number(local.slice(at + 1)) === port && ['0.0.0.0', '*', '[::]', vip, `[${vip}]`].includes(host);
  });
}

/** nftables rules on an input hook that drop or reject traffic naming the VIP (or a drop policy). */
function firewallBlocks(vip: string): string[] {
  const r = sh('nft', ['-j', 'list', 'ruleset']);
  if (r.status !== 0) return [];
  const items = (JSON.parse(r.stdout) as { nftables: Record<string, Record<string, unknown>>[] }).nftables;
  const inputChains = new Set(items.filter((i) => i.chain?.hook === 'input').map((i) => `${i.chain.table}/${i.chain.name}`));
  const found: string[] = [];
  for (const i of items) {
    if (i.chain?.hook === 'input' && i.chain.policy === 'drop') found.push(`chain ${i.chain.table}/${i.chain.name} drops by policy`);
    const rule = i.rule;
    if (!rule || !inputChains.has(`${rule.table}/${rule.chain}`)) continue;
    const text = JSON.stringify(rule.expr);
    if (text.includes(`"${vip}"`) && /"(drop|reject)"/.test(text)) found.push(`rule ${rule.handle} in ${rule.table}/${rule.chain} drops traffic to ${vip}`);
  }
  return found;
}

/**
 * One line per fact: what is right and what is wrong on this real server. With `port`, also
 * whether a service listens there on the VIP (or all addresses), and whether nftables would
 * drop traffic to the VIP.
 */
export function doctor(stateFile: string, port?: number): Check[] {
  return doctorChecks(stateFile, port);
}

/** doctor, plus the live ARP probe through a throwaway TAP (see probe.ts). */
export async function doctorWithProbe(stateFile: string, port?: number): Promise<Check[]> {
  const checks = doctorChecks(stateFile, port);
  const state = readState(stateFile);
  if (!state) return checks;
  for (const vip of state.vips) {
    if (isIpv6Text(vip)) continue; // neighbour discovery needs no probe: see ndChecks
    const r = await arpProbe(vip);
    checks.push({ ok: !r.answered, what: 'probe', detail: r.answered ? `this host answered who-has ${vip}: its traffic would be stolen from the director` : `no answer to who-has ${vip}` });
    const ok = r.requestSender !== null && r.requestSender !== vip;
    checks.push({ ok, what: 'probe', detail: r.requestSender === null ? 'saw no ARP request of this host to judge' : ok ? `ARP requests say ${r.requestSender}, not ${vip}` : `ARP requests say ${vip}: "tell ${vip}" teaches the LAN a wrong MAC` });
  }
  return checks;
}

function doctorChecks(stateFile: string, port?: number): Check[] {
  const state = readState(stateFile);
  if (!state) return [{ ok: false, what: 'state', detail: `no agent state in ${stateFile}: run tapvs agent setup` }];
  const checks: Check[] = [];
  const links = addresses();
  const device = links.find((l) => l.ifname === state.device);
  checks.push({ ok: !!device, what: 'device', detail: device ? `${state.device} exists` : `${state.device} is missing` });
  if (device && state.device !== 'lo') {
    checks.push({ ok: device.flags.includes('NOARP'), what: 'noarp', detail: `${state.device} ${device.flags.includes('NOARP') ? 'is NOARP' : 'answers ARP: it must not'}` });
  }
  for (const vip of state.vips) {
    const on = links.filter((l) => l.addr_info.some((a) => a.local === vip)).map((l) => l.ifname);
    checks.push({ ok: on.length === 1 && on[0] === state.device, what: 'vip', detail: on.length ? `${vip} on ${on.join(', ')}${on.some((n) => n !== state.device) ? ` (only ${state.device} may hold it)` : ''}` : `${vip} is on no interface` });
    if (isIpv6Text(vip)) {
      // Linux's neighbour discovery is per interface: off the LAN interface, the VIP is neither answered nor used as a source.
      const onLan = on.includes(state.iface);
      checks.push({ ok: !onLan, what: 'nd', detail: onLan ? `${vip} is on ${state.iface}: this host would answer neighbour solicitations for it` : `${state.iface} neither answers neighbour solicitations for ${vip} nor sends them from it` });
    }
  }
  for (const [name, value] of Object.entries(wantedSysctls(state))) {
    const now = existsSync(sysctlPath(name)) ? readSysctl(name) : 'missing';
    checks.push({ ok: now === value, what: 'sysctl', detail: `${name} = ${now}${now === value ? '' : ` (want ${value})`}` });
  }
  for (const vip of state.vips) {
    if (port !== undefined) {
      const ok = listening(vip, port);
      checks.push({ ok, what: 'listen', detail: ok ? `a service listens on ${vip}:${port} (or all addresses)` : `nothing listens on ${vip}:${port} or 0.0.0.0:${port}: the VIP's traffic would be refused` });
    }
    for (const block of firewallBlocks(vip)) checks.push({ ok: false, what: 'firewall', detail: block });
  }
  return checks;
}
