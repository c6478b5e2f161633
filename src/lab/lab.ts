// Labs: Linux hosts in network namespaces, joined by bridges, routed by tapvs on TAPs.
//
// Every name a lab makes starts with its prefix: host namespaces are PREFIX-HOST, and one
// switch namespace PREFIX-sw holds the bridges (one per segment), the hosts' veth peers and
// the routers' TAPs. tapvs processes run inside the switch namespace. Nothing is made in the
// root namespace, so tearing a lab down is deleting its namespaces.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultMac } from '../control/config.js';
import { formatMac } from '../packet/address.js';
import { execIn, ipIn, listNamespaces, run } from './shell.js';
import { applianceConfig, applianceNicMac, pressPowerButton, startAppliance, waitForAppliance, type ApplianceImage } from './appliance.js';

export interface LabHost {
  name: string;
  segment: string;
  /** CIDR, e.g. 10.1.0.2/24 */
  address: string;
  /** Dual stack: an IPv6 CIDR on eth0 too (e.g. 2001:db8:1::2/64), and its gateway. */
  address6?: string;
  gateway6?: string;
  /** More CIDRs on the same interface. */
  extraAddresses?: string[];
  gateway?: string;
  mtu?: number;
  /** More NICs (eth1, eth2, ...) on other segments, each dual stack when it has an address6. */
  moreInterfaces?: { segment: string; address: string; address6?: string }[];
  /** The host's kernel routes between its NICs (a gateway). */
  forwarding?: boolean;
  /** Commands run on the host after its network is up (sysctls, a VIP on lo, ...). */
  setup?: string[][];
  /** Long-running programs started on the host (servers); stopped by lab down. With a
   *  readyPort, lab up waits until something listens there (TCP or UDP) before it returns. */
  daemons?: { name: string; cmd: string[]; readyPort?: number }[];
}

/** A setup command that writes `text` to `path` on a host (a lab hands hosts files no other way). */
export const writeOnHost = (path: string, text: string): string[] => ['sh', '-c', `echo ${Buffer.from(text).toString('base64')} | base64 -d > ${path}`];

export interface LabRouterInterface {
  name: string;
  segment: string;
  addresses: string[];
  mtu?: number;
}

export interface LabRouter {
  name: string;
  interfaces: LabRouterInterface[];
  routes?: { to: string; via?: string; dev?: string }[];
  services?: Record<string, unknown>[];
  /** Extra top-level config fields (icmp, neighbour, log). */
  extra?: Record<string, unknown>;
  /** control.metrics: where the router serves Prometheus metrics (in the switch namespace). */
  metrics?: string;
  /** An appliance's own management address, when several share the lab's management segment. */
  managementAddress?: string;
}

export interface LabSpec {
  prefix: string;
  segments: string[];
  /** An address for the switch namespace's kernel on a segment: the director's management leg (health checks). */
  management?: { segment: string; address: string };
  hosts: LabHost[];
  routers: LabRouter[];
  /** Routers are the appliance image under QEMU instead of tapvs processes (src/lab/appliance.ts). */
  appliance?: ApplianceImage;
}

export interface LabState {
  spec: LabSpec;
  routers: { name: string; pid: number; config: string; log: string; namespace: string; taps: string[]; console?: string; monitor?: string }[];
  daemons?: { host: string; name: string; pid: number; log: string }[];
}

const STATE_ROOT = process.env.TAPVS_LAB_STATE ?? '/run/tapvs-lab';
const READY_TIMEOUT_MS = 15_000;

export const switchNs = (prefix: string) => `${prefix}-sw`;
export const hostNs = (prefix: string, host: string) => `${prefix}-${host}`;
export const stateDir = (prefix: string) => join(STATE_ROOT, prefix);
export const tapName = (router: string, iface: string) => `t-${router}-${iface}`.slice(0, 15);
const bridgeName = (segment: string) => `br-${segment}`.slice(0, 15);

/** The tapvs bundle the lab runs (a source checkout's dist/, or the bundle this code is in). */
export function tapvsBundle(): string {
  const self = fileURLToPath(import.meta.url);
  const candidates = [process.env.TAPVS_BIN, self.endsWith('.js') && self.includes('dist') ? self : undefined, join(dirname(self), '../../dist/tapvs.js')];
  const found = candidates.find((p): p is string => !!p && existsSync(p));
  if (!found) throw new Error('lab: the tapvs bundle is not built (run `npm run build`)');
  return found;
}

export function validatePrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9]{1,7}$/.test(prefix)) throw new Error(`lab prefix '${prefix}' must be 2-8 lowercase letters/digits, starting with a letter`);
}

export function readState(prefix: string): LabState | null {
  const file = join(stateDir(prefix), 'lab.json');
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as LabState;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function isUp(prefix: string): boolean {
  const state = readState(prefix);
  if (!state) return false;
  const namespaces = new Set(listNamespaces());
  return state.routers.every((r) => alive(r.pid)) && state.spec.hosts.every((h) => namespaces.has(hostNs(prefix, h.name))) && namespaces.has(switchNs(prefix));
}

function quietNamespace(ns: string): void {
  // No IPv6 chatter (router solicitations, DAD) in captures; loopback up for local services.
  execIn(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  ipIn(ns, 'link', 'set', 'lo', 'up');
}

function buildNetwork(spec: LabSpec): void {
  const { prefix } = spec;
  const sw = switchNs(prefix);
  run('ip', ['netns', 'add', sw]);
  quietNamespace(sw);
  // A plain switch, like hardware: with br_netfilter loaded the bridge would validate and
  // drop malformed IPv4 itself, and tapvs would never see the garbage it must survive.
  for (const family of ['iptables', 'ip6tables', 'arptables']) {
    execIn(sw, ['sysctl', '-qw', `net.bridge.bridge-nf-call-${family}=0`], { allowFail: true });
  }
  for (const segment of spec.segments) {
    const br = bridgeName(segment);
    ipIn(sw, 'link', 'add', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0');
    ipIn(sw, 'link', 'set', br, 'up');
  }
  for (const host of spec.hosts) {
    const ns = hostNs(prefix, host.name);
    run('ip', ['netns', 'add', ns]);
    quietNamespace(ns);
    ipIn(sw, 'link', 'add', host.name.slice(0, 15), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
    ipIn(sw, 'link', 'set', host.name.slice(0, 15), 'master', bridgeName(host.segment), 'up');
    if (host.mtu) ipIn(ns, 'link', 'set', 'eth0', 'mtu', String(host.mtu));
    for (const cidr of [host.address, ...(host.extraAddresses ?? [])]) ipIn(ns, 'addr', 'add', cidr, 'dev', 'eth0');
    ipIn(ns, 'link', 'set', 'eth0', 'up');
    const nics = [{ dev: 'eth0', address6: host.address6 }];
    (host.moreInterfaces ?? []).forEach((nic, i) => {
      const peer = `${host.name}${i + 1}`.slice(0, 15);
      ipIn(sw, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', `eth${i + 1}`, 'netns', ns);
      ipIn(sw, 'link', 'set', peer, 'master', bridgeName(nic.segment), 'up');
      ipIn(ns, 'addr', 'add', nic.address, 'dev', `eth${i + 1}`);
      ipIn(ns, 'link', 'set', `eth${i + 1}`, 'up');
      nics.push({ dev: `eth${i + 1}`, address6: nic.address6 });
    });
    const dualStack = nics.filter((n) => n.address6);
    if (dualStack.length) {
      // IPv6 on for this host's dual-stack NICs only: no router advertisements taken, no DAD
      // wait (the lab's addresses are unique), so the addresses work at once.
      execIn(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.all.accept_ra=0', 'net.ipv6.conf.all.accept_dad=0']);
      for (const n of dualStack) {
        execIn(ns, ['sysctl', '-qw', `net.ipv6.conf.${n.dev}.disable_ipv6=0`, `net.ipv6.conf.${n.dev}.accept_ra=0`, `net.ipv6.conf.${n.dev}.accept_dad=0`]);
        ipIn(ns, '-6', 'addr', 'add', n.address6!, 'dev', n.dev, 'nodad');
      }
      if (host.gateway6) ipIn(ns, '-6', 'route', 'add', 'default', 'via', host.gateway6);
      if (host.forwarding) execIn(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']);
    }
    if (host.forwarding) execIn(ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    if (host.gateway) ipIn(ns, 'route', 'add', 'default', 'via', host.gateway);
    for (const cmd of host.setup ?? []) execIn(ns, cmd);
  }
  // An appliance has a management NIC of its own (labUp); otherwise the switch namespace's
  // kernel plays the director's kernel.
  if (spec.management && !spec.appliance) {
    ipIn(sw, 'link', 'add', 'mgmt', 'type', 'veth', 'peer', 'name', 'mgmt-port');
    ipIn(sw, 'link', 'set', 'mgmt-port', 'master', bridgeName(spec.management.segment), 'up');
    ipIn(sw, 'addr', 'add', spec.management.address, 'dev', 'mgmt');
    ipIn(sw, 'link', 'set', 'mgmt', 'up');
  }
  for (const router of spec.routers) {
    for (const iface of router.interfaces) {
      const tap = tapName(router.name, iface.name);
      execIn(sw, ['ip', 'tuntap', 'add', 'mode', 'tap', 'name', tap]);
      ipIn(sw, 'link', 'set', tap, 'master', bridgeName(iface.segment), 'up');
    }
  }
}

/** Where a lab router's control socket is (tapvsadm --socket, or TAPVS_SOCKET). */
export const controlSocket = (prefix: string, router: string) => join(stateDir(prefix), `${router}.sock`);

/** Lab routers get MACs derived from the lab, so scripts and tests can know them. */
export const labRouterMac = (prefix: string, router: string, iface: string) => formatMac(defaultMac(`lab:${prefix}:${router}:${iface}`));

export function routerConfig(prefix: string, router: LabRouter): Record<string, unknown> {
  return {
    interfaces: router.interfaces.map((i) => ({
      name: i.name,
      tap: tapName(router.name, i.name),
      mac: labRouterMac(prefix, router.name, i.name),
      tapMode: 'attach',
      addresses: i.addresses,
      ...(i.mtu ? { mtu: i.mtu } : {}),
    })),
    routes: router.routes ?? [],
    ...(router.services ? { services: router.services } : {}),
    control: { socket: controlSocket(prefix, router.name), ...(router.metrics ? { metrics: router.metrics } : {}) },
    ...(router.extra ?? {}),
  };
}

async function waitForListener(ns: string, port: number, what: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const out = run('ip', ['netns', 'exec', ns, 'ss', '-ltunH'], { allowFail: true });
    if (out.split('\n').some((l) => (l.trim().split(/\s+/)[4] ?? '').endsWith(`:${port}`))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`lab: ${what} did not listen on port ${port} within ${READY_TIMEOUT_MS} ms`);
}

async function waitForReady(logFile: string, pid: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    if (text.includes('"msg":"ready"')) return;
    if (!alive(pid)) throw new Error(`tapvs exited before it was ready; its log (${logFile}):\n${text.trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`tapvs did not report ready within ${READY_TIMEOUT_MS} ms (log: ${logFile})`);
}

function saveState(state: LabState): void {
  writeFileSync(join(stateDir(state.spec.prefix), 'lab.json'), JSON.stringify(state, null, 2));
}

/** A lab router as a tapvs process in the switch namespace, on its TAPs. */
async function startTapvsRouter(spec: LabSpec, router: LabRouter, state: LabState): Promise<void> {
  const dir = stateDir(spec.prefix);
  const config = join(dir, `${router.name}.json`);
  const log = join(dir, `${router.name}.log`);
  if (!existsSync(config)) writeFileSync(config, JSON.stringify(routerConfig(spec.prefix, router), null, 2));
  const fd = openSync(log, 'w');
  const child = spawn('ip', ['netns', 'exec', switchNs(spec.prefix), process.execPath, tapvsBundle(), 'run', '--config', config], {
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  child.unref();
  const taps = router.interfaces.map((i) => tapName(router.name, i.name));
  state.routers.push({ name: router.name, pid: child.pid!, config, log, namespace: switchNs(spec.prefix), taps });
  saveState(state); // before waiting: if it never gets ready, lab down must find it
  await waitForReady(log, child.pid!);
}

/**
 * A lab router as the appliance under QEMU: its NICs are the same TAPs, named by MAC in its
 * config, plus a management NIC when the lab has a management segment (health checks).
 */
async function startApplianceRouter(spec: LabSpec, router: LabRouter, state: LabState): Promise<void> {
  const { prefix } = spec;
  const sw = switchNs(prefix);
  const dir = stateDir(prefix);
  const names = router.interfaces.map((i) => i.name);
  const nicMac = (iface: string) => applianceNicMac(prefix, router.name, iface);
  let json = applianceConfig(routerConfig(prefix, router), names.map(nicMac));
  if (spec.management) {
    execIn(sw, ['ip', 'tuntap', 'add', 'mode', 'tap', 'name', tapName(router.name, 'mgmt')]);
    ipIn(sw, 'link', 'set', tapName(router.name, 'mgmt'), 'master', bridgeName(spec.management.segment), 'up');
    names.push('mgmt');
    json = { ...json, management: { nic: nicMac('mgmt'), addresses: [router.managementAddress ?? spec.management.address] } };
  }
  const config = join(dir, `${router.name}.json`);
  writeFileSync(config, JSON.stringify(json, null, 2));
  const taps = names.map((i) => tapName(router.name, i));
  const vm = startAppliance(sw, dir, router.name, spec.appliance!, json, taps, names.map(nicMac));
  state.routers.push({ name: router.name, pid: vm.pid, config, log: vm.log, namespace: sw, taps, console: vm.console, monitor: vm.monitor });
  saveState(state);
  await waitForAppliance(vm, () => alive(vm.pid));
}

/**
 * Stops one tapvs router of a lab that is up, with `signal` (SIGKILL: a crash; SIGTERM: a
 * graceful stop), and waits until it is gone. Its log stays, as NAME.log, for the next start.
 */
export async function stopLabRouter(prefix: string, name: string, signal: NodeJS.Signals): Promise<void> {
  const r = readState(prefix)?.routers.find((x) => x.name === name);
  if (!r) throw new Error(`lab '${prefix}' has no router '${name}'`);
  if (alive(r.pid)) process.kill(r.pid, signal);
  for (let i = 0; i < 250 && alive(r.pid); i++) await new Promise((res) => setTimeout(res, 20));
  if (alive(r.pid)) throw new Error(`router ${name} (pid ${r.pid}) did not stop on ${signal}`);
}

/** Starts a stopped tapvs router again on its config; the old log moves to NAME.previous.log. */
export async function startLabRouter(prefix: string, name: string): Promise<void> {
  const state = readState(prefix);
  const i = state?.routers.findIndex((x) => x.name === name) ?? -1;
  if (!state || i < 0) throw new Error(`lab '${prefix}' has no router '${name}'`);
  const old = state.routers[i];
  if (alive(old.pid)) throw new Error(`router ${name} still runs (pid ${old.pid})`);
  if (existsSync(old.log)) renameSync(old.log, old.log.replace(/\.log$/, '.previous.log'));
  state.routers.splice(i, 1);
  await startTapvsRouter(state.spec, state.spec.routers.find((x) => x.name === name)!, state);
}

/** Builds the lab and starts its routers. Tears down whatever it made if any step fails. */
export async function labUp(spec: LabSpec): Promise<LabState> {
  validatePrefix(spec.prefix);
  if (isUp(spec.prefix)) return readState(spec.prefix)!;
  await labDown(spec.prefix); // a half-built or crashed lab of the same prefix
  const dir = stateDir(spec.prefix);
  mkdirSync(dir, { recursive: true });
  const state: LabState = { spec, routers: [] };
  try {
    buildNetwork(spec);
    state.daemons = [];
    for (const host of spec.hosts) {
      for (const d of host.daemons ?? []) {
        const log = join(dir, `${host.name}-${d.name}.log`);
        const fd = openSync(log, 'w');
        const child = spawn('ip', ['netns', 'exec', hostNs(spec.prefix, host.name), ...d.cmd], { detached: true, stdio: ['ignore', fd, fd] });
        closeSync(fd);
        child.unref();
        state.daemons.push({ host: host.name, name: d.name, pid: child.pid!, log });
      }
    }
    saveState(state); // from here on, lab down finds everything started
    for (const host of spec.hosts) {
      for (const d of host.daemons ?? []) if (d.readyPort) await waitForListener(hostNs(spec.prefix, host.name), d.readyPort, `${host.name} ${d.name}`);
    }
    for (const router of spec.routers) await (spec.appliance ? startApplianceRouter : startTapvsRouter)(spec, router, state);
    return state;
  } catch (e) {
    await labDown(spec.prefix);
    throw e;
  }
}

async function stopProcess(pid: number): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 40));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
}

/** An appliance shuts down cleanly on the power button; one that does not in time is killed. */
async function powerOff(pid: number, monitor: string): Promise<void> {
  try {
    await pressPowerButton(monitor);
  } catch {
    return;
  }
  for (let i = 0; i < 150 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

/** Stops the lab's routers and deletes every namespace under its prefix. Safe to repeat. */
export async function labDown(prefix: string): Promise<void> {
  validatePrefix(prefix);
  const state = readState(prefix);
  for (const r of state?.routers ?? []) {
    if (r.monitor && alive(r.pid)) await powerOff(r.pid, r.monitor);
    await stopProcess(r.pid);
  }
  for (const d of state?.daemons ?? []) await stopProcess(d.pid);
  for (const ns of listNamespaces()) {
    if (ns.startsWith(`${prefix}-`)) run('ip', ['netns', 'delete', ns], { allowFail: true });
  }
  rmSync(stateDir(prefix), { recursive: true, force: true });
}

/** Runs a command on a lab host (or `sw`, the switch namespace). */
export function labNamespace(prefix: string, host: string): string {
  const state = readState(prefix);
  if (host === 'sw' || host === 'switch') return switchNs(prefix);
  if (!state) throw new Error(`lab '${prefix}' is not up (run \`tapvs lab up\`)`);
  if (!state.spec.hosts.some((h) => h.name === host)) {
    throw new Error(`lab '${prefix}' has no host '${host}' (hosts: ${state.spec.hosts.map((h) => h.name).join(', ')}, sw)`);
  }
  return hostNs(prefix, host);
}

function hostMac(prefix: string, host: string): string | null {
  try {
    return run('ip', ['-n', hostNs(prefix, host), '-j', 'link', 'show', 'eth0']).match(/"address":"([0-9a-f:]{17})"/)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The lab as data for scripts: namespaces, interfaces, addresses, routers. */
export function describeLab(state: LabState): Record<string, unknown> {
  const { spec } = state;
  return {
    prefix: spec.prefix,
    switchNamespace: switchNs(spec.prefix),
    hosts: spec.hosts.map((h) => ({
      name: h.name,
      namespace: hostNs(spec.prefix, h.name),
      interface: 'eth0',
      address: h.address,
      address6: h.address6 ?? null,
      mac: hostMac(spec.prefix, h.name),
      gateway: h.gateway ?? null,
      gateway6: h.gateway6 ?? null,
      segment: h.segment,
      moreInterfaces: (h.moreInterfaces ?? []).map((n, i) => ({ interface: `eth${i + 1}`, ...n })),
    })),
    services: spec.routers.flatMap((r) => r.services ?? []),
    routers: state.routers.map((r) => {
      const def = spec.routers.find((x) => x.name === r.name)!;
      return {
        name: r.name,
        pid: r.pid,
        running: alive(r.pid),
        namespace: r.namespace,
        config: r.config,
        log: r.log,
        socket: controlSocket(spec.prefix, r.name),
        interfaces: def.interfaces.map((i, n) => ({ name: i.name, tap: r.taps[n], mac: labRouterMac(spec.prefix, r.name, i.name), segment: i.segment, addresses: i.addresses })),
      };
    }),
  };
}
