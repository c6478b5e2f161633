// Runs the uvu suites and ends with one plain line, "tests: N passed, N failed", for CI.
import { spawn } from 'node:child_process';

const args = ['-r', 'tsx', 'test', ...(process.argv.slice(2).length ? process.argv.slice(2) : ['\\.test\\.ts$'])];
const child = spawn(process.execPath, ['node_modules/uvu/bin.js', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
let tail = '';
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d).slice(-4000);
});
child.on('exit', (code, signal) => {
  // eslint-disable-next-line no-control-regex
  const plain = tail.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const failed = code === 0 ? total - passed : Math.max(1, total - passed);
  console.log(`tests: ${passed} passed, ${failed} failed`);
  process.exit(code ?? (signal ? 1 : 0));
});
