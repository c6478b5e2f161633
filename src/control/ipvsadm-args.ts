// ipvsadm's command line: clustered short options (-Ln), long options, and the one-command-
// per-invocation rule. Produces a plain description of what was asked; errors use ipvsadm's
// wording where it has one.

import type { DestSpec, MethodName, ServiceRef, ServiceSpec } from './admin.js';
import { parseIpv4 } from '../packet/address.js';
import { formatIpv6, parseIpv6 } from '../packet/address6.js';

export type Command =
  | 'add-service'
  | 'edit-service'
  | 'delete-service'
  | 'clear'
  | 'restore'
  | 'save'
  | 'add-dest'
  | 'edit-dest'
  | 'delete-dest'
  | 'list'
  | 'zero'
  | 'set'
  | 'start-daemon'
  | 'stop-daemon'
  | 'help'
  | 'version';

export interface ListOptions {
  numeric: boolean;
  connections: boolean;
  stats: boolean;
  rate: boolean;
  exact: boolean;
  sort: boolean;
  timeout: boolean;
  thresholds: boolean;
  persistentConn: boolean;
  /** -L --daemon: the sync daemons. */
  daemon: boolean;
}

/** --start-daemon / --stop-daemon: which daemon, and (to start) where and with which syncid. */
export interface DaemonSpec {
  state: 'master' | 'backup';
  iface?: string;
  syncid?: number;
}

export interface Parsed {
  command: Command;
  service?: ServiceSpec;
  dest?: DestSpec;
  set?: { tcp: number; tcpfin: number; udp: number };
  list: ListOptions;
  daemon?: DaemonSpec;
  socket?: string;
}

export class UsageError extends Error {}

const COMMANDS: Record<string, Command> = {
  A: 'add-service', 'add-service': 'add-service',
  E: 'edit-service', 'edit-service': 'edit-service',
  D: 'delete-service', 'delete-service': 'delete-service',
  C: 'clear', clear: 'clear',
  R: 'restore', restore: 'restore',
  S: 'save', save: 'save',
  a: 'add-dest', 'add-server': 'add-dest',
  e: 'edit-dest', 'edit-server': 'edit-dest',
  d: 'delete-dest', 'delete-server': 'delete-dest',
  L: 'list', l: 'list', list: 'list',
  Z: 'zero', zero: 'zero',
  set: 'set',
  h: 'help', help: 'help',
  version: 'version',
};

// Options that take a value, by short and long name.
const WITH_VALUE: Record<string, string> = {
  t: 'tcp-service', 'tcp-service': 'tcp-service',
  u: 'udp-service', 'udp-service': 'udp-service',
  f: 'fwmark-service', 'fwmark-service': 'fwmark-service',
  s: 'scheduler', scheduler: 'scheduler',
  M: 'netmask', netmask: 'netmask',
  r: 'real-server', 'real-server': 'real-server',
  w: 'weight', weight: 'weight',
  x: 'u-threshold', 'u-threshold': 'u-threshold',
  y: 'l-threshold', 'l-threshold': 'l-threshold',
  b: 'sched-flags', 'sched-flags': 'sched-flags',
  pe: 'pe',
  'mcast-interface': 'mcast-interface',
  syncid: 'syncid',
  socket: 'socket',
};

const FLAGS: Record<string, string> = {
  g: 'gatewaying', gatewaying: 'gatewaying',
  i: 'ipip', ipip: 'ipip',
  m: 'masquerading', masquerading: 'masquerading',
  n: 'numeric', numeric: 'numeric',
  c: 'connection', connection: 'connection',
  o: 'ops', ops: 'ops',
  '6': 'ipv6', ipv6: 'ipv6',
  daemon: 'daemon', stats: 'stats', rate: 'rate', exact: 'exact', sort: 'sort', timeout: 'timeout', thresholds: 'thresholds', 'persistent-conn': 'persistent-conn',
};

const DEFAULT_PERSISTENCE = 300;

/** address[:port] as ipvsadm takes it: IPv4 dotted, IPv6 bare or in brackets ([2001:db8::1]:80). */
function parseAddrPort(text: string, what: string): { address: string; port: number } {
  const illegal = new UsageError(`Illegal ${what} address[:port] specified`);
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})|([0-9a-fA-F.]*:[0-9a-fA-F.]*:[0-9a-fA-F:.]*))(?::(\d{1,5}))?$/.exec(text);
  if (!m || (m[4] !== undefined && Number(m[4]) > 65535)) throw illegal;
  const port = m[4] === undefined ? 0 : Number(m[4]);
  if (m[2] !== undefined) {
    if (parseIpv4(m[2]) === null) throw illegal;
    return { address: m[2], port };
  }
  // A bare IPv6 address takes no port: its last group would be read as one.
  if (m[3] !== undefined && m[4] !== undefined) {
    const whole = parseIpv6(`${m[3]}:${m[4]}`);
    if (whole === null) throw illegal;
    return { address: formatIpv6(whole), port: 0 };
  }
  const v6 = parseIpv6(m[1] ?? m[3]);
  if (v6 === null) throw illegal;
  return { address: formatIpv6(v6), port };
}

function number(text: string | undefined, what: string, max: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > max) throw new UsageError(`Illegal ${what} specified`);
  return Number(text);
}

export function parseIpvsadm(argv: string[]): Parsed {
  const list: ListOptions = { numeric: false, connections: false, stats: false, rate: false, exact: false, sort: false, timeout: false, thresholds: false, persistentConn: false, daemon: false };
  let daemonState: string | undefined;
  let command: Command | undefined;
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  let persistence: number | undefined;
  let set: Parsed['set'];

  const setCommand = (c: Command) => {
    if (command && command !== c) throw new UsageError('You may only specify one command (Try tapvsadm -h)');
    command = c;
  };

  // Split clusters: "-Ln" -> "-L" "-n"; "-p600" keeps its value; "--x=y" -> "--x" "y".
  const tokens: string[] = [];
  for (const arg of argv) {
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      if (eq > 0) tokens.push(arg.slice(0, eq), arg.slice(eq + 1));
      else tokens.push(arg);
    } else if (arg.startsWith('-') && arg.length > 2 && !/^-\d/.test(arg)) {
      for (let i = 1; i < arg.length; i++) {
        const ch = arg[i];
        tokens.push(`-${ch}`);
        if ((WITH_VALUE[ch] || ch === 'p') && i + 1 < arg.length) {
          tokens.push(arg.slice(i + 1));
          break;
        }
      }
    } else tokens.push(arg);
  }

  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (!tok.startsWith('-') || tok === '-') throw new UsageError(`Unexpected argument '${tok}' (Try tapvsadm -h)`);
    const name = tok.replace(/^--?/, '');
    if (COMMANDS[name] && !(name === 'set' && !tok.startsWith('--'))) {
      setCommand(COMMANDS[name]);
      if (COMMANDS[name] === 'set') {
        const [a, b, c] = [tokens[i + 1], tokens[i + 2], tokens[i + 3]];
        set = { tcp: number(a, 'timeout', 2 ** 31), tcpfin: number(b, 'timeout', 2 ** 31), udp: number(c, 'timeout', 2 ** 31) };
        i += 3;
      }
    } else if (name === 'start-daemon' || name === 'stop-daemon') {
      setCommand(name);
      daemonState = tokens[++i];
      if (daemonState !== 'master' && daemonState !== 'backup') throw new UsageError(`--${name} needs master or backup`);
    } else if (name === 'p' || name === 'persistent') {
      const next = tokens[i + 1];
      if (next !== undefined && /^\d+$/.test(next)) {
        persistence = number(next, 'timeout', 2 ** 31);
        i++;
      } else persistence = DEFAULT_PERSISTENCE;
      if (persistence === 0) throw new UsageError('Illegal timeout specified');
    } else if (WITH_VALUE[name]) {
      const v = tokens[++i];
      if (v === undefined) throw new UsageError(`Option ${tok} needs an argument`);
      values[WITH_VALUE[name]] = v;
    } else if (FLAGS[name]) {
      flags.add(FLAGS[name]);
    } else {
      throw new UsageError(`Unknown option ${tok} (Try tapvsadm -h)`);
    }
  }
  // As ipvsadm: no command at all means list.
  if (!command) {
    if (Object.keys(values).some((k) => k !== 'socket') || persistence !== undefined) throw new UsageError('No command specified (Try tapvsadm -h)');
    command = 'list';
  }

  list.numeric = flags.has('numeric');
  list.connections = flags.has('connection');
  list.stats = flags.has('stats');
  list.rate = flags.has('rate');
  list.exact = flags.has('exact');
  list.sort = flags.has('sort');
  list.timeout = flags.has('timeout');
  list.thresholds = flags.has('thresholds');
  list.persistentConn = flags.has('persistent-conn');
  list.daemon = flags.has('daemon');

  const parsed: Parsed = { command, list, socket: values.socket };
  if (set) parsed.set = set;
  if (daemonState !== undefined) {
    parsed.daemon = { state: daemonState as DaemonSpec['state'] };
    if (values['mcast-interface'] !== undefined) parsed.daemon.iface = values['mcast-interface'];
    if (values.syncid !== undefined) parsed.daemon.syncid = number(values.syncid, 'syncid', 255);
    if (command === 'start-daemon' && parsed.daemon.iface === undefined) throw new UsageError('--start-daemon needs --mcast-interface (a tapvs interface name)');
  } else if (values['mcast-interface'] !== undefined || values.syncid !== undefined) throw new UsageError('--mcast-interface and --syncid go with --start-daemon');

  const kinds = ['tcp-service', 'udp-service', 'fwmark-service'].filter((k) => values[k] !== undefined);
  if (kinds.length > 1) throw new UsageError('You may only specify one virtual service');
  if (kinds.length === 1) {
    let ref: ServiceRef;
    if (kinds[0] === 'fwmark-service') {
      // -6 makes it an IPv6 mark service (ipvsadm's -f N -6).
      ref = { protocol: null, vip: flags.has('ipv6') ? '::' : '0.0.0.0', port: 0, fwmark: number(values['fwmark-service'], 'firewall mark', 2 ** 32 - 1) };
      if (ref.fwmark === 0) throw new UsageError('Illegal firewall mark specified');
    } else {
      const { address, port } = parseAddrPort(values[kinds[0]], 'virtual server');
      if (port === 0 && persistence === undefined && command === 'add-service') throw new UsageError('Zero port specified for non-persistent service');
      ref = { protocol: kinds[0] === 'tcp-service' ? 'tcp' : 'udp', vip: address, port, fwmark: 0 };
    }
    const service: ServiceSpec = { ...ref };
    if (values.scheduler !== undefined) service.scheduler = values.scheduler;
    if (persistence !== undefined) service.persistence = persistence;
    if (values.netmask !== undefined) service.netmask = values.netmask;
    if (flags.has('ops')) service.onePacket = true;
    if (values['sched-flags'] !== undefined) service.flags = values['sched-flags'].split(',').filter(Boolean);
    if (values.pe !== undefined) {
      if (values.pe !== 'sip') throw new UsageError(`Persistence engine not found: ${values.pe} (known: sip)`);
      if (persistence === undefined && command === 'add-service') throw new UsageError('A persistence engine needs a persistent service (-p)');
      service.pe = 'sip';
    }
    parsed.service = service;
  }

  if (values['real-server'] !== undefined) {
    const { address, port } = parseAddrPort(values['real-server'], 'real server');
    const methods: MethodName[] = [];
    if (flags.has('gatewaying')) methods.push('dr');
    if (flags.has('masquerading')) methods.push('nat');
    if (flags.has('ipip')) methods.push('tun');
    if (methods.length > 1) throw new UsageError('You may only specify one forwarding method');
    const dest: DestSpec = { address, port };
    if (methods.length) dest.method = methods[0];
    if (values.weight !== undefined) dest.weight = number(values.weight, 'weight', 65535);
    if (values['u-threshold'] !== undefined) dest.upperThreshold = number(values['u-threshold'], 'upper threshold', 2 ** 31);
    if (values['l-threshold'] !== undefined) dest.lowerThreshold = number(values['l-threshold'], 'lower threshold', 2 ** 31);
    parsed.dest = dest;
  }

  const needsService: Command[] = ['add-service', 'edit-service', 'delete-service', 'add-dest', 'edit-dest', 'delete-dest'];
  if (needsService.includes(command) && !parsed.service) throw new UsageError('No virtual service specified (use -t, -u or -f)');
  if (['add-dest', 'edit-dest', 'delete-dest'].includes(command) && !parsed.dest) throw new UsageError('No real server specified (use -r)');
  if (command === 'add-dest' && parsed.dest && parsed.dest.method === undefined) parsed.dest.method = 'dr';
  // As ipvsadm: -A and -E state the whole service; what they leave out takes its default.
  if ((command === 'add-service' || command === 'edit-service') && parsed.service) {
    const svc = parsed.service;
    svc.scheduler ??= 'wlc';
    svc.persistence ??= 0;
    svc.onePacket ??= false;
    svc.flags ??= [];
    svc.pe ??= null;
    if (!svc.persistence) svc.netmask ??= svc.vip.includes(':') ? '128' : '255.255.255.255';
  }
  return parsed;
}

export const USAGE = `tapvsadm: ipvsadm's commands for tapvs (over its control socket)

  tapvsadm -A|E -t|u|f service-address [-6] [-s scheduler] [-p [timeout]] [-M netmask] [-o] [-b sched-flags]
  tapvsadm -D -t|u|f service-address
  tapvsadm -C
  tapvsadm -R
  tapvsadm -S [-n]
  tapvsadm -a|e -t|u|f service-address -r server-address [-g|i|m] [-w weight] [-x upper] [-y lower]
  tapvsadm -d -t|u|f service-address -r server-address
  tapvsadm -L|l [-t|u|f service-address] [-n] [-c] [--stats] [--rate] [--exact] [--sort] [--thresholds] [--persistent-conn] [--timeout]
  tapvsadm -Z [-t|u|f service-address]
  tapvsadm --set tcp tcpfin udp
  tapvsadm --start-daemon master|backup --mcast-interface IFACE [--syncid N]
  tapvsadm --stop-daemon master|backup
  tapvsadm -L --daemon

  --socket PATH (or TAPVS_SOCKET): the tapvs control socket (default /run/tapvs/tapvs.sock)
  -g direct routing (Route), -m NAT (Masq), -i IP-in-IP (Tunnel; IPv6-in-IPv6 for IPv6 services)
  IPv6: -t [2001:db8::1]:80, -r [2001:db8::11]:80, -M prefix-length, -f N -6 for a mark service
  schedulers: rr wrr lc wlc sed nq sh dh lblc lblcr mh fo ovf twos`;
