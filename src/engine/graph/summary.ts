/**
 * A model summary for `backdoor-scan info`, the custom editor and reports: plain data only.
 */
import { Graph, WeightMap, isTrainableRole, tensorSize, weightKey, weightRolesOf } from './ir';
import { validateModel } from './shapes';
import { defaultSplitPoint } from './split';

export interface LayerSummary {
  name: string;
  kind: string;
  outputShape: number[];
  params: number;
}

export interface ModelSummary {
  inputShape: number[];
  numClasses: number;
  layers: LayerSummary[];
  /** Trainable parameters (BatchNorm running statistics excluded). */
  parameters: number;
  batchNormLayers: string[];
  batchNormChannels: number;
  /** The default split point, or undefined with the reason in `splitPointError`. */
  splitPoint?: string;
  splitPointShape?: number[];
  splitPointError?: string;
  outputSoftmax: boolean;
}

export function summarizeModel(graph: Graph, weights: WeightMap): ModelSummary {
  const shapes = validateModel(graph, weights);
  const layers: LayerSummary[] = graph.nodes.map((node) => ({
    name: node.name,
    kind: node.op.kind,
    outputShape: shapes.get(node.name) as number[],
    params: weightRolesOf(node.op)
      .filter(isTrainableRole)
      .reduce((n, role) => n + tensorSize(weights.get(weightKey(node.name, role))?.shape ?? []), 0),
  }));
  const bn = graph.nodes.filter((n) => n.op.kind === 'batchNorm');
  let splitPoint: string | undefined;
  let splitPointError: string | undefined;
  try {
    splitPoint = defaultSplitPoint(graph);
  } catch (e) {
    splitPointError = (e as Error).message;
  }
  return {
    inputShape: shapes.get(graph.nodes[0].name) as number[],
    numClasses: (shapes.get(graph.output) as number[])[0],
    layers,
    parameters: layers.reduce((n, l) => n + l.params, 0),
    batchNormLayers: bn.map((n) => n.name),
    batchNormChannels: bn.reduce((n, node) => n + (shapes.get(node.name) as number[]).slice(-1)[0], 0),
    splitPoint,
    splitPointShape: splitPoint ? shapes.get(splitPoint) : undefined,
    splitPointError,
    outputSoftmax: graph.outputSoftmax,
  };
}
