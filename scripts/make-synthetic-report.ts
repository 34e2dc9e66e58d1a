/**
 * Writes test/fixtures/reports/synthetic-report.json: a SYNTHETIC scan report for the investigation
 * panel's browser test and screenshots, made from plausible numbers for a BadNets ResNet-18 on CIFAR-10
 * (target label 0). No model was scanned to make it. It exists so the panel can be built and tested
 * before the engine's BAN scan records a real report; test/e2e/webview.test.ts reads either.
 *
 *   node --import tsx scripts/make-synthetic-report.ts
 */
import { encode } from 'fast-png';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_BAN_SETTINGS } from '../src/engine/detect/ban';
import { decideVerdict } from '../src/engine/detect/verdict';
import { Rng } from '../src/engine/random';
import { REPORT_SCHEMA_VERSION, type BanStatistics, type NoiseLayerEvidence, type PredictionStats, type SampleEvidence, type ScanReport } from '../src/engine/report';

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'test/fixtures/reports/synthetic-report.json');
const rng = new Rng(20240611);

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const TARGET = 0;
const EVAL_IMAGES = 1000;
const SETTINGS = DEFAULT_BAN_SETTINGS;
const EPS = SETTINGS.eps;

function round(value: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** A normal draw (Box-Muller), for noisy but plausible numbers. */
function normal(mean: number, sd: number): number {
  const u = Math.max(1e-12, rng.next());
  return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

/**
 * Prediction statistics of `images` images (as many per class) where `collapse` of the images go to
 * the target and the rest keep their label with probability `accuracy`.
 */
function stats(collapse: number, accuracy: number, images = EVAL_IMAGES): PredictionStats {
  const histogram = new Array<number>(CLASSES.length).fill(0);
  let correct = 0;
  for (let i = 0; i < images; i++) {
    const label = i % CLASSES.length;
    let prediction: number;
    if (rng.next() < collapse) prediction = TARGET;
    else if (rng.next() < accuracy) prediction = label;
    else prediction = rng.int(CLASSES.length);
    histogram[prediction]++;
    if (prediction === label) correct++;
  }
  const dominantClass = histogram.indexOf(Math.max(...histogram));
  return { accuracy: correct / images, histogram, dominantClass, dominantRate: histogram[dominantClass] / images };
}

/** ResNet-18's BatchNorm layers, named as a PyTorch export names them, with their channel counts. */
function batchNormLayers(): Array<[string, number]> {
  const layers: Array<[string, number]> = [['bn1', 64]];
  const widths = [64, 128, 256, 512];
  widths.forEach((width, stage) => {
    for (let block = 0; block < 2; block++) {
      layers.push([`layer${stage + 1}.${block}.bn1`, width], [`layer${stage + 1}.${block}.bn2`, width]);
      if (stage > 0 && block === 0) layers.push([`layer${stage + 1}.0.shortcut.1`, width]);
    }
  });
  return layers;
}

function noiseEvidence(): NoiseLayerEvidence[] {
  return batchNormLayers().map(([name, channels], i, all) => {
    // The official variant does not project the noise, so |δ| reaches up to 2ε; deeper layers saturate more.
    const depth = i / (all.length - 1);
    const draw = (): number => round(Math.min(2 * EPS, Math.abs(normal(EPS * (0.6 + 0.8 * depth), EPS * 0.35))));
    return {
      name,
      channels,
      absScale: Array.from({ length: channels }, draw),
      absShift: Array.from({ length: channels }, () => round(draw() * 0.8)),
      lossIncrease: round(Math.max(0.01, normal(0.15 + 2.2 * depth ** 2, 0.12)), 3),
    };
  });
}

/** A 4×4×512 mask: most channels kept, a few dozen suppressed, most strongly in the corner the trigger sits in. */
function mask(): { shape: number[]; values: number[]; channelMeans: number[]; benignShare: number } {
  const [h, w, c] = [4, 4, 512];
  const backdoor = new Set<number>();
  while (backdoor.size < 36) backdoor.add(rng.int(c));
  const values = new Array<number>(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const corner = (x + y) / (h + w - 2);
      for (let ch = 0; ch < c; ch++) {
        const v = backdoor.has(ch) ? normal(0.45 - 0.4 * corner, 0.08) : normal(0.9, 0.07);
        values[(y * w + x) * c + ch] = round(Math.max(0, Math.min(1, v)));
      }
    }
  }
  const channelMeans = Array.from({ length: c }, (_, ch) => {
    let sum = 0;
    for (let p = 0; p < h * w; p++) sum += values[p * c + ch];
    return round(sum / (h * w));
  });
  const benignShare = round(values.reduce((s, v) => s + v, 0) / values.length);
  return { shape: [h, w, c], values, channelMeans, benignShare };
}

/** A 32×32 picture of a soft blob whose hue depends on the label: stands in for a CIFAR image. */
function pictureDataUri(label: number): string {
  const size = 32;
  const data = new Uint8Array(size * size * 3);
  const hue = (label / CLASSES.length) * 2 * Math.PI;
  const base = [Math.cos(hue), Math.cos(hue + 2.1), Math.cos(hue + 4.2)].map((v) => 128 + 90 * v);
  const cx = 10 + rng.next() * 12;
  const cy = 10 + rng.next() * 12;
  const radius = 6 + rng.next() * 6;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - cx, y - cy) / radius;
      const inside = Math.exp(-d * d);
      for (let k = 0; k < 3; k++) {
        const background = 70 + 60 * (y / size) + 20 * Math.sin(x / 3 + k);
        data[(y * size + x) * 3 + k] = Math.max(0, Math.min(255, Math.round(background * (1 - inside) + base[k] * inside + normal(0, 6))));
      }
    }
  }
  return `data:image/png;base64,${Buffer.from(encode({ width: size, height: size, data, channels: 3 })).toString('base64')}`;
}

function samples(): SampleEvidence[] {
  return Array.from({ length: 24 }, (_, i) => {
    const index = 37 * i + rng.int(37);
    const label = (i * 3 + 1) % CLASSES.length;
    const cleanPrediction = rng.next() < 0.92 ? label : rng.int(CLASSES.length);
    const noisyPrediction = rng.next() < 0.72 ? TARGET : rng.next() < 0.6 ? cleanPrediction : rng.int(CLASSES.length);
    return { index, item: `test_batch.bin#${index}`, label, cleanPrediction, noisyPrediction, png: pictureDataUri(label) };
  });
}

function activations(): { layer: string; targetMeans: number[]; otherMeans: number[] } {
  const otherMeans = Array.from({ length: 512 }, () => round(Math.max(0, normal(0.42, 0.18))));
  const targetMeans = otherMeans.map((v, i) => round(i % 29 === 7 ? v + 1.2 + rng.next() * 1.4 : Math.max(0, v + normal(0, 0.08))));
  return { layer: 'layer4.1', targetMeans, otherMeans };
}

// The sweep measures the configured strengths and the scan's own ε, on the first `sweepImages` images.
const sweepEps = [...SETTINGS.sweepEps, EPS];
const collapseNoisy = [0.55, 0.74, 0.86, 0.9];
const collapseNegative = [0.9, 0.96, 0.98, 0.985];
const noisy = stats(collapseNoisy[3], 0.8);
const negativeMask = stats(collapseNegative[3], 0.6);
const statistics: BanStatistics = {
  clean: stats(0, 0.93),
  noisy,
  negativeMask,
  positiveMask: stats(0, 0.9),
  negativeMaskNoNoise: stats(0.5, 0.3),
  sweep: sweepEps.map((eps, i) => ({
    eps,
    noisy: stats(collapseNoisy[i], 0.8, SETTINGS.sweepImages),
    negativeMask: stats(collapseNegative[i], 0.6, SETTINGS.sweepImages),
  })),
};
const maskEvidence = mask();
const noise = noiseEvidence();

const report: ScanReport & { $comment: string } = {
  $comment: 'SYNTHETIC report made by scripts/make-synthetic-report.ts from plausible numbers; no model was scanned.',
  schemaVersion: REPORT_SCHEMA_VERSION,
  tool: { name: 'backdoor-scan', version: '0.1.0' },
  createdAt: '2026-01-15T10:24:00.000Z',
  model: {
    path: '/workspace/models/badnets-resnet18-cifar10/model.json',
    format: 'tfjs-layers',
    sha256: '3f5a9c0d1e7b24a86c4f0e9d2b1a7c6e5d4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b',
    inputShape: [32, 32, 3],
    numClasses: CLASSES.length,
    classes: CLASSES,
    parameters: 11173962,
    batchNormLayers: noise.length,
    batchNormChannels: noise.reduce((s, l) => s + l.channels, 0),
    splitPoint: 'layer4.1',
    splitShape: maskEvidence.shape,
    notes: ['Synthetic report for the panel test: the numbers are made up, not measured.'],
  },
  data: {
    path: '/workspace/data/cifar-10-batches-bin/test_batch.bin',
    kind: 'cifar-binary',
    size: 10000,
    optimisationImages: 500,
    evaluationImages: EVAL_IMAGES,
    preprocessing: {
      scale: 1 / 255,
      mean: [0.4914, 0.4822, 0.4465],
      std: [0.247, 0.2435, 0.2616],
      source: 'sidecar /workspace/models/badnets-resnet18-cifar10/preprocessing.json',
      inputShape: [32, 32, 3],
      resized: false,
    },
  },
  backend: { name: 'wasm', simd: true, threads: 2, notes: [] },
  settings: SETTINGS,
  // The engine's own rule turns the made-up statistics into the verdict, so score and wording match a real scan.
  verdict: decideVerdict(statistics, CLASSES),
  statistics,
  evidence: { mask: maskEvidence, noise, samples: samples(), activations: activations() },
  // Phase names as src/engine/scan.ts records them.
  timings: [
    { phase: 'load', seconds: 2.19 },
    { phase: 'mask', seconds: 41.9 },
    { phase: 'noise ε=0.05', seconds: 1.1 },
    { phase: 'evaluate ε=0.05', seconds: 2.4 },
    { phase: 'noise ε=0.1', seconds: 1.1 },
    { phase: 'evaluate ε=0.1', seconds: 2.4 },
    { phase: 'noise ε=0.2', seconds: 1.2 },
    { phase: 'evaluate ε=0.2', seconds: 2.3 },
    { phase: 'noise', seconds: 14.6 },
    { phase: 'evaluate', seconds: 4.7 },
    { phase: 'clean', seconds: 3.1 },
  ],
};

// Indented for reading, but with each array of numbers on one line, so the file stays a few hundred lines.
const text = JSON.stringify(report, null, 2).replace(/\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g, (_, body: string) => `[${body.replace(/\s+/g, ' ')}]`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, `${text}\n`);
console.log(`wrote ${path.relative(root, out)} (${(text.length / 1024).toFixed(0)} KiB)`);
