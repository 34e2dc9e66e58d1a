/**
 * A minimal zip reader: the central directory is parsed once, and an entry's bytes are fetched
 * (and inflated if deflated) only when asked for, so opening a 50,000-image archive costs one
 * directory read and no decoding.
 */
import { inflateSync } from 'fflate';
import { entryError, type ByteSource } from './bytes';
import { InputError } from '../errors';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated; anything else is refused when read. */
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export function isZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5) && (head[3] === 4 || head[3] === 6);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function u64(dv: DataView, at: number): number {
  return dv.getUint32(at, true) + dv.getUint32(at + 4, true) * 2 ** 32;
}

interface DirectoryLocation {
  count: number;
  offset: number;
  size: number;
}

function findDirectory(src: ByteSource): DirectoryLocation {
  // The end record is 22 bytes plus a comment of at most 65,535 bytes, so it lies in the tail.
  const tailLength = Math.min(src.size, 22 + 65535);
  const tailStart = src.size - tailLength;
  const tail = src.read(tailStart, tailLength);
  const dv = view(tail);
  for (let at = tail.length - 22; at >= 0; at--) {
    if (dv.getUint32(at, true) !== EOCD) continue;
    let count = dv.getUint16(at + 10, true);
    let size = dv.getUint32(at + 12, true);
    let offset = dv.getUint32(at + 16, true);
    // A ZIP64 locator just before the end record means the 64-bit record holds the real values.
    if (at >= 20 && dv.getUint32(at - 20, true) === ZIP64_LOCATOR) {
      const recordAt = u64(dv, at - 20 + 8);
      const record = view(src.read(recordAt, 56));
      if (record.getUint32(0, true) !== ZIP64_EOCD) {
        throw new InputError(src.file, 'corrupt zip: the ZIP64 end record is missing');
      }
      count = u64(record, 32);
      size = u64(record, 40);
      offset = u64(record, 48);
    }
    return { count, size, offset };
  }
  throw new InputError(src.file, 'not a zip archive, or a truncated one (no end-of-directory record)');
}

/** Values that the 32-bit fields mark as 0xffffffff live in the ZIP64 extra field, in this order. */
function applyZip64Extra(entry: ZipEntry, extra: Uint8Array): void {
  const dv = view(extra);
  for (let at = 0; at + 4 <= extra.length; ) {
    const id = dv.getUint16(at, true);
    const length = dv.getUint16(at + 2, true);
    if (id === 0x0001) {
      let p = at + 4;
      if (entry.size === 0xffffffff && p + 8 <= extra.length) {
        entry.size = u64(dv, p);
        p += 8;
      }
      if (entry.compressedSize === 0xffffffff && p + 8 <= extra.length) {
        entry.compressedSize = u64(dv, p);
        p += 8;
      }
      if (entry.localHeaderOffset === 0xffffffff && p + 8 <= extra.length) {
        entry.localHeaderOffset = u64(dv, p);
      }
      return;
    }
    at += 4 + length;
  }
}

/** Reads the central directory: every entry, directories (names ending in '/') included. */
export function readZipDirectory(src: ByteSource): ZipEntry[] {
  const loc = findDirectory(src);
  const dir = src.read(loc.offset, loc.size);
  const dv = view(dir);
  const utf8 = new TextDecoder('utf-8');
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < loc.count; i++) {
    if (at + 46 > dir.length || dv.getUint32(at, true) !== CENTRAL) {
      throw new InputError(src.file, `corrupt zip: central directory entry ${i} of ${loc.count} is damaged`);
    }
    const nameLength = dv.getUint16(at + 28, true);
    const extraLength = dv.getUint16(at + 30, true);
    const commentLength = dv.getUint16(at + 32, true);
    const entry: ZipEntry = {
      // Some Windows tools wrote backslashes, which the format forbids; '/' is what layouts expect.
      name: utf8.decode(dir.subarray(at + 46, at + 46 + nameLength)).replace(/\\/g, '/'),
      flags: dv.getUint16(at + 8, true),
      method: dv.getUint16(at + 10, true),
      compressedSize: dv.getUint32(at + 20, true),
      size: dv.getUint32(at + 24, true),
      localHeaderOffset: dv.getUint32(at + 42, true),
    };
    applyZip64Extra(entry, dir.subarray(at + 46 + nameLength, at + 46 + nameLength + extraLength));
    entries.push(entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

/** Where an entry's (possibly compressed) data starts: after its local header's name and extra field. */
export function entryDataOffset(src: ByteSource, entry: ZipEntry): number {
  const header = view(src.read(entry.localHeaderOffset, 30));
  if (header.getUint32(0, true) !== LOCAL) {
    throw entryError(src.file, entry.name, 'corrupt zip: local header not found');
  }
  return entry.localHeaderOffset + 30 + header.getUint16(26, true) + header.getUint16(28, true);
}

/** Checks that an entry can be read without inflating anything else. */
export function checkReadable(file: string, entry: ZipEntry): void {
  if (entry.flags & 1) {
    throw entryError(file, entry.name, 'encrypted zip entries are not supported');
  }
  if (entry.method !== 0 && entry.method !== 8) {
    throw entryError(file, entry.name, `zip compression method ${entry.method} is not supported (only stored and deflated)`);
  }
}

/** The uncompressed bytes of one entry. */
export function readZipEntry(src: ByteSource, entry: ZipEntry, dataOffset = entryDataOffset(src, entry)): Uint8Array {
  checkReadable(src.file, entry);
  const raw = src.read(dataOffset, entry.compressedSize);
  if (entry.method === 0) return raw;
  let out: Uint8Array;
  try {
    out = inflateSync(raw, { out: new Uint8Array(entry.size) });
  } catch (err) {
    throw entryError(src.file, entry.name, `corrupt deflate data (${(err as Error).message})`);
  }
  if (out.length !== entry.size) {
    throw entryError(src.file, entry.name, `inflated to ${out.length} bytes, the directory says ${entry.size}`);
  }
  return out;
}
