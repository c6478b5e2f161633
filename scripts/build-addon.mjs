// Builds the addon against the headers of the node that runs this script, so no header
// download is ever attempted (the build machines reach only the package registries).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const prefix = dirname(dirname(process.execPath));
const nodedir = [prefix, '/usr', '/usr/local'].find((d) => existsSync(join(d, 'include/node/node_api.h')));
if (!nodedir) {
  console.error(`build-addon: no Node headers under ${prefix}/include/node (install nodejs headers, e.g. Debian's libnode-dev)`);
  process.exit(1);
}
const gyp = join(dirname(new URL(import.meta.url).pathname), '../node_modules/node-gyp/bin/node-gyp.js');
const run = spawnSync(process.execPath, [gyp, 'rebuild', '--directory', 'addon', `--nodedir=${nodedir}`, '--jobs=2'], {
  stdio: 'inherit',
});
process.exit(run.status ?? 1);
