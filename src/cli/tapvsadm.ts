// `tapvsadm`: ipvsadm's syntax and output, talking to tapvs over its control socket.

import { readFileSync } from 'node:fs';
import type { ConnPage, ListView, ServiceRef, Timeouts } from '../control/admin.js';
import { DEFAULT_CONTROL_SOCKET } from '../control/config.js';
import { USAGE, UsageError, parseIpvsadm, type Parsed } from '../control/ipvsadm-args.js';
import { CONNECTIONS_HEADER, formatConnectionRows, formatDaemons, formatList, formatSave, formatTimeout, type DaemonView } from '../control/ipvsadm-format.js';
import { controlRequest } from '../control/socket.js';

const sameService = (a: ServiceRef, b: ServiceRef) => a.fwmark === b.fwmark && (a.fwmark !== 0 || (a.protocol === b.protocol && a.vip === b.vip && a.port === b.port));

async function execute(p: Parsed, socket: string, out: (s: string) => void): Promise<void> {
  const ask = (op: string, args: Record<string, unknown> = {}) => controlRequest(socket, op, args);
  switch (p.command) {
    case 'help':
      return out(`${USAGE}\n`);
    case 'version':
      return out('tapvsadm 0.1.0 (ipvsadm 1.2.1 compatible)\n');
    case 'list': {
      if (p.list.connections) {
        // In pages, each printed as it comes: a table of millions never sits whole in memory.
        out(CONNECTIONS_HEADER);
        for (let after: number | null = 0; after !== null; ) {
          const page = (await ask('connections', { after })) as ConnPage;
          out(formatConnectionRows(page.entries));
          after = page.next;
        }
        return;
      }
      if (p.list.timeout) return out(formatTimeout((await ask('get-timeouts')) as Timeouts));
      if (p.list.daemon) return out(formatDaemons((await ask('daemon')) as DaemonView));
      const view = (await ask('list')) as ListView;
      if (p.service) {
        const only = view.services.find((s) => sameService(s, p.service!));
        if (!only) throw new Error('Service not defined');
        return out(formatList(view, p.list, only));
      }
      return out(formatList(view, p.list));
    }
    case 'save':
      return out(formatSave((await ask('list')) as ListView));
    case 'restore': {
      // Every line is parsed before anything is sent, and tapvs applies them all or none.
      const lines = readFileSync(0, 'utf8').split('\n');
      const commands: Record<string, unknown>[] = [];
      for (let i = 0; i < lines.length; i++) {
        const words = lines[i].trim().split(/\s+/).filter(Boolean);
        if (words.length === 0 || words[0].startsWith('#')) continue;
        try {
          const command = changeOf(parseIpvsadm(words));
          if (!command) throw new UsageError(`'${words[0]}' cannot be restored`);
          commands.push({ ...command, line: i + 1 });
        } catch (e) {
          const message = `line ${i + 1} (${lines[i].trim()}): ${(e as Error).message}; nothing was changed`;
          throw e instanceof UsageError ? new UsageError(message) : new Error(message);
        }
      }
      return void (await ask('batch', { commands }));
    }
    default: {
      const command = changeOf(p)!;
      return void (await ask(command.op as string, command));
    }
  }
}

/** The control operation for a command that changes services, or null for one that only reads. */
function changeOf(p: Parsed): ({ op: string } & Record<string, unknown>) | null {
  switch (p.command) {
    case 'add-service':
    case 'edit-service':
    case 'delete-service':
      return { op: p.command, service: p.service };
    case 'add-dest':
    case 'edit-dest':
    case 'delete-dest':
      return { op: p.command, service: p.service, dest: p.dest };
    case 'clear':
      return { op: 'clear' };
    case 'zero':
      return { op: 'zero', ...(p.service ? { service: p.service } : {}) };
    case 'set':
      return { op: 'set-timeouts', timeouts: p.set };
    case 'start-daemon':
    case 'stop-daemon':
      return { op: p.command, daemon: p.daemon };
    default:
      return null;
  }
}

async function main(argv: string[]): Promise<number> {
  let parsed: Parsed;
  try {
    parsed = parseIpvsadm(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const socket = parsed.socket ?? process.env.TAPVS_SOCKET ?? DEFAULT_CONTROL_SOCKET;
  try {
    await execute(parsed, socket, (s) => process.stdout.write(s));
    return 0;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
