// Prometheus metrics from a running director: scraped over HTTP with curl after real traffic,
// they count what the traffic did.

import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { VIP, directorLab } from '../../src/lab/director.js';
import { onHost, skipUnlessRoot, startLab, stopLab, uniquePrefix } from '../helpers/lab.js';

const test = suite('metrics: Prometheus text from a DR director');
const prefix = uniquePrefix('met');
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

if (!skipUnlessRoot('metrics.test.ts')) test.run();
