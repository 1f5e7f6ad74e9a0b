/**
 * The qemu end-to-end harness: boots disks (and ISOs) under TCG with SeaBIOS or OVMF, and drives
 * the first serial port through a unix socket (CI has no stdin). Every wait is bounded; a failed
 * wait throws with the tail of the console log.
 *
 *   const vm = await startQemu({ firmware: 'uefi', drives: [{ path: qcow2 }], hostfwd: [{ guestPort: 22 }] });
 *   await vm.waitFor(/login:/, 300_000);
 *   vm.send('root\n');
 *   await vm.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scaled } from './harness.js';

export type Firmware = 'bios' | 'uefi';

export interface DriveSpec {
  path: string;
  format?: 'qcow2' | 'raw' | 'vmdk' | 'vhdx';
  /** Writes go to a throw-away overlay (default true): a test never changes a built image. */
  snapshot?: boolean;
  /** Disk bus (default virtio); usb is a USB stick on an xHCI controller. */
  interface?: 'virtio' | 'ide' | 'scsi' | 'usb' | 'none';
}

export interface HostFwd {
  /** Host port on 127.0.0.1; 0 or omitted picks a free one (see `ports`). */
  hostPort?: number;
  guestPort: number;
  proto?: 'tcp' | 'udp';
}

export interface QemuOptions {
  firmware: Firmware;
  drives?: DriveSpec[];
  /** An ISO attached as a CD-ROM; with `bootFrom: 'cdrom'` it boots first. */
  cdrom?: string;
  bootFrom?: 'disk' | 'cdrom';
  memoryMb?: number;
  /** vCPUs (default 1: make test runs two VMs side by side on two cores). */
  cpus?: number;
  /** NICs on qemu user networking; the first carries `hostfwd`. The guest sees the host as 10.0.2.2. */
  nics?: { count: number; model?: string };
  hostfwd?: HostFwd[];
  extraArgs?: string[];
  /** Names the console log file. */
  name?: string;
  /** Console log goes here (default: a temp file, kept after stop() for post-mortems). */
  logFile?: string;
  /** Runs QEMU inside this network namespace (`ip netns exec`), e.g. the lab's, for its TAP devices. */
  netns?: string;
}

export interface Qemu {
  /**
   * Resolves with the match once the console output (since boot) matches; throws with the log tail
   * after timeoutMs (scaled by LBIMAGE_TEST_TIMEOUT_FACTOR).
   */
  waitFor(pattern: RegExp | string, timeoutMs: number, opts?: { since?: number }): Promise<RegExpMatchArray>;
  /** Writes to the serial console. */
  send(text: string): void;
  /** Runs a command on QEMU's human monitor and returns its output. */
  monitor(command: string): Promise<string>;
  /**
   * The VGA text memory (text mode at 0xb8000, as SeaBIOS leaves it for the kernel's vgacon), one
   * string per 80-column row: the screen and the lines vgacon scrolled past (it scrolls by moving
   * the display's start within the 32 KiB window, so the screen can be anywhere in it).
   */
  vgaText(): Promise<string[]>;
  /** Types on the VM's PS/2 keyboard (the VGA console), key by key. */
  typeKeys(text: string): Promise<void>;
  /** Everything the serial console printed so far. */
  log(): string;
  /** Its last lines, for error messages. */
  tail(lines?: number): string;
  /** Current length of the log: pass as `since` to wait for output after this point. */
  mark(): number;
  /** host port for each hostfwd entry, in order. */
  ports: number[];
  logFile: string;
  /** Powers the VM off (SIGTERM, then SIGKILL) and cleans up its temp files. */
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

const OVMF_DIR = '/usr/share/OVMF';
const OVMF_CODE = `${OVMF_DIR}/OVMF_CODE_4M.fd`;
const OVMF_VARS = `${OVMF_DIR}/OVMF_VARS_4M.fd`;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Console text without ANSI escapes and carriage returns (firmware and GRUB paint with them), as a person reads it. */
export function readable(text: string): string {
  return text.replace(/\x1b\[[0-9;?=]*[A-Za-z]/g, '').replace(/\r/g, '');
}

/**
 * Each line as a terminal shows it: a carriage return goes back to the line's start and what
 * follows overwrites it. systemd clears its status line on the console that way ("\\r", spaces,
 * "\\r"), and such a clearing can land inside a command's output.
 */
export function overstruck(text: string): string {
  return text
    .split('\n')
    .map((line) =>
      line.split('\r').reduce((shown, part) => {
        const rest = shown.slice(part.length);
        return part + (rest.trim() === '' ? '' : rest);
      }, ''),
    )
    .join('\n');
}

function tailOf(text: string, lines: number): string {
  return readable(text).trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * The guest's CPU model: qemu64, not max. A guest that sees max's features picks code paths TCG
 * emulates slowly (the kernel's sha256 was its AVX2 one, for instance): the same 2 GiB dd to a
 * partition took 121 s under max and 58 s under qemu64, two VMs side by side, and a first-boot
 * apply 57 s against 43 s. (The whole make test, mostly waits, took as long as before.)
 */
export const CPU_MODEL = 'qemu64';

export function qemuArgs(opts: QemuOptions, paths: { serialSock: string; monitorSock: string; vars?: string }, ports: number[]): string[] {
  const args = [
    '-machine', 'q35,accel=tcg',
    '-cpu', CPU_MODEL,
    '-smp', String(opts.cpus ?? 1),
    '-m', String(opts.memoryMb ?? 1024),
    '-display', 'none',
    '-vga', 'std',
    '-monitor', `unix:${paths.monitorSock},server=on,wait=off`,
    '-no-reboot',
    '-chardev', `socket,id=ser0,path=${paths.serialSock},server=on,wait=on`,
    '-serial', 'chardev:ser0',
  ];
  if (opts.firmware === 'uefi') {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`);
    args.push('-drive', `if=pflash,format=raw,unit=1,file=${paths.vars}`);
  }
  (opts.drives ?? []).forEach((d, i) => {
    const fmt = d.format ?? (d.path.endsWith('.qcow2') ? 'qcow2' : 'raw');
    const bus = d.interface ?? 'virtio';
    const snap = d.snapshot ?? true;
    args.push('-drive', `file=${d.path},format=${fmt},if=${bus === 'scsi' || bus === 'usb' ? 'none' : bus},id=disk${i},snapshot=${snap ? 'on' : 'off'}`);
    if (bus === 'scsi') args.push('-device', 'virtio-scsi-pci', '-device', `scsi-hd,drive=disk${i}`);
    if (bus === 'usb') args.push('-device', `qemu-xhci,id=xhci${i}`, '-device', `usb-storage,bus=xhci${i}.0,drive=disk${i},removable=on`);
  });
  if (opts.cdrom) args.push('-drive', `file=${opts.cdrom},media=cdrom,readonly=on,if=ide,index=2`);
  if (opts.bootFrom === 'cdrom') args.push('-boot', 'order=dc');
  const nics = opts.nics?.count ?? 1;
  const model = opts.nics?.model ?? 'virtio-net-pci';
  for (let i = 0; i < nics; i++) {
    const fwd =
      i === 0 ? (opts.hostfwd ?? []).map((f, j) => `,hostfwd=${f.proto ?? 'tcp'}:127.0.0.1:${ports[j]}-:${f.guestPort}`).join('') : ',restrict=on';
    args.push('-netdev', `user,id=n${i}${fwd}`, '-device', `${model},netdev=n${i},mac=52:54:00:12:34:${(0x56 + i).toString(16)}`);
  }
  args.push(...(opts.extraArgs ?? []));
  return args;
}

export async function startQemu(opts: QemuOptions): Promise<Qemu> {
  const dir = mkdtempSync(join(tmpdir(), 'lbimage-qemu-'));
  const serialSock = join(dir, 'serial.sock');
  const monitorSock = join(dir, 'monitor.sock');
  let vars: string | undefined;
  if (opts.firmware === 'uefi') {
    if (!existsSync(OVMF_CODE)) throw new Error(`${OVMF_CODE} missing: apt-get install ovmf`);
    vars = join(dir, 'OVMF_VARS.fd');
    copyFileSync(OVMF_VARS, vars);
  }
  const ports: number[] = [];
  for (const f of opts.hostfwd ?? []) ports.push(f.hostPort || (await freePort()));
  const logFile = opts.logFile ?? join(tmpdir(), `lbimage-console-${opts.name ?? 'vm'}-${process.pid}-${Date.now()}.log`);
  writeFileSync(logFile, '');

  const argv = ['qemu-system-x86_64', ...qemuArgs(opts, { serialSock, monitorSock, vars }, ports)];
  // `ip netns exec` execs QEMU in place, so the child is QEMU itself (stop() signals it directly).
  if (opts.netns) argv.unshift('ip', 'netns', 'exec', opts.netns);
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  let out = '';
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  void exited.then(notify);

  // qemu creates the socket, then waits (wait=on) for us before the guest starts: nothing is lost.
  const sock: Socket = await new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const attempt = () => {
      if (hasExited) return reject(new Error(`qemu exited before its serial socket was ready:\n${stderr}`));
      if (!existsSync(serialSock)) {
        if (Date.now() > deadline) return reject(new Error(`qemu did not create ${serialSock} within 20s:\n${stderr}`));
        return void setTimeout(attempt, 50);
      }
      const s = connect(serialSock);
      s.once('connect', () => resolve(s));
      s.once('error', () => setTimeout(attempt, 50));
    };
    attempt();
  });
  sock.on('data', (d: Buffer) => {
    const text = d.toString('latin1');
    out += text;
    appendFileSync(logFile, d);
    notify();
  });
  sock.on('error', () => undefined);

  const monitor = humanMonitor(monitorSock);
  const vm: Qemu = {
    monitor,
    async vgaText() {
      const dump = join(dir, 'vga.bin');
      // Quoted: the monitor reads an unquoted path as an expression (a / b).
      const said = await monitor(`pmemsave 0xb8000 0x8000 "${dump}"`);
      if (!existsSync(dump)) throw new Error(`qemu monitor: pmemsave wrote nothing: ${said.trim()}`);
      return vgaRows(readFileSync(dump));
    },
    async typeKeys(text) {
      for (const ch of text) {
        await monitor(`sendkey ${keyName(ch)}`);
        await new Promise((r) => setTimeout(r, 30));
      }
    },
    ports,
    logFile,
    exited,
    log: () => out,
    tail: (lines = 40) => tailOf(out, lines),
    mark: () => out.length,
    send: (text) => void sock.write(text),
    waitFor(pattern, unscaledMs, { since = 0 } = {}) {
      const timeoutMs = scaled(unscaledMs);
      const re = typeof pattern === 'string' ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : pattern;
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.slice(since).match(re);
          if (m) return finish(() => resolve(m));
          if (hasExited) finish(() => reject(new Error(`qemu exited while waiting for ${re}\nqemu: ${stderr.trim()}\n--- console tail (${logFile}) ---\n${tailOf(out, 60)}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out after ${timeoutMs / 1000}s waiting for ${re}\n--- console tail (${logFile}) ---\n${tailOf(out, 60)}`))),
          timeoutMs,
        );
        const finish = (f: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          f();
        };
        listeners.add(check);
        check();
      });
    },
    async stop() {
      if (!hasExited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      sock.destroy();
      monitor.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return vm;
}

/** VGA text memory (character, attribute pairs) as 80-column rows, trailing blanks trimmed. */
export function vgaRows(mem: Buffer): string[] {
  const rows: string[] = [];
  for (let r = 0; r < Math.floor(mem.length / 160); r++) {
    let row = '';
    for (let c = 0; c < 80; c++) {
      const ch = mem[(r * 80 + c) * 2] ?? 0x20;
      row += ch >= 0x20 && ch < 0x7f ? String.fromCharCode(ch) : ' ';
    }
    rows.push(row.trimEnd());
  }
  return rows;
}

const SHIFTED: Record<string, string> = { '"': 'apostrophe', '_': 'minus', '=': 'equal', ':': 'semicolon', '?': 'slash', '>': 'dot', '<': 'comma', '!': '1', '@': '2', '#': '3', '$': '4', '%': '5', '&': '7', '*': '8', '(': '9', ')': '0', '+': 'equal' };
const PLAIN: Record<string, string> = { ' ': 'spc', '\n': 'ret', '\r': 'ret', '-': 'minus', '=': 'equal', '.': 'dot', ',': 'comma', '/': 'slash', ';': 'semicolon', "'": 'apostrophe', '\t': 'tab' };

/** The monitor's `sendkey` name of a character on a US keyboard. */
export function keyName(ch: string): string {
  if (/^[a-z0-9]$/.test(ch)) return ch;
  if (/^[A-Z]$/.test(ch)) return `shift-${ch.toLowerCase()}`;
  if (PLAIN[ch]) return PLAIN[ch];
  if (SHIFTED[ch]) return `shift-${SHIFTED[ch]}`;
  throw new Error(`no key for ${JSON.stringify(ch)}`);
}

type Monitor = ((command: string) => Promise<string>) & { close(): void };

/** A client of QEMU's human monitor on a unix socket: one command at a time, output up to the next prompt. */
function humanMonitor(path: string): Monitor {
  let conn: Promise<{ sock: Socket; read: () => Promise<string> }> | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const open = () =>
    new Promise<{ sock: Socket; read: () => Promise<string> }>((resolve, reject) => {
      const sock = connect(path);
      let buf = '';
      let waiting: (() => void) | undefined;
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        waiting?.();
      });
      // Output ends at the next "(qemu) " prompt.
      const read = () =>
        new Promise<string>((res, rej) => {
          const t = setTimeout(() => rej(new Error(`qemu monitor: no prompt within 30s; got ${JSON.stringify(buf)}`)), 30_000);
          const check = () => {
            const at = buf.indexOf('(qemu) ');
            if (at < 0) return;
            clearTimeout(t);
            waiting = undefined;
            const out = buf.slice(0, at);
            buf = buf.slice(at + 7);
            res(out);
          };
          waiting = check;
          check();
        });
      sock.once('error', reject);
      sock.once('connect', () => void read().then(() => resolve({ sock, read }), reject)); // the banner
    });
  const run = async (command: string) => {
    const c = await (conn ??= open());
    c.sock.write(`${command}\n`);
    return readable(await c.read());
  };
  const monitor = ((command: string) => {
    const next = queue.then(() => run(command));
    queue = next.catch(() => undefined);
    return next;
  }) as Monitor;
  monitor.close = () => void conn?.then((c) => c.sock.destroy(), () => undefined);
  return monitor;
}

/** Appends a note to a console log (e.g. which test step is running), for humans reading it later. */
export function annotate(vm: Qemu, note: string): void {
  appendFileSync(vm.logFile, `\n[harness] ${note}\n`);
}
