// `tapvs import keepalived` on every sample Debian's keepalived package ships: each converts to
// a config `tapvs check` accepts (given a base with the interfaces the file names), and every
// directive of every file is either converted or named, with its line, in the report.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeepalivedSyntaxError, convertKeepalived, importKeepalived, parseKeepalived, type Directive } from '../../src/control/keepalived.js';
import { parseConfig } from '../../src/control/config.js';
import { checkConfig } from '../../src/control/check.js';
import { formatIpv6, maskPrefix6, parseIpv6 } from '../../src/packet/address6.js';

const SAMPLES = '/usr/share/doc/keepalived/samples';
const samples = existsSync(SAMPLES) ? readdirSync(SAMPLES).filter((f) => f.startsWith('keepalived.conf')) : [];

function lines(tree: Directive[]): number[] {
  return tree.flatMap((d) => [d.line, ...lines(d.block ?? [])]);
}

/** A base config for a converted file: each interface it names, on networks that hold its servers and VIPs. */
function baseFor(config: Record<string, unknown>, interfaces: string[]): Record<string, unknown> {
  const services = config.services as { vip: string; realServers: { address: string }[] }[];
  const ha = config.ha as { vrrp: { addresses: ({ address: string } | string)[] }[] } | undefined;
  const taken = new Set<string>([...services.flatMap((s) => [s.vip, ...s.realServers.map((r) => r.address)]), ...(ha?.vrrp ?? []).flatMap((v) => v.addresses.map((a) => (typeof a === 'string' ? a : a.address)))]);
  const nets = [...new Set([...taken].filter((a) => !a.includes(':')).map((a) => a.split('.').slice(0, 3).join('.')))];
  const own = (net: string) => `${net}.${[250, 251, 252, 253, 254].find((h) => !taken.has(`${net}.${h}`))}/24`;
  // An IPv6 address's /64, and an address of ours in it (its host part fe, which the samples leave free).
  const nets6 = [...new Set([...taken].filter((a) => a.includes(':')).map((a) => formatIpv6(maskPrefix6(parseIpv6(a)!, 64))))];
  const own6 = (net: string) => `${net.replace(/::$/, '')}::fe/64`;
  const names = interfaces.length ? interfaces : ['eth0'];
  return {
    interfaces: names.map((name, i) => ({ name, tap: `t${i}`, addresses: [`10.250.${i}.1/24`, ...(i === 0 ? [...nets.map(own), ...nets6.map(own6)] : [])] })),
    control: { socket: '/tmp/tapvs-import-test.sock' },
  };
}

test('the parser: words, quoted strings, comments, nested blocks; errors name the line', () => {
  const tree = parseKeepalived('! comment\nvirtual_server 10.0.0.1 80 { # trailing\n  real_server 10.0.0.2 80 {\n    MISC_CHECK { misc_path "/bin/check a b" }\n  }\n}\n');
  assert.equal(tree[0].words, ['virtual_server', '10.0.0.1', '80']);
  assert.equal(tree[0].block![0].block![0].block![0].words, ['misc_path', '/bin/check a b']);
  assert.equal(lines(tree), [2, 3, 4, 4]);
  assert.throws(() => parseKeepalived('a {\n b\n'), (e: Error) => e instanceof KeepalivedSyntaxError && /line 2: a block is not closed/.test(e.message));
  assert.throws(() => parseKeepalived('a\n}\n'), /line 2: a '}' closes nothing/);
});

test("keepalived.conf.sample: the service, its HTTP check and the VRRP instance, with what cannot be expressed named by line", () => {
  if (!samples.includes('keepalived.conf.sample')) return void console.log('  skipped: keepalived is not installed');
  const text = readFileSync(join(SAMPLES, 'keepalived.conf.sample'), 'utf8');
  const r = convertKeepalived(parseKeepalived(text), 'keepalived.conf.sample');
  assert.equal(r.services, [
    {
      protocol: 'tcp',
      scheduler: 'rr',
      persistence: 50,
      healthCheck: { type: 'http', path: '/testurl3/test.jsp', timeout: 3, fall: 3, interval: 6, onFail: 'remove' },
      vip: '10.10.10.2',
      port: 1358,
      realServers: [{ address: '192.168.200.2', port: 1358, weight: 1, method: 'nat' }],
    },
  ]);
  assert.equal(r.ha!.vrrp, [{ name: 'VI_1', iface: 'eth0', vrid: 50, preempt: false, priority: 100, advertIntervalMs: 1000, addresses: [{ address: '192.168.200.11' }, { address: '192.168.200.12' }, { address: '192.168.200.13' }] }]);
  const at = (needle: string) => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
  assert.ok(r.report.includes(`keepalived.conf.sample:${at('sorry_server')}: sorry_server 192.168.200.200 1358: tapvs has no equivalent`), r.report.join('\n'));
  assert.ok(r.report.some((l) => l.startsWith(`keepalived.conf.sample:${at('digest')}: digest`) && /not a digest/.test(l)));
});

test('IPv6: keepalived.conf.IPv6 becomes an IPv6 NAT service; IPv6 VIPs of an instance move with its IPv4 ones; an IPv6-only instance is named', () => {
  if (samples.includes('keepalived.conf.IPv6')) {
    const text = readFileSync(join(SAMPLES, 'keepalived.conf.IPv6'), 'utf8');
    const r = convertKeepalived(parseKeepalived(text), 'keepalived.conf.IPv6');
    assert.equal(r.services.map((x) => [x.vip, x.port, x.persistence, (x.realServers as unknown[])[0]]), [['ae00::1', 80, 50, { address: 'ae00::10', port: 25, weight: 1, method: 'nat' }]]);
  }
  const group = convertKeepalived(parseKeepalived('virtual_server_group G6 {\n ae00::2-9 80\n ae00::1 80\n}\nvirtual_server group G6 {\n lb_kind DR\n real_server ae00::10 80 {\n }\n}\n'), 'group.conf');
  assert.equal(group.services.map((x) => x.vip), ['ae00::1']);
  assert.ok(group.report.some((l) => /ae00::2-9 80: an IPv6 range: list its addresses one by one/.test(l)), group.report.join('\n'));
  const conf = (addresses: string, excluded: string) => `vrrp_instance VI_6 {\n interface eth0\n virtual_router_id 61\n virtual_ipaddress {\n${addresses} }\n virtual_ipaddress_excluded {\n${excluded} }\n}\n`;
  const mixed = convertKeepalived(parseKeepalived(conf('  192.168.1.2/32\n', '  2001:db8:1::2/128\n')), 'mixed.conf');
  assert.equal(mixed.ha!.vrrp[0].addresses, [{ address: '192.168.1.2' }, { address: '2001:db8:1::2' }]);
  assert.not.ok(mixed.report.some((l) => l.includes('2001:db8:1::2')), 'an excluded IPv6 address converts without a note');
  const config = { interfaces: [{ name: 'eth0', tap: 't0', addresses: ['192.168.1.10/24', '2001:db8:1::a/64'] }], ha: mixed.ha };
  assert.equal(parseConfig(config).ha.vrrp[0].addresses6.map((a) => formatIpv6(a.address)), ['2001:db8:1::2'], 'tapvs takes it');
  const only6 = convertKeepalived(parseKeepalived(conf('  2001:db8:1::2/128\n', '')), 'only6.conf');
  assert.ok(only6.report.some((l) => /only IPv6 addresses: keepalived makes this an IPv6 VRRP instance/.test(l)), only6.report.join('\n'));
});

test('every sample Debian ships converts to a config tapvs check accepts, and no directive is dropped silently', () => {
  if (samples.length === 0) return void console.log(`  skipped: no ${SAMPLES} (keepalived is not installed)`);
  assert.ok(samples.length >= 20, `${samples.length} samples`);
  let services = 0, vrrp = 0, named = 0;
  for (const file of samples) {
    const text = readFileSync(join(SAMPLES, file), 'utf8');
    const tree = parseKeepalived(text);
    const r = convertKeepalived(tree, file);
    // Every directive's line is converted or in the report.
    const missing = lines(tree).filter((n) => !r.converted.includes(n) && !r.named.includes(n));
    assert.equal(missing, [], `${file}: directives neither converted nor reported, lines ${missing.join(', ')}`);
    const { config, report } = importKeepalived(text, file, baseFor({ services: r.services, ha: r.ha }, r.interfaces));
    try {
      checkConfig(parseConfig(config), file, false);
    } catch (e) {
      assert.unreachable(`${file}: tapvs check refused the converted config: ${(e as Error).message}\n${JSON.stringify(config, null, 2)}`);
    }
    services += r.services.length;
    vrrp += r.ha?.vrrp.length ?? 0;
    named += report.length;
  }
  console.log(`  ${samples.length} samples: ${services} services, ${vrrp} VRRP instances converted; ${named} directives named as not converted`);
});

test.run();
