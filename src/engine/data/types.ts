/**
 * The shape every dataset source presents to the rest of the engine: labels known up front, images
 * decoded one at a time on demand, so that memory stays flat however many images a scan reads.
 */

/** One decoded image: HWC bytes, 1 (grey) or 3 (RGB) channels. */
export interface DecodedImage {
  height: number;
  width: number;
  channels: number;
  /** Row-major HWC, length height * width * channels. */
  pixels: Uint8Array;
}

/** An opened dataset. Image `i` has label `labels[i]`, an index into `classes`. */
export interface Dataset {
  /** The path the dataset was opened from. */
  path: string;
  /** The detected source kind, e.g. 'imagefolder-zip', 'cifar10-bin', 'npz', 'idx'. */
  kind: string;
  /** Class names in label order. */
  classes: string[];
  labels: Int32Array;
  size: number;
  /** Decodes image `i`; each call decodes afresh, nothing is cached. */
  readImage(i: number): DecodedImage;
  /** Where image `i` comes from (file, zip entry or record), so reports can point at it. */
  itemName(i: number): string;
  /** One paragraph for reports: source, size, classes with counts, how images are read. */
  describe(): string;
}

/** Which part of a source that holds both a training and a test part to open. */
export type SplitName = 'train' | 'test';

export interface OpenOptions {
  /**
   * Class names in label order. For ImageFolder sources they fix the label of each class folder
   * (a model trained with another order than the sorted folder names); for sources with numeric
   * labels they name the labels.
   */
  classes?: string[];
  /**
   * Which part to open when a source holds both (train/ and test/ folders, data_batch_* and
   * test_batch, x_train and x_test). Defaults to the test part, since scans want held-out data.
   */
  split?: SplitName;
}
