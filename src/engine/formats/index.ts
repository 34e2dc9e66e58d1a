/**
 * Model files in, graph IR out, and back. The format is recognised from the file's content
 * (magic bytes), not only from its extension. Every error names the file.
 *
 * Writers never touch the input: a repaired model goes to a new path, and existing files are
 * never overwritten (files are created exclusively).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors';
import { WeightMap } from '../graph/ir';
import { unzipSync } from 'fflate';
import { isHdf5, parseKerasArchive, parseKerasH5, serializeKerasModel } from './keras';
import { looksLikeOnnx, parseOnnxModel, serializeOnnxModel } from './onnx';
import { isZipFile, parsePytorchCheckpoint, serializePytorchCheckpoint, torchArchivePrefix } from './pytorch';
import { looksLikeSafetensors, parseSafetensors, serializeSafetensors } from './safetensors';
import { parseTfjsModel, serializeTfjsModel } from './tfjs';
import { LoadOptions, LoadedModel, ModelFormat, SerializedModel } from './types';

export * from './types';

/** A format's loader and writer. Loaders get the file's bytes and a way to read files beside it. */
export interface FormatHandler {
  format: ModelFormat;
  /** True when the bytes (the start of the file is enough) are this format. */
  detect(head: Uint8Array, fileName: string): boolean;
  parse(bytes: Uint8Array, readSibling: (relativePath: string) => Uint8Array, filePath: string, options: LoadOptions): Promise<LoadedModel> | LoadedModel;
  /** Serialises `model` with `weights` into files whose main file is named `fileName`. */
  serialize(model: LoadedModel, weights: WeightMap, fileName: string): Promise<SerializedModel> | SerializedModel;
}

const tfjsHandler: FormatHandler = {
  format: 'tfjs',
  detect(head) {
    const text = new TextDecoder().decode(head.subarray(0, 4096));
    return /^\s*\{/.test(text) && text.includes('"modelTopology"');
  },
  parse(bytes, readSibling, filePath) {
    return parseTfjsModel(bytes, readSibling, filePath);
  },
  serialize(model, weights, fileName) {
    return serializeTfjsModel(model.graph, weights, fileName, model.format === 'tfjs' ? model.source : undefined, model.classes);
  },
};

/**
 * Entry names of a zip archive, from its central directory when the whole file is at hand
 * (nothing is decompressed), else from the local headers that the head of the file holds.
 */
function zipEntryNames(bytes: Uint8Array): string[] {
  const names: string[] = [];
  try {
    unzipSync(bytes, {
      filter: (file) => {
        names.push(file.name);
        return false;
      },
    });
    return names;
  } catch {
    names.length = 0;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let pos = 0; pos + 30 <= bytes.length && view.getUint32(pos, true) === 0x04034b50; ) {
    const flags = view.getUint16(pos + 6, true);
    const size = view.getUint32(pos + 18, true);
    const nameLength = view.getUint16(pos + 26, true);
    const extraLength = view.getUint16(pos + 28, true);
    if (pos + 30 + nameLength > bytes.length) break;
    names.push(new TextDecoder().decode(bytes.subarray(pos + 30, pos + 30 + nameLength)));
    // With a data descriptor (flag bit 3) or zip64 sizes, the next header's position is unknown.
    if (flags & 0x08 || size === 0xffffffff) break;
    pos += 30 + nameLength + extraLength + size;
  }
  return names;
}

const kerasHandler: FormatHandler = {
  format: 'keras',
  detect(head) {
    if (!isZipFile(head)) return false;
    const names = zipEntryNames(head);
    return names.includes('config.json') && (names.includes('model.weights.h5') || names.includes('model.weights.npz'));
  },
  parse: (bytes, _readSibling, filePath) => parseKerasArchive(bytes, filePath),
  serialize: (model, weights, fileName) => serializeKerasModel(model, weights, fileName),
};

const h5Handler: FormatHandler = {
  format: 'h5',
  detect: (head) => isHdf5(head),
  parse: (bytes, _readSibling, filePath) => parseKerasH5(bytes, filePath),
  serialize: (model, weights, fileName) => serializeKerasModel(model, weights, fileName),
};

const pytorchHandler: FormatHandler = {
  format: 'pytorch',
  detect(head) {
    if (isZipFile(head)) return torchArchivePrefix(zipEntryNames(head)) !== undefined;
    // A bare pickle (protocol 2+): the legacy torch.save format, which the parser refuses clearly.
    return head[0] === 0x80 && head[1] >= 2 && head[1] <= 5;
  },
  parse: (bytes, _readSibling, filePath, options) => parsePytorchCheckpoint(bytes, filePath, options),
  serialize: (model, weights, fileName) => serializePytorchCheckpoint(model, weights, fileName),
};

const safetensorsHandler: FormatHandler = {
  format: 'safetensors',
  detect: (head) => looksLikeSafetensors(head),
  parse: (bytes, _readSibling, filePath, options) => parseSafetensors(bytes, filePath, options),
  serialize: (model, weights, fileName) => serializeSafetensors(model, weights, fileName),
};

const onnxHandler: FormatHandler = {
  format: 'onnx',
  detect: (head) => looksLikeOnnx(head),
  parse: (bytes, readSibling, filePath) => parseOnnxModel(bytes, readSibling, filePath),
  serialize: (model, weights, fileName) => serializeOnnxModel(model, weights, fileName),
};

// ONNX has no magic bytes, so its structural check runs after every format that has one.
const handlers: FormatHandler[] = [tfjsHandler, kerasHandler, pytorchHandler, h5Handler, safetensorsHandler, onnxHandler];

/** Adds or replaces a format handler (for formats outside this folder). */
export function registerFormat(handler: FormatHandler): void {
  const existing = handlers.findIndex((h) => h.format === handler.format);
  if (existing >= 0) handlers.splice(existing, 1, handler);
  else handlers.push(handler);
}

export function supportedFormats(): ModelFormat[] {
  return handlers.map((h) => h.format);
}

/** A reader for files next to the model that refuses paths leaving the model's folder. */
export function siblingReader(modelPath: string): (relativePath: string) => Uint8Array {
  const dir = path.dirname(path.resolve(modelPath));
  return (relativePath: string) => {
    if (path.isAbsolute(relativePath) || /^[a-z]+:\/\//i.test(relativePath)) {
      throw new InputError(modelPath, `refers to '${relativePath}'; only files inside the model's folder are read`);
    }
    const resolved = path.resolve(dir, relativePath);
    if (resolved !== dir && !resolved.startsWith(dir + path.sep)) {
      throw new InputError(modelPath, `refers to '${relativePath}', which is outside the model's folder`);
    }
    try {
      return new Uint8Array(fs.readFileSync(resolved));
    } catch (e) {
      throw new InputError(modelPath, `cannot read '${relativePath}' next to it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
}

export function detectFormat(head: Uint8Array, fileName: string): ModelFormat | undefined {
  return handlers.find((h) => h.detect(head, fileName))?.format;
}

/** Loads any supported model file into the IR. Bad input raises InputError naming the file. */
export async function loadModel(filePath: string, options: LoadOptions = {}): Promise<LoadedModel> {
  let bytes: Uint8Array;
  try {
    const stat = fs.statSync(filePath);
    if (stat.isDirectory()) {
      throw new InputError(filePath, 'is a folder; give the model file (for TF.js, its model.json)');
    }
    bytes = new Uint8Array(fs.readFileSync(filePath));
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(filePath, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (bytes.byteLength === 0) {
    throw new InputError(filePath, 'is empty');
  }
  const handler = handlers.find((h) => h.detect(bytes, path.basename(filePath)));
  if (!handler) {
    throw new InputError(filePath, `is not a model format this tool reads (${supportedFormats().join(', ')})`);
  }
  try {
    return await handler.parse(bytes, siblingReader(filePath), filePath, options);
  } catch (e) {
    if (e instanceof InputError) throw e;
    throw new InputError(filePath, `${(e as Error).message}`);
  }
}

/**
 * Writes `model` with new `weights` to `outPath` in the model's own format. Refuses to write over
 * the input or over any existing file.
 */
export async function writeModel(model: LoadedModel, weights: WeightMap, outPath: string): Promise<string[]> {
  const handler = handlers.find((h) => h.format === model.format);
  if (!handler) throw new Error(`no writer for format ${model.format}`);
  const resolvedOut = path.resolve(outPath);
  if (resolvedOut === path.resolve(model.path)) {
    throw new InputError(outPath, 'is the input model; a repaired model is always written to a new file');
  }
  const serialized = await handler.serialize(model, weights, path.basename(outPath));
  const dir = path.dirname(resolvedOut);
  const written: string[] = [];
  for (const file of serialized.files) {
    const target = path.join(dir, file.name);
    if (fs.existsSync(target)) {
      throw new InputError(target, 'already exists; choose another output name (existing files are never overwritten)');
    }
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const file of serialized.files) {
    const target = path.join(dir, file.name);
    fs.writeFileSync(target, file.bytes, { flag: 'wx' });
    written.push(target);
  }
  return written;
}

/** A default output path beside the input: `name.repaired.ext` (model.json -> model.repaired.json). */
export function defaultOutputPath(inputPath: string, suffix = 'repaired'): string {
  const ext = path.extname(inputPath);
  const base = path.basename(inputPath, ext);
  let candidate = path.join(path.dirname(inputPath), `${base}.${suffix}${ext}`);
  for (let i = 2; fs.existsSync(candidate); i++) {
    candidate = path.join(path.dirname(inputPath), `${base}.${suffix}-${i}${ext}`);
  }
  return candidate;
}
