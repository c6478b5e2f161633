// `tapvs check`: everything `tapvs run` would refuse, found without running. The config is
// parsed, then built whole on an in-memory port (routes, gateways, real servers: the same code
// that `run` uses), then checked against this host (the metrics address, the read-only
// socket's group, and with `nics` the NICs it names). What passes here does not fail at start.

import { networkInterfaces } from 'node:os';
import { dryRun } from '../build.js';
import { nicProblems } from '../io/nic.js';
import { formatIpv4, parseIpv4 } from '../packet/address.js';
import { groupId } from '../util/group.js';
import { ConfigError, type Config } from './config.js';

/** Throws, with the message `run` would give, what this host cannot do of the config. */
export function checkHost(config: Config): void {
  const metrics = config.control.metrics;
  if (metrics) {
    const host = metrics.slice(0, metrics.lastIndexOf(':'));
    if (!isOwnAddress(host, config)) {
      throw new ConfigError('$.control.metrics', `${host} is not an address of this host (nor of the management NIC): use one it has, 127.0.0.1, or 0.0.0.0`);
    }
  }
  if (config.control.readOnly?.group) groupId(config.control.readOnly.group);
}

function isOwnAddress(host: string, config: Config): boolean {
  const a = parseIpv4(host);
  if (a === null) return false;
  if (a === 0 || a >>> 24 === 127) return true;
  if (config.management?.addresses.some((m) => m.address === a)) return true; // set up by tapvs at start
  return Object.values(networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv4' && i.address === formatIpv4(a)));
}

/** Everything: the dry run, the host, and with `nics` the NICs. Throws the first problem. */
export function checkConfig(config: Config, file: string, nics: boolean): void {
  dryRun(config);
  checkHost(config);
  if (nics) {
    const problems = nicProblems(config.interfaces.flatMap((i) => (i.nic ? [i.nic] : [])), config.management?.nic ?? null);
    if (problems.length) throw new Error(`${file}: ${problems.join('; ')}`);
  }
}
