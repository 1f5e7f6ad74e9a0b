/**
 * The schemas of a board file (boards/<name>.yaml) and of the image recipe (image/recipe.yaml).
 * They are the only source of truth: the TypeScript types below are derived from them, and the
 * README's field list mirrors their descriptions.
 */
import { type Static, Type } from '@sinclair/typebox';
import { StringEnum } from '../yamlsrc.js';

export const FORMAT_NAMES = ['raw', 'bmap', 'qcow2', 'libvirt', 'ova', 'vhdx', 'iso', 'update'] as const;
export const FIRMWARES = ['bios', 'uefi', 'both'] as const;

const Name = Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', hint: 'lower-case letters, digits and dashes' });
const PackageName = Type.String({ pattern: '^[a-z0-9][a-z0-9+.-]+$', hint: 'a Debian package name' });
const ModuleName = Type.String({ pattern: '^[A-Za-z0-9_-]+$', hint: 'a kernel module name' });

export const ConsoleSchema = Type.Object(
  {
    tty: Type.String({ pattern: '^tty(S[0-9]+|[0-9]+)$', hint: 'tty0 (VGA) or ttyS<n> (serial)', description: 'kernel console device' }),
    baud: Type.Optional(Type.Integer({ enum: [9600, 19200, 38400, 57600, 115200], description: 'serial speed' })),
  },
  { description: 'a console; the last one listed is /dev/console' },
);

export const NicSchema = Type.Object(
  {
    model: Type.String({ description: 'NIC model as the hypervisor names it (virtio-net-pci, e1000e, vmxnet3, hv_netvsc, igb, ...)' }),
    count: Type.Integer({ minimum: 1, maximum: 16 }),
    names: Type.Optional(
      Type.Array(
        Type.Object({
          name: Type.String({ pattern: '^eth[0-9]+$', hint: 'eth<n> (the image boots with net.ifnames=0)' }),
          label: Type.String({ description: 'what the port is called on the box or in the guides, e.g. Gb0' }),
          role: StringEnum(['internal', 'external', 'heartbeat', 'spare'] as const),
        }),
      ),
    ),
  },
  { description: 'network interfaces' },
);

/**
 * Every field a complete board has. A board file may leave fields out when it `extends` another
 * board: the base's top-level fields apply unless the file sets them (a set field replaces the
 * base's value whole, nested objects and lists included).
 */
const boardFields = {
  description: Type.String({ description: 'one line saying what the target is' }),
  kind: StringEnum(['physical', 'virtual'] as const, { description: 'a unit we ship, or a virtual appliance' }),
  firmware: StringEnum(FIRMWARES, { description: 'which boot paths the disk must have' }),
  consoles: Type.Array(ConsoleSchema, { minItems: 1 }),
  heartbeat_serial: Type.Optional(
    Type.String({ pattern: '^ttyS[0-9]+$', description: 'serial port reserved for the heartbeat null-modem cable (no console, no getty)' }),
  ),
  nic: NicSchema,
  cpus: Type.Integer({ minimum: 1, maximum: 256, description: 'virtual CPUs (virtual boards) or the unit\'s cores' }),
  memory_mib: Type.Integer({ minimum: 512, description: 'RAM in MiB' }),
  disk_gib: Type.Integer({ minimum: 2, maximum: 65536, description: 'size of the (thin) disk in GiB' }),
  formats: Type.Array(StringEnum(FORMAT_NAMES), { minItems: 1, uniqueItems: true, description: 'artifacts under out/<board>/' }),
  packages: Type.Optional(Type.Array(PackageName, { uniqueItems: true, description: 'Debian packages on top of the recipe' })),
  kernel_modules: Type.Optional(Type.Array(ModuleName, { uniqueItems: true, description: 'loaded at boot (/etc/modules-load.d)' })),
  overlays: Type.Optional(
    Type.Array(Name, { description: 'extra overlays/<name>/ trees, applied after common and the board chain\'s own' }),
  ),
  vmware: Type.Optional(
    Type.Object({ hardware_version: Type.String({ pattern: '^vmx-[0-9]+$', hint: 'e.g. vmx-13' }) }, { description: 'OVA settings' }),
  ),
  libvirt: Type.Optional(Type.Object({ machine: Type.String({ description: 'e.g. q35' }) }, { description: 'libvirt domain settings' })),
};

export const BOARD_REQUIRED = ['description', 'kind', 'firmware', 'consoles', 'nic', 'cpus', 'memory_mib', 'disk_gib', 'formats'] as const;

/** A complete board, after `extends` is resolved. */
export const BoardSchema = Type.Object(boardFields);
export type BoardFields = Static<typeof BoardSchema>;
export type Board = BoardFields & {
  name: string;
  /** The board files read, base first (for the manifest's input hashes and for messages). */
  files: string[];
  /** Names along the extends chain, base first, ending with this board. */
  chain: string[];
};

/** One board file as written: every field optional, plus `extends`. */
export const BoardFileSchema = Type.Partial(
  Type.Object({ extends: Type.String({ pattern: '^[a-z0-9][a-z0-9-]*$', description: 'name of the board this one is based on' }), ...boardFields }),
);
export type BoardFile = Static<typeof BoardFileSchema>;

const Mib = (description: string, minimum = 1) => Type.Integer({ minimum, description: `${description}, MiB` });

export const RecipeSchema = Type.Object({
  suite: Type.String({ default: 'bookworm', description: 'Debian suite' }),
  architecture: Type.String({ default: 'amd64' }),
  mirror: Type.Optional(
    Type.String({ pattern: '^(https?|file)://', description: 'Debian mirror; default: the build host\'s own apt sources (LBIMAGE_MIRROR overrides both)' }),
  ),
  onbox_mirror: Type.Optional(
    Type.String({
      pattern: '^(https?|file)://[^\\s#]+$',
      description: 'what /etc/apt/sources.list names on the box; default: none (the appliance is updated with offline update archives)',
    }),
  ),
  variant: StringEnum(['apt', 'required', 'important'] as const, { default: 'apt', description: 'mmdebstrap variant' }),
  packages: Type.Array(PackageName, { minItems: 1, uniqueItems: true }),
  path_excludes: Type.Array(Type.String({ pattern: '^/' }), { default: [], description: 'dpkg path-exclude globs' }),
  path_includes: Type.Array(Type.String({ pattern: '^/' }), { default: [], description: 'dpkg path-include globs (exceptions to the excludes)' }),
  hostname: Type.String({ default: 'lb', pattern: '^[a-z0-9][a-z0-9-]*$' }),
  partitions: Type.Object(
    {
      bios_boot_mib: Mib('BIOS boot partition (GRUB core.img)'),
      esp_mib: Mib('EFI system partition (GRUB, grub.cfg, grubenv)', 33),
      root_slot_mib: Mib('each of the two root slots A and B', 256),
      data_min_mib: Mib('smallest persistent data partition; it takes the rest of the disk', 16),
    },
    { description: 'GPT layout; the order is fixed: bios, esp, rootfs-a, rootfs-b, lbdata' },
  ),
  bootloader: Type.Object(
    {
      timeout: Type.Integer({ minimum: 0, maximum: 60, default: 3, description: 'GRUB menu timeout, seconds' }),
    },
    { default: {} },
  ),
  kernel_args: Type.Array(Type.String(), { default: [], description: 'extra kernel arguments for every entry' }),
  disabled_units: Type.Array(Type.String({ pattern: '^[A-Za-z0-9@._-]+\\.(service|socket|timer)$' }), {
    default: [],
    uniqueItems: true,
    description: 'systemd units their packages enable but the supervisor starts only when the stored config wants them',
  }),
});
export type Recipe = Static<typeof RecipeSchema>;

export const OverlayAttrsSchema = Type.Object({
  files: Type.Record(
    Type.String({ pattern: '^[^/].*' }),
    Type.Object({
      mode: Type.Optional(Type.String({ pattern: '^0?[0-7]{3,4}$', hint: 'octal, e.g. "0640"' })),
      owner: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_-]*$' })),
      group: Type.Optional(Type.String({ pattern: '^[a-z_][a-z0-9_-]*$' })),
    }),
    { default: {}, description: 'path inside the overlay tree -> mode, owner, group (default: root, root, the file\'s own mode)' },
  ),
});
export type OverlayAttrs = Static<typeof OverlayAttrsSchema>;
