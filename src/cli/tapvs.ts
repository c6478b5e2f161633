// `tapvs`: the router daemon and the namespace lab. Parsing and printing only.

import '../early-signals.js'; // first: see there
import { spawnSync } from 'node:child_process';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { loadConfig, runDaemon } from '../daemon.js';
import { checkConfig } from '../control/check.js';
import type { ReloadReport } from '../control/reload.js';
import { AgentError, AgentExit, DEFAULT_DEVICE, DEFAULT_STATE_FILE, DEFAULT_SYSCTL_DIR, doctor, doctorWithProbe, setup, undo } from '../agent/agent.js';
import { runAgent } from '../agent/run.js';
import { DEFAULT_CONTROL_SOCKET, parseConfig } from '../control/config.js';
import { importKeepalived } from '../control/keepalived.js';
import { CONFIG_SCHEMA } from '../control/schema.js';
import { writeSystemFiles } from '../control/system.js';
import { renderTop, type TopSnapshot } from '../control/top.js';
import { readFileSync } from 'node:fs';
import { writeAtomically } from '../control/save.js';
import { controlRequest, controlStream } from '../control/socket.js';
import { formatTraceRecord, parseTraceFilter, type TraceRecord } from '../control/trace.js';
import { DEFAULT_PREFIX, defaultLab } from '../lab/default.js';
import { directorLab, type DirectorTopology } from '../lab/director.js';
import { ECMP_VIP, ecmpLab } from '../lab/ecmp.js';
import { describeLab, isUp, labDown, labNamespace, labUp, readState } from '../lab/lab.js';
import { consoleCommand } from '../lab/appliance.js';

/** Runs an agent command: JSON or text out, and exit codes that mean something (AgentExit). */
async function agentRun(json: boolean, fn: () => { json: unknown; text: string } | Promise<{ json: unknown; text: string }>): Promise<void> {
  try {
    const out = await fn();
    console.log(json ? JSON.stringify(out.json, null, 2) : out.text);
  } catch (e) {
    process.stderr.write(`tapvs ${(e as Error).message}\n`);
    process.exit(e instanceof AgentError ? e.code : AgentExit.Failed);
  }
}

/** agent undo, and setup --undo: what was put back, for people and for scripts. */
function undoReport(stateFile: string, sysctlDir: string): { json: unknown; text: string } {
  const done = undo(stateFile, sysctlDir);
  return { json: { undone: done }, text: done.length ? done.map((d) => `  ${d}`).join('\n') : '  nothing to undo' };
}

function fail(e: unknown): never {
  process.stderr.write(`tapvs: ${(e as Error).message}\n`);
  process.exit(1);
}

/** tapvs drain: a director that has had no VIP packet for this long carries no flow any more. */
const DRAIN_QUIET_SECONDS = 5;
const prefixOption = { type: 'string', default: DEFAULT_PREFIX, describe: 'name prefix of everything the lab makes' } as const;

await yargs(hideBin(process.argv))
  .scriptName('tapvs')
  .parserConfiguration({ 'populate--': true })
  .command(
    'run',
    'run the router on the TAPs a config names',
    (y) =>
      y
        .option('config', { type: 'string', demandOption: true, describe: 'JSON config file' })
        .option('log-file', { type: 'string', describe: 'also log to this file, rotated by size (FILE.1 keeps the previous one)' })
        .option('log-max-mb', { type: 'number', default: 4, describe: 'the log file rotates when it reaches this size' })
        .option('persist', { type: 'string', describe: '`tapvs save` runs this with the saved config file as its argument, to keep it where the config came from (the appliance: its config disk)' }),
    async (argv) => {
      const logFile = argv.logFile ? { path: argv.logFile, maxBytes: Math.max(1, argv.logMaxMb) * 2 ** 20 } : null;
      await runDaemon(argv.config, logFile, argv.persist ?? null).catch(fail);
    },
  )
  .command(
    'check',
    'validate a config without running it (exit 1 and the exact error if it is bad)',
    (y) =>
      y
        .option('config', { type: 'string', demandOption: true, describe: 'JSON config file' })
        .option('nics', { type: 'boolean', default: false, describe: 'also check that the NICs it names are here and free' }),
    (argv) => {
      try {
        const c = loadConfig(argv.config);
        checkConfig(c, argv.config, argv.nics);
        const nics = c.interfaces.filter((i) => i.nic).length;
        console.log(`${argv.config}: ok (${c.interfaces.length} interfaces${nics ? `, ${nics} on NICs` : ''}, ${c.routes.length + c.routes6.length} routes, ${c.services.length} services)`);
      } catch (e) {
        fail(e);
      }
    },
  )
  .command(
    'import <format> <file>',
    'convert another balancer\'s config: tapvs import keepalived keepalived.conf [--base tapvs.json] [--out F]',
    (y) =>
      y
        .positional('format', { choices: ['keepalived'] as const, describe: 'keepalived: a keepalived.conf' })
        .positional('file', { type: 'string', demandOption: true })
        .option('base', { type: 'string', describe: 'a tapvs config giving the interfaces, routes and control settings; the file\'s services and VRRP are added to it' })
        .option('out', { type: 'string', describe: 'write the config here (a new file, then renamed over the old); default: standard output' }),
    (argv) => {
      try {
        const text = readFileSync(argv.file!, 'utf8');
        const base = argv.base ? (JSON.parse(readFileSync(argv.base, 'utf8')) as Record<string, unknown>) : { interfaces: [] };
        const { config, report } = importKeepalived(text, argv.file!, base);
        for (const line of report) console.error(`not converted: ${line}`);
        const json = `${JSON.stringify(config, null, 2)}\n`;
        if (argv.out) {
          writeAtomically(argv.out, json);
        } else process.stdout.write(json);
        // The verdict `tapvs check` would give, so the operator knows what is left to do.
        const c = parseConfig(config);
        checkConfig(c, argv.out ?? 'the converted config', false);
        console.error(`${argv.out ?? 'the converted config'}: ok (${c.services.length} services${c.ha.vrrp.length ? `, ${c.ha.vrrp.length} VRRP instances` : ''}); ${report.length} directives not converted, named above`);
      } catch (e) {
        fail(e);
      }
    },
  )
  .command(
    'top',
    'a live view of services, real servers, rates, the table and drops by reason (as watch ipvsadm -L -n --rate)',
    (y) =>
      y
        .option('socket', { type: 'string', default: process.env.TAPVS_SOCKET ?? DEFAULT_CONTROL_SOCKET })
        .option('interval', { type: 'number', default: 2, describe: 'seconds between refreshes' })
        .option('once', { type: 'boolean', default: false, describe: 'print one screen (rates over one interval) and exit' }),
    async (argv) => {
      const snapshot = async (): Promise<TopSnapshot> => {
        const [list, counters, daemon] = await Promise.all(['list', 'counters', 'daemon'].map((op) => controlRequest(argv.socket, op)));
        return { at: Date.now(), list, counters, daemon } as TopSnapshot;
      };
      const intervalMs = Math.max(0.2, argv.interval) * 1000;
      const screen = (now: TopSnapshot, before: TopSnapshot | null) => renderTop(now, before, process.stdout.columns || 80, process.stdout.rows || 24).join('\n');
      let before = await snapshot().catch(fail);
      if (argv.once) {
        await new Promise((r) => setTimeout(r, intervalMs));
        return void console.log(screen(await snapshot().catch(fail), before));
      }
      const quit = () => {
        process.stdout.write('\x1b[?25h\n'); // the cursor back
        process.exit(0);
      };
      if (process.stdin.isTTY) {
        process.stdin.setRawMode(true);
        process.stdin.on('data', (k) => (k[0] === 0x71 || k[0] === 0x03 ? quit() : undefined)); // q, Ctrl-C
      }
      process.on('SIGINT', quit);
      process.stdout.write('\x1b[?25l');
      for (;;) {
        const now = await snapshot().catch(fail);
        process.stdout.write(`\x1b[H\x1b[2J${screen(now, before)}`);
        before = now;
        await new Promise((r) => setTimeout(r, intervalMs));
      }
    },
  )
  .command(
    'system-files',
    "write the config's system settings (hostname, timezone, ntp-servers, authorized_keys) as plain files for the appliance's boot",
    (y) =>
      y
        .option('config', { type: 'string', demandOption: true, describe: 'JSON config file' })
        .option('out', { type: 'string', demandOption: true, describe: 'the directory to write them into (settings not given remove their file)' }),
    (argv) => {
      try {
        const written = writeSystemFiles(loadConfig(argv.config).system, argv.out);
        console.log(written.length ? `${argv.out}: ${written.join(', ')}` : `${argv.out}: no system settings`);
      } catch (e) {
        fail(e);
      }
    },
  )
  .command(
    'schema',
    'print the config\'s JSON Schema (for editors; a config may name it with "$schema")',
    (y) => y,
    () => {
      console.log(JSON.stringify(CONFIG_SCHEMA, null, 2));
    },
  )
  .command(
    'save',
    "write the live services (what tapvsadm changed) into the config file tapvs runs with, validated and atomically: 'write memory'",
    (y) => y.option('socket', { type: 'string', default: process.env.TAPVS_SOCKET ?? DEFAULT_CONTROL_SOCKET }),
    async (argv) => {
      const r = (await controlRequest(argv.socket, 'save').catch(fail)) as { file: string; services: number; persisted: string | null };
      console.log(`saved ${r.services} services to ${r.file}${r.persisted ? `; ${r.persisted}` : ''}`);
    },
  )
  .command(
    'drain',
    'withdraw this director\'s VIPs from BGP and wait while its existing flows finish (or the timeout passes); --cancel announces them again',
    (y) =>
      y
        .option('socket', { type: 'string', default: process.env.TAPVS_SOCKET ?? DEFAULT_CONTROL_SOCKET })
        .option('timeout', { type: 'number', default: 300, describe: 'seconds to wait for the connection table to empty' })
        .option('cancel', { type: 'boolean', default: false }),
    async (argv) => {
      const r = (await controlRequest(argv.socket, 'drain', { cancel: argv.cancel }).catch(fail)) as { draining: boolean };
      if (!r.draining) return void console.log('announcing again');
      // Active connections, as ipvsadm's ActiveConn: what still carries traffic (closed ones only wait out their timers).
      const active = async () => ((await controlRequest(argv.socket, 'list').catch(fail)) as { services: { dests: { activeConns: number }[] }[] }).services.reduce((n, s) => n + s.dests.reduce((m, d) => m + d.activeConns, 0), 0);
      // Behind ECMP the upstream moves a withdrawn director's flows to the others (mh and sloppy TCP
      // carry them on there): entries with no packet any more are not flows this director carries.
      const vipPackets = async () => ((await controlRequest(argv.socket, 'counters').catch(fail)) as { router: { lvs_in_packets: number } }).router.lvs_in_packets;
      let left = await active();
      console.log(`withdrawn from BGP; ${left} active connections carry on`);
      const end = Date.now() + Math.max(0, argv.timeout) * 1000;
      let packets = await vipPackets();
      let quietSeconds = 0;
      while (left > 0 && quietSeconds < DRAIN_QUIET_SECONDS && Date.now() < end) {
        await new Promise((res) => setTimeout(res, 1000));
        left = await active();
        const now = await vipPackets();
        quietSeconds = now === packets ? quietSeconds + 1 : 0;
        packets = now;
      }
      if (left === 0) console.log('drained: no active connection left; stop it when you like');
      else if (quietSeconds >= DRAIN_QUIET_SECONDS) console.log(`drained: ${left} connections are still in the table, but no packet for a VIP has arrived for ${DRAIN_QUIET_SECONDS} s (the upstream sends them elsewhere); stop it when you like`);
      else console.log(`timeout: ${left} active connections still open (still forwarded)`);
      if (left > 0 && quietSeconds < DRAIN_QUIET_SECONDS) process.exitCode = 3;
    },
  )
  .command(
    'reload',
    "re-read the config file and apply its services as a difference (as SIGHUP does)",
    (y) => y.option('socket', { type: 'string', default: process.env.TAPVS_SOCKET ?? DEFAULT_CONTROL_SOCKET }),
    async (argv) => {
      const report = (await controlRequest(argv.socket, 'reload').catch(fail)) as ReloadReport;
      const list = (xs: string[]) => (xs.length ? xs.join(', ') : 'none');
      console.log(`added: ${list(report.added)}\nremoved: ${list(report.removed)}\nchanged: ${list(report.changed)}`);
      if (report.live.length) console.log(`changed live: ${report.live.join(', ')}`);
      if (report.needsRestart.length) console.log(`restart tapvs to apply: ${report.needsRestart.join(', ')}`);
    },
  )
  .command(
    'trace',
    'stream every decision tapvs makes on matching packets',
    (y) =>
      y
        .option('match', { type: 'string', describe: 'ADDR[/LEN][:PORT] or [ADDR6[/LEN]]:PORT: packets from or to it' })
        .option('socket', { type: 'string', default: process.env.TAPVS_SOCKET ?? DEFAULT_CONTROL_SOCKET })
        .option('count', { type: 'number', describe: 'stop after this many packets' })
        .option('json', { type: 'boolean', default: false }),
    async (argv) => {
      try {
        parseTraceFilter(argv.match);
      } catch (e) {
        fail(e);
      }
      let seen = 0;
      await new Promise<void>((resolve) => {
        const stream = controlStream(
          argv.socket,
          'trace',
          { match: argv.match },
          (event) => {
            console.log(argv.json ? JSON.stringify(event) : formatTraceRecord(event as TraceRecord));
            if (argv.count !== undefined && ++seen >= argv.count) stream.close();
          },
          (err) => {
            if (err) fail(err);
            resolve();
          },
          (dropped) => process.stderr.write(`tapvs trace: ${dropped} packets not shown: this watcher read too slowly\n`),
        );
        process.once('SIGINT', () => stream.close());
      });
    },
  )
  .command('agent', 'set up a real server: its VIPs on a device that never answers ARP', (agent) =>
    agent
      .command(
        'setup',
        'give this server its VIPs (idempotent)',
        (y) =>
          y
            .option('vip', { type: 'string', array: true, describe: 'a virtual IP (repeat for more)' })
            .option('iface', { type: 'string', describe: 'the LAN interface toward the director' })
            .option('undo', { type: 'boolean', default: false, describe: 'restore everything a setup changed (as tapvs agent undo)' })
            .option('method', { choices: ['dr', 'tun'] as const, default: 'dr' as const })
            .option('device', { type: 'string', default: DEFAULT_DEVICE, describe: "the agent's TUN for the VIPs, or lo" })
            .option('state', { type: 'string', default: DEFAULT_STATE_FILE })
            .option('sysctl-dir', { type: 'string', default: DEFAULT_SYSCTL_DIR })
            .option('json', { type: 'boolean', default: false }),
        (argv) =>
          agentRun(argv.json, () => {
            if (argv.undo) {
              return undoReport(argv.state, argv['sysctl-dir']);
            }
            if (!argv.vip?.length || !argv.iface) throw new AgentError(AgentExit.Usage, 'agent setup: give --vip and --iface (or --undo)');
            const r = setup({ vips: argv.vip.map(String), iface: argv.iface, method: argv.method, device: argv.device, stateFile: argv.state, sysctlDir: argv['sysctl-dir'] });
            return { json: r, text: `VIPs ${r.state.vips.join(', ')} on ${r.why}\n${r.changed.length ? r.changed.map((c) => `  ${c}`).join('\n') : '  nothing to change'}` };
          }),
      )
      .command(
        'undo',
        'restore everything setup changed',
        (y) => y.option('state', { type: 'string', default: DEFAULT_STATE_FILE }).option('sysctl-dir', { type: 'string', default: DEFAULT_SYSCTL_DIR }).option('json', { type: 'boolean', default: false }),
        (argv) =>
          agentRun(argv.json, () => {
            return undoReport(argv.state, argv['sysctl-dir']);
          }),
      )
      .command(
        'doctor',
        'check the setup, one line per fact',
        (y) =>
          y
            .option('state', { type: 'string', default: DEFAULT_STATE_FILE })
            .option('port', { type: 'number', describe: 'also check that a service listens on this port at the VIP' })
            .option('probe', { type: 'boolean', default: true, describe: 'live ARP probe through a throwaway TAP (--no-probe to skip)' })
            .option('json', { type: 'boolean', default: false }),
        async (argv) =>
          agentRun(argv.json, async () => {
            const checks = argv.probe ? await doctorWithProbe(argv.state, argv.port) : doctor(argv.state, argv.port);
            const bad = checks.filter((c) => !c.ok).length;
            if (bad) process.exitCode = AgentExit.Unhealthy;
            return { json: { healthy: bad === 0, checks }, text: checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.what.padEnd(7)} ${c.detail}`).join('\n') };
          }),
      )
      .command(
        'run',
        'stay up: decapsulate IP-in-IP for the tun method, and serve /health',
        (y) =>
          y
            .option('state', { type: 'string', default: DEFAULT_STATE_FILE })
            .option('health-port', { type: 'number', describe: 'serve GET /health on this TCP port' })
            .option('director', { type: 'string', array: true, default: [] as string[], describe: 'only these may tunnel to us (repeat; default any)' })
            .option('log-level', { type: 'string', default: 'info' }),
        async (argv) => {
          await runAgent({ stateFile: argv.state, healthPort: argv['health-port'] ?? null, directors: argv.director.map(String), logLevel: argv['log-level'] }).catch((e) => {
            process.stderr.write(`tapvs ${(e as Error).message}\n`);
            process.exit(e instanceof AgentError ? e.code : AgentExit.Failed);
          });
        },
      )
      .demandCommand(1, 'agent: say setup, run, undo or doctor'),
  )
  .command('lab', 'a lab of Linux hosts in network namespaces, routed by tapvs', (lab) =>
    lab
      .command(
        'up',
        'build the lab and start tapvs in it',
        (y) =>
          y
            .option('prefix', prefixOption)
            .option('json', { type: 'boolean', default: false })
            .option('topology', { choices: ['basic', 'dr', 'nat', 'tun', 'ecmp'] as const, default: 'basic' as const, describe: 'basic: two networks routed; dr/nat/tun: a director with real servers; ecmp: N directors behind an FRR router, VIPs over BGP' })
            .option('servers', { type: 'number', default: 2, describe: 'real servers (dr/nat/tun/ecmp)' })
            .option('directors', { type: 'number', default: 3, describe: 'ecmp: active directors behind the upstream router' })
            .option('agent', { type: 'boolean', default: false, describe: 'dr: real servers set up by `tapvs agent` (tun always is)' })
            .option('ha', { type: 'string', describe: 'dr/nat/tun: two directors in a VRRP pair syncing connections (director1, director2); --ha keepalived: director2 is keepalived, VRRP only' })
            .option('appliance', { type: 'string', describe: "boot the appliance image in this directory (npm run image's out/image) under QEMU as the router" })
            .option('boot', { choices: ['kernel', 'bios', 'uefi', 'iso'] as const, default: 'kernel' as const, describe: 'with --appliance: qemu -kernel, the disk image through GRUB (BIOS or UEFI), or the ISO' }),
        async (argv) => {
          if (argv.servers < 1 || argv.servers > 8) fail(new Error('--servers must be 1..8'));
          const ha = argv.ha === undefined ? undefined : argv.ha === '' || argv.ha === 'tapvs' ? 'tapvs' : argv.ha === 'keepalived' ? 'keepalived' : fail(new Error(`--ha takes nothing, tapvs or keepalived (not '${argv.ha}')`));
          if (ha && argv.topology === 'basic') fail(new Error('--ha needs a director topology: --topology dr, nat or tun'));
          if (ha && argv.appliance) fail(new Error('--ha runs tapvs processes; the appliance pair is booted by the appliance tests'));
          if (ha && argv.topology === 'ecmp') fail(new Error('--ha and --topology ecmp are two ways to have more directors: pick one'));
          if (argv.topology === 'ecmp' && argv.appliance) fail(new Error('--topology ecmp runs tapvs processes, not the appliance'));
          if (argv.directors < 1 || argv.directors > 8) fail(new Error('--directors must be 1..8'));
          const spec =
            argv.topology === 'basic'
              ? defaultLab(argv.prefix)
              : argv.topology === 'ecmp'
                ? ecmpLab(argv.prefix, { directors: argv.directors, servers: argv.servers })
                : directorLab(argv.prefix, argv.topology as DirectorTopology, { servers: argv.servers, agent: argv.agent, ha });
          if (argv.appliance) spec.appliance = { dir: argv.appliance, boot: argv.boot };
          const state = await labUp(spec).catch(fail);
          if (argv.json) {
            console.log(JSON.stringify(describeLab(state), null, 2));
          } else {
            const d = describeLab(state) as { hosts: { name: string; address: string }[] };
            console.log(`lab '${argv.prefix}' is up: ${d.hosts.map((h) => `${h.name} ${h.address}`).join(', ')}`);
            console.log(
              argv.topology === 'basic'
                ? 'try: tapvs lab exec client -- ping -c 3 10.2.0.2'
                : argv.topology === 'ecmp'
                  ? `try: tapvs lab exec client1 -- curl -s http://${ECMP_VIP}/; tapvs lab exec upstream -- ip route show ${ECMP_VIP}`
                  : 'try: tapvs lab exec client -- curl -s http://192.168.1.2/',
            );
          }
        },
      )
      .command(
        'down',
        'stop tapvs and remove everything the lab made',
        (y) => y.option('prefix', prefixOption),
        async (argv) => {
          await labDown(argv.prefix).catch(fail);
          console.log(`lab '${argv.prefix}' is down`);
        },
      )
      .command(
        'status',
        'say what runs',
        (y) => y.option('prefix', prefixOption).option('json', { type: 'boolean', default: false }),
        (argv) => {
          const state = readState(argv.prefix);
          if (!state) {
            if (argv.json) console.log(JSON.stringify({ prefix: argv.prefix, up: false }));
            else console.log(`lab '${argv.prefix}' is not up`);
            process.exitCode = 3;
            return;
          }
          const up = isUp(argv.prefix);
          const d = describeLab(state);
          if (argv.json) {
            console.log(JSON.stringify({ up, ...d }, null, 2));
          } else {
            console.log(`lab '${argv.prefix}': ${up ? 'up' : 'DEGRADED (a router or namespace is missing; run lab down, then lab up)'}`);
            for (const h of d.hosts as { name: string; namespace: string; address: string }[]) console.log(`  host   ${h.name.padEnd(8)} ${h.namespace.padEnd(16)} ${h.address}`);
            for (const r of d.routers as { name: string; pid: number; running: boolean; log: string }[]) {
              console.log(`  router ${r.name.padEnd(8)} pid ${r.pid} ${r.running ? 'running' : 'NOT RUNNING'}  log ${r.log}`);
            }
          }
          if (!up) process.exitCode = 1;
        },
      )
      .command(
        'exec <host> [cmd..]',
        'run a command on a lab host (or "sw", the switch namespace)',
        (y) => y.positional('host', { type: 'string', demandOption: true }).positional('cmd', { type: 'string', array: true }).option('prefix', prefixOption),
        (argv) => {
          const cmd = [...(argv.cmd ?? []), ...((argv['--'] as string[] | undefined) ?? [])].map(String);
          if (cmd.length === 0) fail(new Error('lab exec: give a command after --, e.g. tapvs lab exec client -- ping -c 1 10.2.0.2'));
          let ns: string;
          try {
            ns = labNamespace(argv.prefix, argv.host);
          } catch (e) {
            fail(e);
          }
          const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: 'inherit' });
          process.exitCode = r.status ?? 1;
        },
      )
      .command(
        'console <router> [cmd..]',
        "run a shell command on an appliance router's serial console (labs up with --appliance)",
        (y) => y.positional('router', { type: 'string', demandOption: true }).positional('cmd', { type: 'string', array: true }).option('prefix', prefixOption),
        async (argv) => {
          const cmd = [...(argv.cmd ?? []), ...((argv['--'] as string[] | undefined) ?? [])].map(String).join(' ');
          const router = readState(argv.prefix)?.routers.find((r) => r.name === argv.router);
          if (!router?.console) fail(new Error(`lab '${argv.prefix}' has no appliance router '${argv.router}'`));
          if (!cmd) fail(new Error('lab console: give a command after --, e.g. tapvs lab console director -- tapvsadm -L -n'));
          const r = await consoleCommand(router.console, cmd).catch(fail);
          process.stdout.write(r.output.endsWith('\n') || r.output === '' ? r.output : `${r.output}\n`);
          process.exitCode = r.status;
        },
      )
      .demandCommand(1, 'lab: say up, down, status, exec or console'),
  )
  .demandCommand(1, 'say what to do: run, reload, trace, agent, or lab')
  .strict()
  .help()
  .parseAsync();
