/** One primary partition of an MBR (DOS) partition table. */
export interface MbrPartition {
  index: number;
  type: number;
  /** Byte offset and length on the disk. */
  offset: number;
  size: number;
}

/** The disk identifier and primary partitions of an MBR, or undefined if the sector has none. */
export function parseMbr(
  sector: Uint8Array,
): { diskId: number; partitions: MbrPartition[] } | undefined {
  if (sector.length < 512 || sector[510] !== 0x55 || sector[511] !== 0xaa) return undefined;
  const view = new DataView(sector.buffer, sector.byteOffset, 512);
  const partitions: MbrPartition[] = [];
  for (let i = 0; i < 4; i++) {
    const entry = 446 + i * 16;
    const type = view.getUint8(entry + 4);
    const start = view.getUint32(entry + 8, true);
    const sectors = view.getUint32(entry + 12, true);
    if (type !== 0 && sectors > 0) {
      partitions.push({ index: i + 1, type, offset: start * 512, size: sectors * 512 });
    }
  }
  return { diskId: view.getUint32(440, true), partitions };
}

/** True for the FAT partition types Raspberry Pi OS uses for its boot partition. */
export function isFatType(type: number): boolean {
  return [0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e].includes(type);
}
