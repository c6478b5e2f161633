// A lab router played by the appliance image under QEMU (TCG) instead of a tapvs process.
//
// QEMU runs in the lab's switch namespace, so its NICs are the router's TAPs there, already on
// the segment bridges. The router's config goes to the appliance on a small FAT config disk,
// its interfaces naming the virtual NICs by MAC, as on a bench PC. The serial console is a
// Unix socket (logged to a file) that commands can be typed into; the QEMU monitor gives the
// power button.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { run } from './shell.js';

export type ApplianceBoot = 'kernel' | 'bios' | 'uefi' | 'iso';

/** What to boot, from `npm run image`'s output directory. */
export interface ApplianceImage {
  dir: string;
  /** kernel: qemu -kernel/-initrd (fastest); bios or uefi: the disk image through its bootloader; iso: the ISO as a CD. */
  boot?: ApplianceBoot;
  /** The config disk's tapvs.json as written, instead of the router's config (a bad one, say). */
  configText?: string;
  /** kernel boot only: the config as tapvs.config=<base64> on the kernel command line, no config disk. */
  configOnCommandLine?: boolean;
  /** bios or uefi: tapvs.json written into a copy of the disk image's own FAT partition, no config disk. */
  configOnBootPartition?: boolean;
  /** bios or uefi: boot tapvs.qcow2 (what a VM platform takes) rather than the raw tapvs.img. */
  qcow2?: boolean;
  /** QEMU's NIC model: virtio-net-pci (default), or e1000 / e1000e as on real hardware. */
  nicModel?: string;
  memoryMb?: number;
  /** QEMU's -rtc base (e.g. 2020-01-01): a clock that is wrong at boot, for NTP to put right. */
  rtcBase?: string;
}

export interface ApplianceProcess {
  pid: number;
  console: string;
  monitor: string;
  log: string;
}

/** A boot under TCG takes seconds; node's start inside it takes a few more. */
export const APPLIANCE_READY_TIMEOUT_MS = 180_000;

/** The MAC of a lab appliance's virtual NIC (QEMU's 52:54:00 range, unique per lab and NIC). */
export function applianceNicMac(prefix: string, router: string, iface: string): string {
  const h = createHash('sha256').update(`nic:${prefix}:${router}:${iface}`).digest();
  return ['52', '54', '00', ...[h[0], h[1], h[2]].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** A lab router's config as the appliance takes it: NICs by MAC, the default control socket. */
export function applianceConfig(routerConfig: Record<string, unknown>, nicMacs: string[]): Record<string, unknown> {
  const { control: _control, ...rest } = routerConfig;
  const interfaces = (routerConfig.interfaces as Record<string, unknown>[]).map(({ tap: _tap, tapMode: _mode, ...i }, n) => ({ ...i, nic: nicMacs[n] }));
  return { ...rest, interfaces };
}

/** A 2 MiB FAT filesystem holding tapvs.json: the config disk a user would write. */
export function writeConfigDisk(file: string, json: string): void {
  rmSync(file, { force: true });
  run('mkfs.fat', ['-C', '-n', 'TAPVSCFG', file, '2048']);
  writeTapvsJson(file, json);
}

/** Writes tapvs.json at the top of a FAT filesystem: an image file, or `FILE@@OFFSET` (mtools). */
function writeTapvsJson(fat: string, json: string): void {
  const staged = `${fat.split('@@')[0]}.json`;
  writeFileSync(staged, json);
  try {
    run('mcopy', ['-o', '-i', fat, staged, '::/tapvs.json']);
  } finally {
    rmSync(staged, { force: true });
  }
}

/** The QEMU command line: headless, console and monitor on Unix sockets, NICs on the TAPs. */
export function qemuArgs(image: ApplianceImage, taps: string[], nicMacs: string[], config: { disk: string | null; bootDisk: string; text: string }, files: ApplianceProcess, varsFile: string): string[] {
  const boot = image.boot ?? 'kernel';
  const args = ['-machine', 'q35', '-m', String(image.memoryMb ?? 1024), '-smp', '1', '-display', 'none', '-no-reboot', '-nodefaults'];
  args.push('-chardev', `socket,id=console,path=${files.console},server=on,wait=off,logfile=${files.log}`, '-serial', 'chardev:console');
  args.push('-monitor', `unix:${files.monitor},server=on,wait=off`);
  if (image.rtcBase) args.push('-rtc', `base=${image.rtcBase}`);
  if (boot === 'kernel') {
    // Compact, to stay well inside the kernel's 2048-byte command line.
    const inline = image.configOnCommandLine ? ` tapvs.config=${Buffer.from(compactJson(config.text)).toString('base64')}` : '';
    args.push('-kernel', join(image.dir, 'vmlinuz'), '-initrd', join(image.dir, 'initrd.img'), '-append', `console=ttyS0,115200 panic=-1${inline}`);
  } else if (boot === 'iso') {
    // The CD first: the BIOS would otherwise try the config disk, which has no boot code.
    args.push('-drive', `file=${join(image.dir, 'tapvs.iso')},media=cdrom,readonly=on`, '-boot', 'order=d');
  } else {
    // The disk boots through its own GRUB; a snapshot keeps the image itself untouched.
    args.push('-drive', `file=${config.bootDisk},format=${image.qcow2 ? 'qcow2' : 'raw'},if=virtio,snapshot=on`);
    if (boot === 'uefi') {
      args.push('-drive', 'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,file=${varsFile}`);
    }
  }
  // Writable, as a VM platform's disk is: the appliance mounts it read-only, except for `tapvs save`.
  if (config.disk) args.push('-drive', `file=${config.disk},format=raw,if=virtio`);
  taps.forEach((tap, n) => {
    args.push('-netdev', `tap,id=nic${n},ifname=${tap},script=no,downscript=no,vhost=off`, '-device', `${image.nicModel ?? 'virtio-net-pci'},netdev=nic${n},mac=${nicMacs[n]}`);
  });
  return args;
}

function compactJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text; // not JSON: the appliance is to see it as it is
  }
}

/** Boots the appliance in the switch namespace; returns once QEMU runs (not once it is ready). */
export function startAppliance(namespace: string, stateDir: string, name: string, image: ApplianceImage, config: Record<string, unknown>, taps: string[], nicMacs: string[]): ApplianceProcess {
  for (const f of ['vmlinuz', 'initrd.img', 'tapvs.img', 'tapvs.iso']) {
    if (!existsSync(join(image.dir, f))) throw new Error(`appliance image incomplete: no ${join(image.dir, f)} (run \`npm run image\`)`);
  }
  const files: ApplianceProcess = { pid: 0, console: join(stateDir, `${name}.console`), monitor: join(stateDir, `${name}.monitor`), log: join(stateDir, `${name}.log`) };
  const configText = image.configText ?? JSON.stringify(config, null, 2);
  const configDisk = image.configOnCommandLine || image.configOnBootPartition ? null : join(stateDir, `${name}-config.img`);
  if (configDisk) writeConfigDisk(configDisk, configText);
  let bootDisk = join(image.dir, image.qcow2 ? 'tapvs.qcow2' : 'tapvs.img');
  if (image.configOnBootPartition) {
    if (image.qcow2) throw new Error('appliance: configOnBootPartition writes into the raw image; it cannot go with qcow2');
    // What the README tells a user to do: mcopy tapvs.json onto the image's partition at 1 MiB.
    bootDisk = join(stateDir, `${name}-tapvs.img`);
    writeFileSync(bootDisk, readFileSync(join(image.dir, 'tapvs.img')));
    writeTapvsJson(`${bootDisk}@@1M`, configText);
  }
  const varsFile = join(stateDir, `${name}-OVMF_VARS.fd`);
  if (image.boot === 'uefi') writeFileSync(varsFile, readFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd'));
  writeFileSync(files.log, '');
  const errors = join(stateDir, `${name}-qemu.err`);
  const fd = openSync(errors, 'w');
  const child = spawn('ip', ['netns', 'exec', namespace, 'qemu-system-x86_64', ...qemuArgs(image, taps, nicMacs, { disk: configDisk, bootDisk, text: configText }, files, varsFile)], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  files.pid = child.pid!;
  return files;
}

/**
 * Waits for the appliance to boot and, if its config was accepted, for tapvs's ready line.
 * Returns the console log so far; throws with its tail if neither comes in time.
 */
export async function waitForAppliance(files: ApplianceProcess, alive: () => boolean, timeoutMs = APPLIANCE_READY_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const text = readFileSync(files.log, 'utf8');
    const booted = text.includes('tapvs-appliance: booted');
    const notForwarding = /tapvs-appliance: (no config found|config from .* REJECTED)/.test(text);
    if (booted && (notForwarding || text.includes('"msg":"ready"'))) return text;
    if (!alive()) throw new Error(`the appliance (QEMU) exited before it was ready; its console:\n${text.slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the appliance was not ready within ${timeoutMs} ms; its console (${files.log}) ends:\n${readFileSync(files.log, 'utf8').slice(-3000)}`);
}

/**
 * Types a command at the appliance's serial console shell and returns what it printed and its
 * exit status. The output is framed by markers the command cannot print by accident.
 */
export function consoleCommand(consoleSocket: string, command: string, timeoutMs = 60_000): Promise<{ output: string; status: number }> {
  const tag = `tapvs-lab-${process.pid}-${Date.now()}`;
  return new Promise((resolve, reject) => {
    const sock = connect(consoleSocket);
    let seen = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`console command '${command}' gave no answer within ${timeoutMs} ms; the console showed:\n${seen.slice(-2000)}`));
    }, timeoutMs);
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`appliance console ${consoleSocket}: ${e.message}`));
    });
    sock.on('connect', () => sock.write(`\necho ${tag}-begin; ${command}; echo ${tag}-end $?\n`));
    sock.on('data', (d) => {
      seen += d.toString('utf8');
      // The shell echoes the typed line too; the real markers start their own lines.
      const m = new RegExp(`\\n${tag}-begin\\r?\\n([\\s\\S]*?)\\r?\\n?${tag}-end (\\d+)`).exec(seen);
      if (!m) return;
      clearTimeout(timer);
      sock.end();
      // eslint-disable-next-line no-control-regex
      resolve({ output: m[1].replace(/\r/g, '').replace(/\x1b\[[0-9;?]*[A-Za-z]/g, ''), status: Number(m[2]) });
    });
  });
}

/** Presses the power button (ACPI), as a VM platform's "shut down" does. */
export function pressPowerButton(monitorSocket: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect(monitorSocket);
    sock.on('error', (e) => reject(new Error(`QEMU monitor ${monitorSocket}: ${e.message}`)));
    sock.on('connect', () => sock.end('system_powerdown\n', () => resolve()));
  });
}
