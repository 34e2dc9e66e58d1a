/**
 * What every model loader returns and every writer takes. A loader parses bytes into the graph
 * IR; a writer serialises the same model with new weights back into the format it came from.
 */
import { Graph, WeightMap } from '../graph/ir';

export type ModelFormat = 'tfjs' | 'onnx' | 'keras' | 'h5' | 'pytorch' | 'safetensors';

export interface LoadedModel {
  format: ModelFormat;
  /** The file the model was read from (model.json for TF.js). */
  path: string;
  graph: Graph;
  weights: WeightMap;
  /** Class names, when the file carries them. */
  classes?: string[];
  /** Format-specific state the writer needs (original bytes, name maps); opaque elsewhere. */
  source: unknown;
  /** Facts about the load a report should state (e.g. an architecture guessed from key names). */
  notes: string[];
}

export interface LoadOptions {
  /** Built-in architecture for weight-only formats (PyTorch state_dict, safetensors). */
  arch?: string;
  /** Number of classes for weight-only formats when the head cannot tell. */
  numClasses?: number;
  /** Input shape [h, w, c] for weight-only formats. */
  inputShape?: [number, number, number];
}

/** Files of a serialised model; the first one is the model file itself. */
export interface SerializedModel {
  files: { name: string; bytes: Uint8Array }[];
}
