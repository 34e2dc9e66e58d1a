/**
 * The split point divides a classifier into features f(x) (input up to and including the split
 * node) and a head g(z) (everything after). BAN learns its feature mask on z = f(x).
 *
 * The default follows the authors' models: the last conv-block output, i.e. the input of the
 * global pooling or flatten layer that leads to the classifier head.
 */
import { Graph } from './ir';

/** Throws unless cutting after `name` separates the graph: no later node may read an earlier one. */
export function checkSplit(graph: Graph, name: string): void {
  const index = graph.nodes.findIndex((n) => n.name === name);
  if (index < 0) {
    throw new Error(`the model has no layer named '${name}'`);
  }
  if (graph.nodes[index].op.kind === 'input') {
    throw new Error(`the split point '${name}' is the input layer; choose a layer inside the network`);
  }
  const outputIndex = graph.nodes.findIndex((n) => n.name === graph.output);
  if (index >= outputIndex) {
    throw new Error(`the split point '${name}' is not before the output layer '${graph.output}'`);
  }
  const after = new Set<string>([name]);
  for (const node of graph.nodes.slice(index + 1)) {
    for (const input of node.inputs) {
      if (!after.has(input)) {
        throw new Error(`layer '${node.name}' after the split point '${name}' reads '${input}' from before it, so the graph cannot be split there`);
      }
    }
    after.add(node.name);
  }
}

/** The default split point: the input of the last global pooling or flatten layer. */
export function defaultSplitPoint(graph: Graph): string {
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (node.op.kind === 'globalAvgPool' || node.op.kind === 'globalMaxPool' || node.op.kind === 'flatten') {
      const candidate = node.inputs[0];
      try {
        checkSplit(graph, candidate);
        return candidate;
      } catch {
        // A pooling layer inside a branch is no cut point; keep looking further up.
      }
    }
  }
  throw new Error('found no global pooling or flatten layer to split the model at; name a split layer explicitly');
}

/** The split point to use: the requested one (checked) or the default. */
export function resolveSplitPoint(graph: Graph, requested?: string): string {
  if (requested) {
    checkSplit(graph, requested);
    return requested;
  }
  return defaultSplitPoint(graph);
}
