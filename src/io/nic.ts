// Taking over a physical NIC: tapvs's TAP and the NIC become the only ports of a bridge of
// their own, so every frame on the wire reaches the router and nothing else.
//
// The kernel must never answer for a VIP, so the NIC, the bridge and the TAP hold no IPv4
// address, answer no ARP and have IPv6 switched off; a NIC that holds an address is refused
// (it is someone's management leg). Bridging leaves offloads to the kernel: a bridge turns
// LRO off on its ports, and a GRO-merged frame is cut back to wire-sized frames before it
// reaches a TAP that advertises no segmentation offload, which ours does not.
//
// Runs `ip` (iproute2, or busybox's in the appliance): setup only, never on the packet path.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

const SYS_NET = '/sys/class/net';

export interface TakenNic {
  nic: string;
  bridge: string;
}

/** The bridge that joins an interface's TAP to its NIC. */
export function bridgeNameFor(tap: string): string {
  return `tvb-${tap}`.slice(0, 15);
}

/** Network devices and their MACs (lower case), bridges and TUN/TAPs left out. */
export function listNics(): { name: string; mac: string }[] {
  if (!existsSync(SYS_NET)) return [];
  return readdirSync(SYS_NET)
    .filter((name) => !existsSync(`${SYS_NET}/${name}/bridge`) && !existsSync(`${SYS_NET}/${name}/tun_flags`) && name !== 'lo')
    .map((name) => ({ name, mac: readSys(`${name}/address`)?.toLowerCase() ?? '' }))
    .filter((n) => n.mac !== '' && n.mac !== '00:00:00:00:00:00');
}

/**
 * What would stop takeOverNic and setUpManagement for these MACs, found without changing
 * anything: NICs that are not there, data NICs the kernel holds an address on.
 */
export function nicProblems(dataMacs: string[], managementMac: string | null): string[] {
  const problems: string[] = [];
  for (const mac of [...dataMacs, ...(managementMac ? [managementMac] : [])]) {
    try {
      const nic = findNic(mac);
      const held = dataMacs.includes(mac) ? ipv4On(nic) : [];
      if (held.length) problems.push(`NIC ${nic} (${mac}) holds ${held.join(', ')}`);
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  return problems;
}

/** Puts the NIC named by `mac` on a bridge of its own, ready for the TAP (see joinBridge). */
export function takeOverNic(mac: string, tap: string): TakenNic {
  const nic = findNic(mac);
  const held = ipv4On(nic);
  if (held.length > 0) {
    throw new Error(`NIC ${nic} (${mac}) holds ${held.join(', ')}: tapvs takes over only NICs the kernel has no address on, so that the kernel never answers for a VIP`);
  }
  const bridge = bridgeNameFor(tap);
  if (!existsSync(`${SYS_NET}/${bridge}`)) ip('link', 'add', 'name', bridge, 'type', 'bridge');
  for (const dev of [bridge, nic]) quietKernel(dev);
  // A bridge passes frames between its ports untouched: no STP delay, no netfilter detour.
  for (const [knob, value] of [['stp_state', '0'], ['nf_call_iptables', '0'], ['nf_call_arptables', '0'], ['multicast_snooping', '0']]) {
    writeSys(`${bridge}/bridge/${knob}`, value);
  }
  ip('link', 'set', 'dev', nic, 'master', bridge);
  ip('link', 'set', 'dev', nic, 'up');
  ip('link', 'set', 'dev', bridge, 'up');
  return { nic, bridge };
}

/**
 * Waits, at most `timeoutMs`, for the NIC's link: a real NIC negotiates for a second or more
 * after it is set up, and what the router sends before that (its ARP announcements, the first
 * replies) is lost. Start-up only; returns whether the link came.
 */
export function waitForCarrier(nic: string, timeoutMs: number): boolean {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (const deadline = Date.now() + timeoutMs; ; Atomics.wait(pause, 0, 0, 50)) {
    if (readSys(`${nic}/carrier`) === '1') return true;
    if (Date.now() >= deadline) return false;
  }
}

/** Adds the router's TAP (open, so it exists) to the NIC's bridge. */
export function joinBridge(tap: string, bridge: string): void {
  quietKernel(tap);
  ip('link', 'set', 'dev', tap, 'master', bridge);
  ip('link', 'set', 'dev', tap, 'up');
}

/**
 * The management NIC: the kernel's own addresses (health checks leave from them, operators
 * reach the box on them), and a default route for the kernel if a gateway is given. Idempotent.
 */
export function setUpManagement(mac: string, cidrs: string[], gateway: string | null): string {
  const nic = findNic(mac);
  ip('link', 'set', 'dev', nic, 'up');
  for (const cidr of cidrs) ip('addr', 'replace', cidr, 'dev', nic);
  if (gateway) ip('route', 'replace', 'default', 'via', gateway, 'dev', nic);
  return nic;
}

/** The IPv4 addresses (CIDR) the kernel holds on a device. */
function ipv4On(dev: string): string[] {
  return ip('-4', '-o', 'addr', 'show', 'dev', dev)
    .split('\n')
    .filter((l) => l.includes(' inet '))
    .map((l) => l.trim().split(/\s+/)[3]);
}

function findNic(mac: string): string {
  const nics = listNics();
  const nic = nics.find((n) => n.mac === mac)?.name;
  if (nic) return nic;
  const seen = nics.map((n) => `${n.name} ${n.mac}`).join(', ') || 'none';
  throw new Error(`no NIC has MAC ${mac} (NICs here: ${seen})`);
}

/**
 * The kernel stays silent on a device tapvs owns: no IPv6 (no link-local address, no router
 * solicitations), and no ARP replies at all (arp_ignore 8). Without the latter, a kernel with
 * a management address answers ARP for it on the data bridge too (Linux replies for any of
 * its addresses on any interface), and the management address flaps between two MACs.
 */
/**
 * The kernel's own stack stays off a device tapvs takes: no IPv6, no ARP answers, and strict
 * reverse-path filtering, so that a packet sent to the bridge's MAC for one of the kernel's
 * addresses (its management address) is dropped: no route back to any source points here.
 */
function quietKernel(dev: string): void {
  const knobs = [
    [`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`, '1'],
    [`/proc/sys/net/ipv4/conf/${dev}/arp_ignore`, '8'],
    [`/proc/sys/net/ipv4/conf/${dev}/rp_filter`, '1'],
  ];
  for (const [knob, value] of knobs) {
    if (existsSync(knob)) writeFileSync(knob, value);
  }
}

function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(err.stderr ?? err.message).trim()}`);
  }
}

function readSys(path: string): string | null {
  try {
    return readFileSync(`${SYS_NET}/${path}`, 'utf8').trim();
  } catch {
    return null;
  }
}

function writeSys(path: string, value: string): void {
  if (existsSync(`${SYS_NET}/${path}`)) writeFileSync(`${SYS_NET}/${path}`, value);
}
