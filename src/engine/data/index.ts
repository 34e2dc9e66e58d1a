/** The dataset module's public surface: open a source, choose indices, turn images into model input. */
export type { Dataset, DecodedImage, OpenOptions, SplitName } from './types';
export { openDataset } from './open';
export { CIFAR10_CLASSES } from './cifar';
export { FASHION_MNIST_CLASSES } from './idx';
export {
  buildBatch,
  checkPreprocessing,
  describePreprocessing,
  imageToInput,
  resizeBilinear,
  type ArrayBatch,
  type InputShape,
  type Origin,
  type Preprocessing,
  type ResolvedPreprocessing,
} from './preprocess';
export { parseSidecar, readSidecar, resolvePreprocessing, SIDECAR_NAME, type Sidecar } from './sidecar';
export { classIndices, permutationPrefix, sampleWithReplacement, splitIndices, subsetIndices, type SplitOptions } from './splits';
export { batches, type Batch, type BatchOptions } from './batches';
