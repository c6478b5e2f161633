// tapvsadm's command line and output against ipvsadm's documented forms.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ListView } from '../../src/control/admin.js';
import { UsageError, parseIpvsadm } from '../../src/control/ipvsadm-args.js';
import { formatConnections, formatDaemons, formatList, formatSave, largeNumber } from '../../src/control/ipvsadm-format.js';

const listOpts = (over = {}) => ({ numeric: true, connections: false, stats: false, rate: false, exact: false, sort: false, timeout: false, thresholds: false, persistentConn: false, daemon: false, ...over });
const zeroStats = { conns: 0, inPackets: 0, outPackets: 0, inBytes: 0, outBytes: 0 };
const zeroRates = { cps: 0, inpps: 0, outpps: 0, inbps: 0, outbps: 0 };
const dest = (address: string, method: 'dr' | 'nat' | 'tun', weight: number, active: number, inact: number) => ({
  address, port: 80, method, forward: { dr: 'Route', nat: 'Masq', tun: 'Tunnel' }[method], weight, configuredWeight: weight, activeConns: active, inactConns: inact, persistConns: 0, upperThreshold: 0, lowerThreshold: 0, stats: zeroStats, rates: zeroRates,
});
const VIEW: ListView = {
  version: '1.2.1',
  size: 4096,
  services: [
    { protocol: 'udp', vip: '192.168.1.2', port: 53, fwmark: 0, scheduler: 'rr', persistence: 0, pe: null, netmask: '255.255.255.255', onePacket: true, flags: [], members: [], udpTimeout: 0, iface: 'lan', failedOut: [], stats: zeroStats, rates: zeroRates, dests: [dest('192.168.1.11', 'dr', 1, 0, 0)] },
    {
      protocol: 'tcp', vip: '192.168.1.2', port: 80, fwmark: 0, scheduler: 'wrr', persistence: 50, pe: null, netmask: '255.255.255.0', onePacket: false, flags: [], members: [], udpTimeout: 0, iface: 'lan', failedOut: [],
      stats: { conns: 123456789, inPackets: 5, outPackets: 0, inBytes: 1e12, outBytes: 0 }, rates: zeroRates,
      dests: [dest('192.168.1.12', 'dr', 2, 0, 0), dest('192.168.1.11', 'nat', 1, 3, 22)],
    },
  ],
};

test('parses ipvsadm commands: clustered flags, -p with and without a timeout, --set', () => {
  const l = parseIpvsadm(['-Ln']);
  assert.is(l.command, 'list');
  assert.ok(l.list.numeric);
  assert.ok(parseIpvsadm(['-lnc']).list.connections);
  const a = parseIpvsadm(['-A', '-t', '192.168.1.2:80', '-s', 'rr', '-p']);
  assert.equal(a.service, { protocol: 'tcp', vip: '192.168.1.2', port: 80, fwmark: 0, scheduler: 'rr', persistence: 300, onePacket: false, flags: [], pe: null });
  const e = parseIpvsadm(['-E', '-u', '192.168.1.2:53']);
  assert.equal([e.service!.scheduler, e.service!.persistence, e.service!.onePacket], ['wlc', 0, false], '-E restates the service: left out means default');
  assert.is(parseIpvsadm(['-A', '-t', '192.168.1.2:80', '-p', '600']).service!.persistence, 600);
  assert.is(parseIpvsadm(['-A', '-t', '192.168.1.2:80', '-p600']).service!.persistence, 600);
  assert.equal(parseIpvsadm(['-a', '-t', '192.168.1.2:80', '-r', '192.168.1.11:8080', '-m', '-w', '3']).dest, { address: '192.168.1.11', port: 8080, method: 'nat', weight: 3 });
  assert.is(parseIpvsadm(['-a', '-u', '192.168.1.2:53', '-r', '192.168.1.11']).dest!.method, 'dr', 'gatewaying is the default');
  assert.equal(parseIpvsadm(['--set', '900', '120', '300']).set, { tcp: 900, tcpfin: 120, udp: 300 });
  assert.equal(parseIpvsadm(['-A', '-f', '7', '-s', 'sh', '-b', 'sh-port,sh-fallback']).service!.flags, ['sh-port', 'sh-fallback']);
  assert.is(parseIpvsadm([]).command, 'list');
});

test('refuses bad syntax with ipvsadm wording', () => {
  const err = (argv: string[]) => {
    try {
      parseIpvsadm(argv);
    } catch (e) {
      assert.instance(e, UsageError);
      return (e as Error).message;
    }
    throw new Error(`accepted ${argv.join(' ')}`);
  };
  assert.match(err(['-A', '-D', '-t', '1.2.3.4:80']), /only specify one command/);
  assert.match(err(['-A', '-t', '1.2.3.400:80']), /Illegal virtual server address\[:port\] specified/);
  assert.match(err(['-A', '-t', '1.2.3.4:0']), /Zero port specified for non-persistent service/);
  assert.match(err(['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8', '-w', 'x']), /Illegal weight specified/);
  assert.match(err(['-a', '-t', '1.2.3.4:80', '-r', '5.6.7.8', '-g', '-m']), /one forwarding method/);
  assert.match(err(['-a', '-r', '5.6.7.8']), /No virtual service specified/);
  assert.match(err(['-L', '--bogus']), /Unknown option --bogus/);
});

test('-L -n in ipvsadm columns, services and servers sorted', () => {
  assert.is(
    formatList(VIEW, listOpts()),
    [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
      'TCP  192.168.1.2:80 wrr persistent 50 mask 255.255.255.0',
      '  -> 192.168.1.11:80              Masq    1      3          22        ',
      '  -> 192.168.1.12:80              Route   2      0          0         ',
      'UDP  192.168.1.2:53 rr ops',
      '  -> 192.168.1.11:80              Route   1      0          0         ',
      '',
    ].join('\n'),
  );
});

test('--stats scales large numbers as ipvsadm does, --exact does not', () => {
  const out = formatList(VIEW, listOpts({ stats: true }));
  assert.match(out, /Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\n/);
  assert.ok(out.includes(`${'TCP  192.168.1.2:80'.padEnd(33)}  123456K        5        0    1000G        0\n`), out);
  assert.is(largeNumber(123456789, true), ' 123456789');
  assert.is(largeNumber(99, false), '       99');
});

test('-S writes rules that name every setting', () => {
  assert.is(
    formatSave(VIEW),
    [
      '-A -t 192.168.1.2:80 -s wrr -p 50 -M 255.255.255.0',
      '-a -t 192.168.1.2:80 -r 192.168.1.11:80 -m -w 1',
      '-a -t 192.168.1.2:80 -r 192.168.1.12:80 -g -w 2',
      '-A -u 192.168.1.2:53 -s rr -o',
      '-a -u 192.168.1.2:53 -r 192.168.1.11:80 -g -w 1',
      '',
    ].join('\n'),
  );
  // Every saved line parses back to the same request.
  for (const line of formatSave(VIEW).trim().split('\n')) assert.ok(parseIpvsadm(line.split(' ')).command.startsWith('add-'));
});

test('--pe sip: parsed, listed and saved so -R takes it back', () => {
  const p = parseIpvsadm(['-A', '-u', '192.168.1.2:5060', '-s', 'rr', '-p', '60', '--pe', 'sip']);
  assert.is(p.service!.pe, 'sip');
  assert.throws(() => parseIpvsadm(['-A', '-u', '192.168.1.2:5060', '-p', '--pe', 'h323']), /Persistence engine not found: h323/);
  assert.throws(() => parseIpvsadm(['-A', '-u', '192.168.1.2:5060', '--pe', 'sip']), /needs a persistent service/);
  const sip: ListView = { ...VIEW, services: [{ ...VIEW.services[0], port: 5060, onePacket: false, persistence: 60, pe: 'sip' }] };
  assert.match(formatList(sip, listOpts()), /UDP  192\.168\.1\.2:5060 rr persistent 60 pe sip\n/);
  const saved = formatSave(sip).split('\n')[0];
  assert.is(saved, '-A -u 192.168.1.2:5060 -s rr -p 60 --pe sip');
  assert.is(parseIpvsadm(saved.split(' ')).service!.pe, 'sip');
});

test('-L -c lists connections with expiry as mm:ss', () => {
  const out = formatConnections([{ protocol: 'TCP', expiresS: 899, state: 'ESTABLISHED', client: '10.0.0.2:40000', virtual: '192.168.1.2:80', destination: '192.168.1.11:80', template: false }]);
  assert.is(out, 'IPVS connection entries\npro expire state       source             virtual            destination\nTCP 14:59  ESTABLISHED 10.0.0.2:40000     192.168.1.2:80     192.168.1.11:80\n');
});

test("ipvsadm's daemon commands: --start-daemon with --mcast-interface and --syncid, --stop-daemon, -L --daemon", () => {
  assert.equal(parseIpvsadm(['--start-daemon', 'master', '--mcast-interface', 'lan', '--syncid', '5']).daemon, { state: 'master', iface: 'lan', syncid: 5 });
  assert.equal(parseIpvsadm(['--stop-daemon', 'backup']).command, 'stop-daemon');
  assert.ok(parseIpvsadm(['-L', '--daemon']).list.daemon);
  assert.throws(() => parseIpvsadm(['--start-daemon', 'leader', '--mcast-interface', 'lan']), /needs master or backup/);
  assert.throws(() => parseIpvsadm(['--start-daemon', 'master']), /needs --mcast-interface/);
  assert.throws(() => parseIpvsadm(['--start-daemon', 'master', '--mcast-interface', 'lan', '--syncid', '256']), /Illegal syncid/);
  assert.throws(() => parseIpvsadm(['-L', '--syncid', '3']), /go with --start-daemon/);
  const view = { sync: { master: true, backup: false, iface: 'lan', syncid: 5, maxlen: 1472, peer: null, sending: true, resync: { state: 'none', ms: null, entries: null } }, vrrp: [] };
  assert.is(formatDaemons(view), 'master sync daemon (mcast=lan, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n');
});


test("IPv6 in ipvsadm's syntax: [addr]:port, a bare address, -M as a prefix length, -f N -6", () => {
  const a = parseIpvsadm(['-A', '-t', '[2001:DB8::1]:80', '-s', 'sh', '-p', '-M', '64']);
  assert.equal([a.service!.vip, a.service!.port, a.service!.netmask], ['2001:db8::1', 80, '64'], 'canonical text');
  assert.is(parseIpvsadm(['-A', '-t', '[2001:db8::1]:80']).service!.netmask, '128', 'the whole address by default');
  assert.equal(parseIpvsadm(['-a', '-t', '[2001:db8::1]:80', '-r', '[2001:db8:2::11]:8080', '-m']).dest, { address: '2001:db8:2::11', port: 8080, method: 'nat' });
  assert.equal(parseIpvsadm(['-a', '-t', '[2001:db8::1]:80', '-r', '2001:db8:2::11']).dest, { address: '2001:db8:2::11', port: 0, method: 'dr' }, 'bare: no port');
  const f = parseIpvsadm(['-A', '-f', '7', '-6', '-s', 'rr']).service!;
  assert.equal([f.fwmark, f.vip], [7, '::']);
  for (const bad of ['[2001:db8::1', '[2001:db8::g]:80', '[2001:db8::1]:99999', '2001:db8::1::2']) {
    assert.throws(() => parseIpvsadm(['-A', '-t', bad]), /Illegal virtual server address\[:port\] specified/, bad);
  }
});

test('IPv6 services listed and saved as ipvsadm prints them: brackets, never cut, mask as a prefix length, FWM IPv6', () => {
  const v6 = {
    ...VIEW.services[1], vip: '2001:db8:1234:5678:9abc:def0:1234:5678', port: 443, persistence: 300, netmask: '64', scheduler: 'sh',
    dests: [dest('2001:db8:2::12', 'dr', 1, 0, 0), dest('2001:db8:2::11', 'tun', 1, 0, 0), dest('2001:db8:1234:5678:9abc:def0:1234:ffff', 'dr', 1, 0, 0)],
  };
  const mark = { ...VIEW.services[0], protocol: null, vip: '::', port: 0, fwmark: 9, onePacket: false, dests: [] };
  const view: ListView = { ...VIEW, services: [v6, ...VIEW.services, mark] };
  const lines = formatList(view, listOpts()).split('\n');
  // ipvsadm's "  -> %-28s %-7s %-6d %-10u %-10u": an IPv6 name longer than its column pushes the rest along.
  const row = (name: string, forward: string, weight: number, active: number, inact: number) => `  -> ${name.padEnd(28)} ${forward.padEnd(7)} ${String(weight).padEnd(6)} ${String(active).padEnd(10)} ${String(inact).padEnd(10)}`;
  assert.equal(lines.slice(3), [
    'TCP  192.168.1.2:80 wrr persistent 50 mask 255.255.255.0',
    row('192.168.1.11:80', 'Masq', 1, 3, 22),
    row('192.168.1.12:80', 'Route', 2, 0, 0),
    'TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:443 sh persistent 300 mask 64',
    row('[2001:db8:2::11]:80', 'Tunnel', 1, 0, 0),
    row('[2001:db8:2::12]:80', 'Route', 1, 0, 0),
    '  -> [2001:db8:1234:5678:9abc:def0:1234:ffff]:80 Route   1      0          0         ',
    'UDP  192.168.1.2:53 rr ops',
    row('192.168.1.11:80', 'Route', 1, 0, 0),
    'FWM  9 IPv6 rr',
    '',
  ]);

  const saved = formatSave(view);
  assert.match(saved, /^-A -t \[2001:db8:1234:5678:9abc:def0:1234:5678\]:443 -s sh -p 300 -M 64$/m);
  assert.match(saved, /^-a -t \[2001:db8:1234:5678:9abc:def0:1234:5678\]:443 -r \[2001:db8:2::11\]:80 -i -w 1$/m);
  assert.match(saved, /^-A -f 9 -6 -s rr$/m);
  // What -S writes, -R reads back to the same service.
  const back = parseIpvsadm(saved.split('\n').find((l) => l.startsWith('-A -t [2001'))!.split(' '));
  assert.equal([back.service!.vip, back.service!.port, back.service!.netmask, back.service!.persistence], [v6.vip, 443, '64', 300]);
});

test.run();
