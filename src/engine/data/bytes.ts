/**
 * Random access to the bytes of a file. Sources read headers, directories and single records
 * through this, so a large archive is never held twice and images are fetched only when read.
 */
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { InputError } from '../errors';

export interface ByteSource {
  /** The file the bytes come from, for error messages. */
  readonly file: string;
  readonly size: number;
  /** Bytes [offset, offset + length); throws InputError when that runs past the end. */
  read(offset: number, length: number): Uint8Array;
}

/**
 * Files up to this size are read into memory once: one read is far cheaper than thousands of
 * small ones, and even the 50,000-image CIFAR-10 training zip is only 52 MB.
 */
export const IN_MEMORY_LIMIT = 512 * 1024 * 1024;

function checkRange(file: string, size: number, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > size) {
    throw new InputError(file, `truncated: needs bytes ${offset}..${offset + length} but the data has ${size}`);
  }
}

/** Bytes already in memory (a whole small file, or an inflated zip entry). */
export function memorySource(file: string, data: Uint8Array): ByteSource {
  // A plain view, not a Buffer: Buffer.slice shares memory where Uint8Array.slice copies, and
  // callers copy pixels with slice().
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return {
    file,
    size: bytes.length,
    read(offset, length) {
      checkRange(file, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/**
 * A file on disk. Small files are read whole; larger ones are read piecewise, opening the file
 * for each read so that a dataset holds no descriptor that someone would have to close.
 */
export function fileSource(file: string, inMemoryLimit = IN_MEMORY_LIMIT): ByteSource {
  let size: number;
  try {
    size = statSync(file).size;
  } catch (err) {
    throw new InputError(file, `cannot read: ${(err as Error).message}`);
  }
  if (size <= inMemoryLimit) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new InputError(file, `cannot read: ${(err as Error).message}`);
    }
    return memorySource(file, bytes);
  }
  return {
    file,
    size,
    read(offset, length) {
      checkRange(file, size, offset, length);
      const out = new Uint8Array(length);
      const fd = openSync(file, 'r');
      try {
        let done = 0;
        while (done < length) {
          const n = readSync(fd, out, done, length - done, offset + done);
          if (n === 0) {
            throw new InputError(file, `truncated: the file ended at byte ${offset + done} while reading`);
          }
          done += n;
        }
      } finally {
        closeSync(fd);
      }
      return out;
    },
  };
}

/** A window [offset, offset + length) of another source, e.g. a stored zip entry. */
export function sliceSource(base: ByteSource, offset: number, length: number, file = base.file): ByteSource {
  checkRange(base.file, base.size, offset, length);
  return {
    file,
    size: length,
    read(o, n) {
      checkRange(file, length, o, n);
      return base.read(offset + o, n);
    },
  };
}

/** An InputError about one entry of an archive (or the file itself when there is no entry). */
export function entryError(file: string, entry: string | undefined, problem: string): InputError {
  return new InputError(file, entry === undefined ? problem : `entry '${entry}': ${problem}`);
}
