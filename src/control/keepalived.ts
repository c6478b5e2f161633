// `tapvs import keepalived`: a keepalived.conf read into tapvs's config. virtual_server (by
// address and port, or a virtual_server_group), lb_algo, lb_kind, persistence, protocol, real
// servers with weight and inhibit_on_failure, their checkers (TCP_CHECK, HTTP_GET, SSL_GET,
// UDP_CHECK, MISC_CHECK) with delay_loop, retry and connect_timeout, and vrrp_instance with the
// sync daemon's interface. Every directive is either converted or named, with its line, in the
// report: none is dropped silently (a directive this file does not know is reported too).

const SCHEDULERS = new Set(['rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'lblc', 'lblcr', 'mh', 'fo', 'ovf', 'twos']);
const METHODS: Record<string, string> = { NAT: 'nat', DR: 'dr', TUN: 'tun' };

/** One directive: its words, its line, and the block after it. */
export interface Directive {
  words: string[];
  line: number;
  block: Directive[] | null;
}

export class KeepalivedSyntaxError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`line ${line}: ${message}`);
  }
}

/** Words, quoted strings and braces; `!` and `#` start comments. */
export function parseKeepalived(text: string): Directive[] {
  const tokens: { word: string; line: number }[] = [];
  text.split('\n').forEach((raw, i) => {
    const re = /"([^"]*)"|([{}])|([^\s{}"!#]+)|([!#].*$)/g;
    for (let m = re.exec(raw); m; m = re.exec(raw)) {
      if (m[4] !== undefined) break; // a comment: the rest of the line
      tokens.push({ word: m[1] ?? m[2] ?? m[3], line: i + 1 });
    }
  });
  let at = 0;
  const block = (depth: number): Directive[] => {
    const out: Directive[] = [];
    while (at < tokens.length) {
      const t = tokens[at];
      if (t.word === '}') {
        if (depth === 0) throw new KeepalivedSyntaxError(t.line, "a '}' closes nothing");
        at++;
        return out;
      }
      if (t.word === '{') throw new KeepalivedSyntaxError(t.line, "a '{' opens a block for no directive");
      // A directive: the words on its line, then a block if a '{' follows.
      const d: Directive = { words: [], line: t.line, block: null };
      while (at < tokens.length && tokens[at].line === t.line && tokens[at].word !== '{' && tokens[at].word !== '}') d.words.push(tokens[at++].word);
      if (at < tokens.length && tokens[at].word === '{') {
        at++;
        d.block = block(depth + 1);
      }
      out.push(d);
    }
    if (depth > 0) throw new KeepalivedSyntaxError(tokens[tokens.length - 1]?.line ?? 1, "a block is not closed: a '}' is missing");
    return out;
  };
  return block(0);
}

export interface ImportResult {
  /** The services and ha section, ready to merge into a base config. */
  services: Record<string, unknown>[];
  ha: { vrrp: Record<string, unknown>[]; sync?: Record<string, unknown> } | null;
  /** Interfaces the file names (vrrp_instance interface, virtual_ipaddress dev). */
  interfaces: string[];
  /** What was not converted, each with its line: "line N: DIRECTIVE: why". */
  report: string[];
  /** Lines whose directives were converted. */
  converted: number[];
  /** Lines the report accounts for: each reported directive and everything in its block. */
  named: number[];
}

/** Converts a parsed keepalived.conf. `file` names it in the report. */
export function convertKeepalived(tree: Directive[], file = 'keepalived.conf'): ImportResult {
  const report: string[] = [];
  const converted = new Set<number>();
  const named = new Set<number>();
  const interfaces = new Set<string>();
  const cover = (d: Directive): void => {
    named.add(d.line);
    for (const c of d.block ?? []) cover(c);
  };
  const note = (d: Directive, why: string) => {
    report.push(`${file}:${d.line}: ${d.words.join(' ')}: ${why}`);
    cover(d);
  };
  const done = (d: Directive) => converted.add(d.line);
  const groups = new Map<string, Directive>();
  for (const d of tree) if (d.words[0] === 'virtual_server_group' && d.words[1]) groups.set(d.words[1], d);
  const services: Record<string, unknown>[] = [];
  const vrrp: Record<string, unknown>[] = [];
  let sync: Record<string, unknown> | undefined;
  let version: number | undefined;

  for (const d of tree) {
    const [name, ...args] = d.words;
    if (name.startsWith('@')) {
      note(d, 'conditional configuration (@name) is not supported: resolve it for this host first');
      continue;
    }
    switch (name) {
      case 'global_defs':
        for (const g of d.block ?? []) {
          if (g.words[0] === 'vrrp_version') {
            version = Number(g.words[1]);
            done(g);
          } else if (g.words[0] === 'lvs_sync_daemon') {
            sync = { iface: g.words[1], ...(g.words.includes('id') ? { syncid: Number(g.words[g.words.indexOf('id') + 1]) } : {}) };
            interfaces.add(g.words[1]);
            done(g);
          } else if (g.words[0] === 'router_id') note(g, 'tapvs logs as tapvs: no router_id');
          else note(g, 'not a tapvs setting (notifications, scripts and the like stay with their tools)');
        }
        done(d);
        break;
      case 'vrrp_instance':
        vrrp.push(convertVrrp(d, note, done, interfaces, (i) => (sync ??= { iface: i })));
        break;
      case 'virtual_server_group':
        if (!tree.some((v) => v.words[0] === 'virtual_server' && v.words[1] === 'group' && v.words[2] === args[0])) note(d, 'no virtual_server uses this group');
        else done(d); // expanded where a virtual_server names it
        break;
      case 'virtual_server':
        services.push(...convertVirtualServer(d, args, groups, note, done));
        break;
      default:
        note(d, 'tapvs has no equivalent');
    }
  }
  for (const v of vrrp) if (version !== undefined && v.version === undefined) v.version = version;
  const sorted = (s: Set<number>) => [...s].sort((a, b) => a - b);
  return { services, ha: vrrp.length || sync ? { vrrp, ...(sync && vrrp.length ? { sync } : {}) } : null, interfaces: [...interfaces], report, converted: sorted(converted), named: sorted(named) };
}

type Note = (d: Directive, why: string) => void;
type Done = (d: Directive) => void;

function convertVrrp(d: Directive, note: Note, done: Done, interfaces: Set<string>, syncOn: (iface: string) => void): Record<string, unknown> {
  const out: Record<string, unknown> = { name: d.words[1] ?? 'VI_1' };
  const addresses: Record<string, unknown>[] = [];
  done(d);
  for (const x of d.block ?? []) {
    const [key, value] = x.words;
    switch (key) {
      case 'interface':
        out.iface = value;
        interfaces.add(value);
        break;
      case 'virtual_router_id':
        out.vrid = Number(value);
        break;
      case 'priority':
        out.priority = Number(value);
        break;
      case 'advert_int':
        out.advertIntervalMs = Math.round(Number(value) * 1000);
        break;
      case 'nopreempt':
        out.preempt = false;
        break;
      case 'version':
        out.version = Number(value);
        break;
      case 'use_vmac':
        out.virtualMac = true;
        if (value) note(x, `the virtual MAC is tapvs's own, on the instance's interface: no device '${value}' is made`);
        break;
      case 'state':
        note(x, 'tapvs starts every instance as BACKUP and lets priority decide (RFC 5798); the initial state is dropped');
        break;
      case 'lvs_sync_daemon_interface':
        syncOn(value);
        interfaces.add(value);
        break;
      case 'virtual_ipaddress':
      case 'virtual_ipaddress_excluded':
        for (const a of x.block ?? []) {
          const address = a.words[0].split('/')[0];
          // IPv6 addresses ride with the IPv4 ones, as keepalived's excluded addresses do; an
          // IPv4 excluded one goes in tapvs's advertisements (tapvs lists every IPv4 address).
          if (key === 'virtual_ipaddress_excluded' && !address.includes(':')) note(a, 'tapvs lists this address in its advertisements, which keepalived leaves it out of');
          const dev = a.words.indexOf('dev') >= 0 ? a.words[a.words.indexOf('dev') + 1] : undefined;
          if (dev) interfaces.add(dev);
          addresses.push(dev ? { address, iface: dev } : { address });
          const extra = a.words.slice(1).filter((w, i, all) => w !== 'dev' && all[i - 1] !== 'dev');
          if (extra.length) note(a, `only the address${dev ? ' and its dev' : ''} are kept (${extra.join(' ')} dropped)`);
          else done(a);
        }
        break;
      case 'authentication':
        note(x, 'VRRP authentication was removed by RFC 5798: tapvs sends none and ignores it');
        continue;
      default:
        note(x, 'tapvs has no equivalent');
        continue;
    }
    done(x);
  }
  const ipv4 = addresses.filter((a) => !String(a.address).includes(':'));
  if (ipv4.length === 0 && addresses.length > 0) note(d, 'only IPv6 addresses: keepalived makes this an IPv6 VRRP instance, and tapvs speaks VRRP over IPv4 only (its IPv6 addresses move with IPv4 ones)');
  out.addresses = addresses;
  return out;
}

/** One tapvs service per address of a virtual_server (a group expands to several). */
function convertVirtualServer(d: Directive, args: string[], groups: Map<string, Directive>, note: Note, done: Done): Record<string, unknown>[] {
  let keys: { vip: string; port: number }[] = [];
  if (args[0] === 'group') {
    const g = groups.get(args[1]);
    if (!g) {
      note(d, `no virtual_server_group named '${args[1]}'`);
      return [];
    }
    for (const m of g.block ?? []) {
      if (m.words[0] === 'fwmark') {
        note(m, 'a firewall mark: tapvs groups a VIP\'s protocol/port pairs itself (a service with fwmark and members), not by iptables marks');
        continue;
      }
      const range = /^(\d+\.\d+\.\d+\.)(\d+)-(\d+)$/.exec(m.words[0]);
      const port = Number(m.words[1] ?? 0);
      if (range) for (let i = Number(range[2]); i <= Number(range[3]); i++) keys.push({ vip: `${range[1]}${i}`, port });
      else if (/-/.test(m.words[0])) {
        note(m, 'an IPv6 range: list its addresses one by one');
        continue;
      } else keys.push({ vip: m.words[0], port });
      done(m);
    }
  } else if (args[0] === 'fwmark') {
    note(d, 'a firewall-mark virtual_server: tapvs has no iptables marks; define a service with fwmark and its members (protocol/port pairs of the VIP) instead');
    return [];
  } else keys = [{ vip: args[0], port: Number(args[1] ?? 0) }];

  const svc: Record<string, unknown> = { protocol: 'tcp', scheduler: 'wlc' };
  let method = 'nat';
  let intervalS = 60;
  const servers: { address: string; port: number; weight: number; inhibit: boolean; check: Record<string, unknown> | null; line: Directive }[] = [];
  done(d);
  for (const x of d.block ?? []) {
    const [key, value] = x.words;
    switch (key) {
      case 'delay_loop':
        intervalS = Math.max(1, Math.round(Number(value)));
        break;
      case 'lb_algo':
      case 'lvs_sched':
        if (!SCHEDULERS.has(value)) {
          note(x, `unknown scheduler '${value}'`);
          continue;
        }
        svc.scheduler = value;
        break;
      case 'lb_kind':
      case 'lvs_method':
        if (!METHODS[value]) {
          note(x, `unknown forwarding method '${value}'`);
          continue;
        }
        method = METHODS[value];
        break;
      case 'protocol':
        if (value !== 'TCP' && value !== 'UDP') {
          note(x, `protocol ${value}: tapvs balances TCP and UDP`);
          continue;
        }
        svc.protocol = value.toLowerCase();
        break;
      case 'persistence_timeout':
        svc.persistence = Number(value);
        break;
      case 'persistence_granularity':
        svc.netmask = value;
        break;
      case 'ops':
        svc.onePacket = true;
        break;
      case 'real_server':
        servers.push(convertRealServer(x, note, done));
        continue;
      default:
        note(x, 'tapvs has no equivalent');
        continue;
    }
    done(x);
  }
  const realServers = servers.map((s) => ({ address: s.address, ...(method === 'nat' || s.port !== keys[0]?.port ? { port: s.port } : {}), weight: s.weight, method }));
  const checked = servers.filter((s) => s.check);
  if (checked.length) {
    const first = checked[0];
    // keepalived's connect_timeout defaults to 5 s; tapvs's timeout may not exceed its interval.
    svc.healthCheck = { ...first.check, interval: intervalS, timeout: Math.min(intervalS, (first.check!.timeout as number | undefined) ?? 5), onFail: first.inhibit ? 'inhibit' : 'remove' };
    for (const s of servers.slice(servers.indexOf(first) + 1)) {
      if (JSON.stringify(s.check) !== JSON.stringify(first.check) || s.inhibit !== first.inhibit) note(s.line, `tapvs checks every real server of a service alike: this one gets the check of the real_server at line ${first.line.line}`);
    }
    for (const s of servers) if (!s.check) note(s.line, `no checker here, but tapvs checks every real server of a service alike: the check of line ${first.line.line} applies`);
  }
  return keys.map((k) => ({ ...svc, vip: k.vip, port: k.port, realServers }));
}

function convertRealServer(d: Directive, note: Note, done: Done): { address: string; port: number; weight: number; inhibit: boolean; check: Record<string, unknown> | null; line: Directive } {
  const out = { address: d.words[1], port: Number(d.words[2] ?? 0), weight: 1, inhibit: false, check: null as Record<string, unknown> | null, line: d };
  done(d);
  for (const x of d.block ?? []) {
    const [key, value] = x.words;
    if (key === 'weight') {
      out.weight = Number(value);
      done(x);
    } else if (key === 'inhibit_on_failure') {
      out.inhibit = true;
      done(x);
    } else if (['TCP_CHECK', 'HTTP_GET', 'SSL_GET', 'UDP_CHECK', 'MISC_CHECK'].includes(key)) {
      if (out.check) note(x, 'a second checker: tapvs runs one check per server');
      else out.check = convertChecker(x, note, done);
    } else if (['SMTP_CHECK', 'PING_CHECK', 'DNS_CHECK', 'BFD_CHECK', 'FILE_CHECK'].includes(key)) {
      note(x, `${key}: tapvs has tcp, http, udp and command checks; none was made (a MISC_CHECK script can do it)`);
    } else note(x, 'tapvs has no equivalent');
  }
  return out;
}

function convertChecker(d: Directive, note: Note, done: Done): Record<string, unknown> {
  const kind = d.words[0];
  const check: Record<string, unknown> = { type: kind === 'HTTP_GET' ? 'http' : kind === 'UDP_CHECK' ? 'udp' : kind === 'MISC_CHECK' ? 'command' : 'tcp' };
  if (kind === 'SSL_GET') note(d, 'tapvs has no TLS check: converted to a TCP connect check on the same port');
  else done(d);
  let urls = 0;
  for (const x of d.block ?? []) {
    const [key, value] = x.words;
    switch (key) {
      case 'connect_port':
        check.port = Number(value);
        break;
      case 'connect_timeout':
      case 'misc_timeout':
        check.timeout = Math.max(1, Math.round(Number(value)));
        break;
      case 'retry':
      case 'nb_get_retry':
        check.fall = Math.max(1, Number(value));
        break;
      case 'misc_path': {
        const words = value.split(/\s+/).filter(Boolean);
        check.command = words;
        note(x, 'tapvs runs the command with the real server\'s address and port appended: check that the script takes them (or ignores them)');
        continue;
      }
      case 'url':
        if (kind !== 'HTTP_GET') {
          note(x, 'a TCP check asks no URL');
          continue;
        }
        if (++urls > 1) {
          note(x, 'a second url: tapvs checks one path');
          continue;
        }
        for (const u of x.block ?? []) {
          if (u.words[0] === 'path') {
            check.path = u.words[1];
            done(u);
          } else if (u.words[0] === 'status_code') {
            check.expectStatus = Number(u.words[1]);
            done(u);
          } else note(u, u.words[0] === 'digest' ? 'tapvs checks the status, not a digest of the page' : 'tapvs has no equivalent');
        }
        break;
      case 'delay_before_retry':
        note(x, 'tapvs retries at the check interval (delay_loop)');
        continue;
      default:
        note(x, 'tapvs has no equivalent');
        continue;
    }
    done(x);
  }
  return check;
}

/**
 * A tapvs config: `base` (its interfaces, routes, control...) with the file's services added and
 * its ha section, the report naming what was not converted, and interfaces the file names that
 * the base lacks.
 */
export function importKeepalived(text: string, file: string, base: Record<string, unknown>): { config: Record<string, unknown>; report: string[] } {
  const r = convertKeepalived(parseKeepalived(text), file);
  const have = new Set(((base.interfaces as { name?: string }[] | undefined) ?? []).map((i) => i.name));
  const report = [...r.report];
  for (const name of r.interfaces) if (!have.has(name)) report.push(`${file}: interface '${name}' is named by the file but is not an interface of the base config: add it there (or rename it in the file)`);
  const config: Record<string, unknown> = { ...base, services: [...((base.services as unknown[] | undefined) ?? []), ...r.services] };
  if (r.ha) config.ha = r.ha;
  return { config, report };
}
