import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { $, ProcessOutput } from 'zx/core';
import { LbError } from './errors.js';

export interface RunOptions {
  cwd?: string;
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** A non-zero exit is an answer, not a failure (probes). */
  nothrow?: boolean;
  /** Name of the stage, for the error message. */
  stage?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** How every external tool is run; injected so on-box logic can be tested without the tools. */
export type Runner = (cmd: string, args: readonly string[], opts?: RunOptions) => Promise<RunResult>;

/**
 * A command spoken to while it runs, a line at a time: the pair's sync channel, where the
 * secondary checks, waits for the primary's go, then applies, all in one ssh and one process.
 */
export interface Conversation {
  /** One line to its standard input. */
  say(line: string): void;
  /** Its next line of standard output; undefined once it has closed it. */
  hear(): Promise<string | undefined>;
  /** Closes its standard input and waits for it to exit (what it printed after the last line heard, and its stderr). */
  end(): Promise<RunResult>;
}

/** How a conversation is started; injected like Runner. */
export type Converser = (cmd: string, args: readonly string[]) => Conversation;

/** The lines of a stream, one per call; undefined once it has ended. */
export function linesOf(input: Readable): () => Promise<string | undefined> {
  const lines = createInterface({ input, crlfDelay: Infinity })[Symbol.asyncIterator]();
  return async () => {
    const next = await lines.next();
    return next.done ? undefined : next.value;
  };
}

/** A conversation over a command's standard input and output, `exited` settling when it has exited. */
export function conversationOver(stdin: Writable, stdout: Readable, exited: Promise<RunResult>): Conversation {
  const hear = linesOf(stdout);
  let open = true;
  const close = () => {
    if (open) stdin.end();
    open = false;
  };
  return {
    say: (line) => {
      if (open) stdin.write(`${line}\n`);
    },
    hear,
    end: async () => {
      close();
      const r = await exited;
      let rest = '';
      for (let line = await hear(); line !== undefined; line = await hear()) rest += `${line}\n`;
      return { ...r, stdout: rest };
    },
  };
}

export const converseTool: Converser = (cmd, args) => {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  // A peer that closed its stdin early (it refused) must not end this process with EPIPE.
  child.stdin.on('error', () => undefined);
  const exited = new Promise<RunResult>((resolve) => {
    child.once('error', (e: NodeJS.ErrnoException) => resolve({ stdout: '', stderr: `${stderr}${cmd}: ${e.message}`, exitCode: e.code === 'ENOENT' ? 127 : -1 }));
    child.once('close', (code) => resolve({ stdout: '', stderr, exitCode: code ?? -1 }));
  });
  return conversationOver(child.stdin, child.stdout, exited);
};

/**
 * The one table of host dependencies: which Debian package provides each program (by name, as
 * looked up on PATH) or file (absolute path) that the image build, the formats and the tests call
 * on the build host. The build plan lists what a board's build needs (`BuildPlan.hostNeeds`);
 * `lbimage deps` turns that into the packages `make image` installs, and the 127 hint uses it.
 */
export const HOST_PACKAGES: Readonly<Record<string, string>> = {
  // the image build
  mmdebstrap: 'mmdebstrap',
  'dpkg-query': 'dpkg',
  cp: 'coreutils',
  du: 'coreutils',
  'mkfs.ext4': 'e2fsprogs',
  mke2fs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  debugfs: 'e2fsprogs',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  mmd: 'mtools',
  mdir: 'mtools',
  cmp: 'diffutils',
  sfdisk: 'fdisk',
  sgdisk: 'gdisk',
  'grub-mkimage': 'grub-common',
  'grub-editenv': 'grub-common',
  'grub-script-check': 'grub-common',
  '/usr/lib/grub/i386-pc/kernel.img': 'grub-pc-bin',
  '/usr/lib/grub/x86_64-efi/kernel.img': 'grub-efi-amd64-bin',
  // a rootless build's user namespace
  unshare: 'util-linux',
  newuidmap: 'uidmap',
  newgidmap: 'uidmap',
  // the formats
  'qemu-img': 'qemu-utils',
  bmaptool: 'bmap-tools',
  xmllint: 'libxml2-utils',
  'virt-xml-validate': 'libvirt-clients',
  xorriso: 'xorriso',
  cpio: 'cpio',
  zstd: 'zstd',
  ldd: 'libc-bin',
  '/bin/busybox': 'busybox-static',
  '/usr/bin/zstd': 'zstd',
  '/usr/sbin/blkdiscard': 'util-linux',
  // the offline update archive
  dd: 'coreutils',
  rauc: 'rauc',
  mksquashfs: 'squashfs-tools',
  unsquashfs: 'squashfs-tools',
  openssl: 'openssl',
  faketime: 'faketime',
  veritysetup: 'cryptsetup-bin',
  // the daemons' checkers and the boot tests
  'qemu-system-x86_64': 'qemu-system-x86',
  haproxy: 'haproxy',
  ipvsadm: 'ipvsadm',
  ldirectord: 'ldirectord',
  heartbeat: 'heartbeat',
  nft: 'nftables',
  ip: 'iproute2',
  arping: 'arping',
  tar: 'tar',
};

export function packageForTool(cmd: string): string | undefined {
  return HOST_PACKAGES[cmd] ?? HOST_PACKAGES[cmd.split('/').pop() ?? cmd];
}

/** A command as a person would paste it into a shell. */
export function shellQuote(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export const runTool: Runner = async (cmd, args, opts = {}) => {
  const argv = [cmd, ...args];
  let out: ProcessOutput;
  try {
    out = await $({
      cwd: opts.cwd,
      input: opts.input,
      env: opts.env ?? process.env,
      quiet: true,
      nothrow: true,
    })`${argv}`;
  } catch (e) {
    throw new LbError(`${opts.stage ? `${opts.stage}: ` : ''}could not start ${cmd}: ${(e as Error).message}`, {
      code: 'E_TOOL_START',
      cause: e,
    });
  }
  const result: RunResult = { stdout: out.stdout, stderr: out.stderr, exitCode: out.exitCode ?? -1 };
  if (result.exitCode !== 0 && !opts.nothrow) throw toolFailure(argv, result, opts.stage);
  return result;
};

export function toolFailure(argv: readonly string[], r: RunResult, stage?: string): LbError {
  const where = stage ? `${stage}: ` : '';
  if (r.exitCode === 127) {
    const pkg = packageForTool(argv[0] ?? '');
    return new LbError(`${where}${argv[0]} not found`, {
      code: 'E_TOOL_MISSING',
      hint: pkg ? `install it: apt-get install ${pkg}` : `install ${argv[0]} and make sure it is on PATH`,
    });
  }
  const err = tail(r.stderr || r.stdout);
  return new LbError(`${where}command failed (exit ${r.exitCode}): ${shellQuote(argv)}${err ? `\n${err}` : ''}`, {
    code: 'E_TOOL_FAILED',
  });
}
