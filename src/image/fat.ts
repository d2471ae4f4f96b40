import type { FileHandle } from 'node:fs/promises';

/** The geometry of a FAT16/FAT32 file system, from its boot sector. */
export interface FatGeometry {
  type: 'FAT16' | 'FAT32';
  clusterBytes: number;
  clusters: number;
  /** Byte offset of the first FAT from the start of the partition, and its length. */
  fatOffset: number;
  fatBytes: number;
}

/** Reads the BIOS parameter block; undefined when the sector is not a FAT16/32 boot sector. */
export function parseFatBootSector(sector: Buffer): FatGeometry | undefined {
  if (sector.length < 512 || sector[510] !== 0x55 || sector[511] !== 0xaa) return undefined;
  const bytesPerSector = sector.readUInt16LE(11);
  const sectorsPerCluster = sector[13]!;
  const reserved = sector.readUInt16LE(14);
  const fats = sector[16]!;
  const rootEntries = sector.readUInt16LE(17);
  const total = sector.readUInt16LE(19) || sector.readUInt32LE(32);
  const fatSectors = sector.readUInt16LE(22) || sector.readUInt32LE(36);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector) || sectorsPerCluster === 0 || fats === 0) {
    return undefined;
  }
  const rootSectors = Math.ceil((rootEntries * 32) / bytesPerSector);
  const dataSectors = total - (reserved + fats * fatSectors + rootSectors);
  const clusters = Math.floor(dataSectors / sectorsPerCluster);
  // The FAT type is decided by the cluster count alone (Microsoft's FAT specification).
  if (clusters < 4085) return undefined;
  return {
    type: clusters < 65525 ? 'FAT16' : 'FAT32',
    clusterBytes: bytesPerSector * sectorsPerCluster,
    clusters,
    fatOffset: reserved * bytesPerSector,
    fatBytes: fatSectors * bytesPerSector,
  };
}

/** Free bytes in the FAT file system starting at `offset` in the file: free clusters counted in the FAT. */
export async function fatFreeBytes(file: FileHandle, offset: number): Promise<number | undefined> {
  const { buffer: sector } = await file.read(Buffer.alloc(512), 0, 512, offset);
  const fat = parseFatBootSector(sector);
  if (!fat) return undefined;
  const entry = fat.type === 'FAT32' ? 4 : 2;
  const table = Buffer.alloc(Math.min(fat.fatBytes, (fat.clusters + 2) * entry));
  await file.read(table, 0, table.length, offset + fat.fatOffset);
  let free = 0;
  for (let c = 2; c < fat.clusters + 2; c++) {
    const value = entry === 4 ? table.readUInt32LE(c * 4) & 0x0fffffff : table.readUInt16LE(c * 2);
    if (value === 0) free++;
  }
  return free * fat.clusterBytes;
}
