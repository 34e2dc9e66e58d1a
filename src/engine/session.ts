/**
 * Opening a model and its data the same way for every host (CLI, worker): load the model file,
 * read its sidecar, resolve the preprocessing (options > sidecar > defaults), open the data set
 * and check that data and model fit together. Every mismatch is an InputError naming the file.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { InputError } from './errors';
import { Dataset, openDataset, Preprocessing, readSidecar, resolvePreprocessing, ResolvedPreprocessing, Sidecar, SplitName } from './data';
import { LoadOptions, LoadedModel, loadModel, siblingReader } from './formats';
import { ModelSummary, summarizeModel } from './graph/summary';
import { PreprocessingReport } from './report';

/** Inputs scaled to [0, 1] with no normalisation, when neither options nor a sidecar say more. */
export const DEFAULT_PREPROCESSING: Preprocessing = { scale: 255, mean: [0], std: [1] };

export interface OpenedModel {
  loaded: LoadedModel;
  sidecar?: Sidecar;
  summary: ModelSummary;
  /** Class names: the model file's, else the sidecar's, else the data set's, else numbers. */
  classes: string[];
  sha256: string;
}

export async function openModel(path: string, options: LoadOptions = {}): Promise<OpenedModel> {
  const sidecar = await readSidecar(path);
  const loaded = await loadModel(path, {
    ...options,
    inputShape: options.inputShape ?? (sidecar?.inputShape ? ([...sidecar.inputShape] as [number, number, number]) : undefined),
    numClasses: options.numClasses ?? sidecar?.classes?.length,
  });
  const summary = summarizeModel(loaded.graph, loaded.weights);
  const classes = loaded.classes ?? sidecar?.classes ?? Array.from({ length: summary.numClasses }, (_, i) => String(i));
  if (classes.length !== summary.numClasses) {
    throw new InputError(sidecar?.path ?? path, `names ${classes.length} classes but the model outputs ${summary.numClasses}`);
  }
  return { loaded, sidecar, summary, classes, sha256: modelSha256(path) };
}

export function fileSha256(path: string): string {
  return createHash('sha256').update(fs.readFileSync(path)).digest('hex');
}

/**
 * SHA-256 of a model: the file itself, and for TF.js also the weight shards its manifest lists
 * (in manifest order), since two models of one architecture share a byte-identical model.json.
 * Reports carry it, and caches (the extension's, the zoo's) key on it.
 */
export function modelSha256(path: string): string {
  const bytes = fs.readFileSync(path);
  const hash = createHash('sha256').update(bytes);
  if (bytes[0] === 0x7b /* '{' */) {
    try {
      const manifest = (JSON.parse(bytes.toString('utf8')) as { weightsManifest?: { paths?: string[] }[] }).weightsManifest ?? [];
      const read = siblingReader(path);
      for (const group of manifest) for (const shard of group.paths ?? []) hash.update(read(shard));
    } catch {
      // Not a TF.js model (or unreadable shards, which loading reports): the file's own hash stands.
    }
  }
  return hash.digest('hex');
}

export interface DataOptions {
  /** The data set; defaults to the sidecar's `data`. */
  dataPath?: string;
  preprocessing?: Partial<Preprocessing>;
  /** Which part of a source holding train and test parts to use (default: test). */
  split?: SplitName;
}

export interface OpenedData {
  dataset: Dataset;
  preprocessing: ResolvedPreprocessing;
  inputShape: [number, number, number];
}

export async function openData(model: OpenedModel, options: DataOptions = {}): Promise<OpenedData> {
  const dataPath = options.dataPath ?? model.sidecar?.data;
  if (!dataPath) {
    throw new InputError(model.loaded.path, 'no clean data set given: pass --data, or add "data" to backdoor-scan.json beside the model');
  }
  const inputShape = model.summary.inputShape as [number, number, number];
  const dataset = await openDataset(dataPath, { split: options.split });
  if (dataset.classes.length !== model.summary.numClasses) {
    throw new InputError(dataPath, `has ${dataset.classes.length} classes but the model outputs ${model.summary.numClasses}; the data does not fit this model`);
  }
  const preprocessing = resolvePreprocessing(options.preprocessing, model.sidecar, DEFAULT_PREPROCESSING, inputShape[2]);
  return { dataset, preprocessing, inputShape };
}

export function preprocessingReport(data: OpenedData): PreprocessingReport {
  const { preprocessing: p, origins, sidecarPath } = data.preprocessing;
  const sources = [...new Set(Object.values(origins))].map((o) => (o === 'sidecar' ? `sidecar ${sidecarPath}` : o === 'option' ? 'options' : 'defaults'));
  const first = data.dataset.size > 0 ? data.dataset.readImage(0) : undefined;
  return {
    scale: p.scale,
    mean: p.mean,
    std: p.std,
    source: sources.join(' + '),
    inputShape: data.inputShape,
    resized: first ? first.height !== data.inputShape[0] || first.width !== data.inputShape[1] : false,
  };
}
