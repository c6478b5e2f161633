// Prometheus metrics from a running director: scraped over HTTP with curl after real traffic,
// they count what the traffic did.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { VIP, directorLab } from '../../src/lab/director.js';
import { onHost, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('metrics: Prometheus text from a DR director');
const prefix = uniquePrefix('met');
const scrapeOf = (lab: string, port: number) => onHost(lab, 'sw', ['curl', '-s', `http://127.0.0.1:${port}/metrics`]).stdout;
const scrape = (path = '/metrics') => onHost(prefix, 'sw', ['curl', '-s', '-w', '\n%{http_code} %{content_type}', `http://127.0.0.1:9101${path}`]).stdout;

test.before(async () => {
  const spec = directorLab(prefix, 'dr');
  spec.routers[0].metrics = '127.0.0.1:9101';
  await startLab(spec);
});
test.after(async () => {
  await stopLab(prefix);
});

test('after four requests: four connections, two per real server, and the router counted frames', () => {
  for (let i = 0; i < 4; i++) assert.match(onHost(prefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]).stdout, /^rs[12]$/m);
  const text = scrape();
  assert.match(text, /\n200 text\/plain; version=0\.0\.4; charset=utf-8$/);
  assert.match(text, /^tapvs_service_connections_total\{service="TCP 192\.168\.1\.2:80"\} 4$/m);
  for (const rs of ['192.168.1.11', '192.168.1.12']) {
    assert.match(text, new RegExp(`^tapvs_real_server_connections_total\\{service="TCP 192\\.168\\.1\\.2:80",server="${rs.replace(/\./g, '\\.')}:80",forward="Route"\\} 2$`, 'm'));
  }
  const rx = Number(/^tapvs_router_events_total\{event="rx_frames"\} (\d+)$/m.exec(text)?.[1]);
  assert.ok(rx >= 4 * 5, `rx_frames ${rx}`);
  assert.match(text, /^tapvs_port_events_total\{iface="lan",event="tx_frames"\} [1-9]\d*$/m);
  assert.match(text, /^tapvs_connection_table_entries [1-9]\d*$/m);
});

test('anything but /metrics is a 404', () => {
  assert.match(scrape('/'), /\n404 text\/plain$/);
});

const dashboard = suite('metrics: the Grafana dashboard queries what tapvs exports');
const haPrefix = uniquePrefix('mdb');
dashboard.before(async () => {
  const spec = directorLab(haPrefix, 'dr', { ha: 'tapvs' });
  spec.routers[0].metrics = '127.0.0.1:9102';
  await startLab(spec);
});
dashboard.after(() => stopLab(haPrefix));

dashboard('every metric, and every label value it names, exists in a real scrape of a director of a pair', async () => {
  const file = new URL('../../dashboards/tapvs-grafana.json', import.meta.url);
  const panels = (JSON.parse(readFileSync(file, 'utf8')) as { panels: { title: string; targets: { expr: string }[] }[] }).panels;
  for (let i = 0; i < 50 && !/tapvs_vrrp_state\{[^}]*state="MASTER"\} 1/.test(scrapeOf(haPrefix, 9102)); i++) await new Promise((r) => setTimeout(r, 200));
  onHost(haPrefix, 'client', ['curl', '-s', '--max-time', '3', `http://${VIP}/`]);
  const text = scrapeOf(haPrefix, 9102);
  let checked = 0;
  for (const p of panels) {
    for (const t of p.targets) {
      // Each selector: a metric name and its {label matchers}.
      for (const m of t.expr.matchAll(/(tapvs_[a-z_]+)\{([^}]*)\}/g)) {
        const [, metric, matchers] = m;
        assert.match(text, new RegExp(`^${metric}[{ ]`, 'm'), `${p.title}: ${metric} is not exported`);
        for (const lm of matchers.matchAll(/([a-z_]+)(=~|=)"([^"]*)"/g)) {
          if (lm[1] === 'instance') continue; // Prometheus adds it
          for (const value of lm[3].split('|')) {
            assert.match(text, new RegExp(`^${metric}\\{[^}]*${lm[1]}="${value}"`, 'm'), `${p.title}: ${metric} has no ${lm[1]}="${value}"`);
            checked++;
          }
        }
        checked++;
      }
    }
  }
  console.log(`  ${panels.length} panels: ${checked} metric names and label values found in the scrape`);
});

if (!skipUnlessRoot('metrics.test.ts')) {
  test.run();
  dashboard.run();
}
