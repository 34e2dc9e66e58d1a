/**
 * Chooses and initialises the tfjs compute backend for the engine.
 *
 * - `wasm` (the default): XNNPACK with SIMD, pure JS plus .wasm, the same on every OS. The
 *   project's gradient kernels (src/engine/kernels) make training work and fast enough on it.
 * - `webgpu`: through the optional `webgpu` (Dawn) and `@tensorflow/tfjs-backend-webgpu`
 *   packages. 'auto' takes it only for a hardware adapter that passes a conv-gradient smoke test,
 *   because a software rasteriser (lavapipe, SwiftShader) runs about 10x slower than wasm.
 * - `tensorflow`: `@tensorflow/tfjs-node(-gpu)`, never a dependency (it downloads libtensorflow
 *   at install time), used when the user has installed it.
 * - `cpu`: the pure-JS backend, registered as the test oracle. It is never chosen automatically:
 *   its conv gradients are about 350x slower than wasm's.
 *
 * The choice comes from the options, else the BACKDOOR_SCAN_BACKEND environment variable, else
 * 'auto'; wasm's thread count likewise from the options, else BACKDOOR_SCAN_THREADS, else 1.
 * Optional packages are loaded with a runtime `require` so that bundlers leave them out
 * and the engine works without them.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { Rng } from './random';
import { registerWasmGradKernels } from './kernels';

export type BackendName = 'wasm' | 'webgpu' | 'tensorflow' | 'cpu';
export type BackendChoice = 'auto' | BackendName;

export interface BackendOptions {
  /** The backend to use; defaults to BACKDOOR_SCAN_BACKEND, then 'auto'. */
  backend?: BackendChoice;
  /** Folder holding the tfjs-backend-wasm .wasm files (and, for threads, the threaded build's two
   *  scripts); defaults to the running bundle's folder when it has them, else the installed
   *  package's wasm-out folder. */
  wasmDir?: string;
  /** Where the user installed tfjs-node(-gpu): the package folder itself, or a folder whose
   *  node_modules holds it. */
  tfjsNodePath?: string;
  /** Threads for wasm's XNNPACK; defaults to BACKDOOR_SCAN_THREADS, then 1. More than 1 runs the
   *  threaded-SIMD build in worker_threads, which stock tfjs does only in browsers and this
   *  project's patch (patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch) makes work in Node. It is
   *  capped at 8 and at the logical cores, and falls back to 1 thread, with a note, when the
   *  threaded build cannot start. */
  threads?: number;
}

export interface BackendInfo {
  name: BackendName;
  /** Whether the SIMD build of the wasm module runs (false for every other backend). */
  simd: boolean;
  /** CPU threads doing the maths: XNNPACK's pool for wasm, the cores for tensorflow, 1 otherwise. */
  threads: number;
  /** The GPU adapter, for webgpu: vendor, architecture and device as the driver reports them. */
  adapter?: string;
  /** One sentence per backend that was considered and skipped, and why, plus any caveat. */
  notes: string[];
}

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'wasm', 'webgpu', 'tensorflow', 'cpu'];

/** Loads optional packages at run time, resolved from this file (or the bundle it ends up in). */
const runtimeRequire = createRequire(__filename);

let state: { choice: BackendChoice; info: BackendInfo } | undefined;
let pending: Promise<unknown> = Promise.resolve();

/**
 * Initialises the chosen backend and makes it tfjs' current one. A second call with the same
 * choice returns the first call's info (re-selecting the backend if something switched it);
 * calls are serialised. An explicit choice that cannot load throws an Error that says why.
 */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  const run = pending.then(() => initSerial(opts));
  pending = run.catch(() => undefined);
  return run;
}

/** The info of the backend the last successful `initBackend` selected. */
export function currentBackendInfo(): BackendInfo | undefined {
  return state?.info;
}

function resolveChoice(opts: BackendOptions): BackendChoice {
  if (opts.backend !== undefined) {
    if (!BACKEND_CHOICES.includes(opts.backend)) {
      throw new Error(`unknown backend '${String(opts.backend)}'; use one of ${BACKEND_CHOICES.join(', ')}`);
    }
    return opts.backend;
  }
  const fromEnv = process.env.BACKDOOR_SCAN_BACKEND?.trim();
  if (!fromEnv) return 'auto';
  const choice = BACKEND_CHOICES.find((c) => c === fromEnv.toLowerCase());
  if (!choice) {
    throw new Error(`BACKDOOR_SCAN_BACKEND='${fromEnv}' is not a backend; use one of ${BACKEND_CHOICES.join(', ')}`);
  }
  return choice;
}

async function initSerial(opts: BackendOptions): Promise<BackendInfo> {
  const choice = resolveChoice(opts);
  const threads = resolveThreads(opts);
  if (state && state.choice === choice) {
    if (tf.getBackend() !== state.info.name) await selectBackend(state.info.name);
    return state.info;
  }
  const info = await initChoice(choice, { ...opts, threads });
  state = { choice, info };
  return info;
}

async function initChoice(choice: BackendChoice, opts: BackendOptions): Promise<BackendInfo> {
  switch (choice) {
    case 'wasm':
      return initWasm(opts, []);
    case 'cpu':
      await selectBackend('cpu');
      return {
        name: 'cpu',
        simd: false,
        threads: 1,
        notes: ['cpu: the pure-JS backend was chosen explicitly; its conv gradients are about 350x slower than wasm.'],
      };
    case 'tensorflow': {
      const loaded = loadTfjsNode(opts);
      try {
        if (typeof loaded === 'string') throw new Error(loaded);
        return await initTensorflow(loaded, []);
      } catch (e) {
        throw new Error(`the 'tensorflow' backend is unavailable: ${errorText(e)}`);
      }
    }
    case 'webgpu': {
      // wasm computes the smoke test's reference; a failed attempt restores the previous backend.
      const previous = tf.getBackend() as BackendName | undefined;
      const notes: string[] = [];
      let result: BackendInfo | string;
      try {
        await initWasm(opts, notes);
        result = await tryWebgpu(true, notes);
      } catch (e) {
        result = errorText(e);
      }
      if (typeof result === 'string') {
        if (previous && tf.getBackend() !== previous) await selectBackend(previous);
        throw new Error(`the 'webgpu' backend is unavailable: ${result}`);
      }
      return result;
    }
    case 'auto':
      return initAuto(opts);
  }
}

async function initAuto(opts: BackendOptions): Promise<BackendInfo> {
  const notes: string[] = [];
  const loaded = loadTfjsNode(opts);
  if (typeof loaded !== 'string') {
    try {
      return await initTensorflow(loaded, notes);
    } catch (e) {
      notes.push(`tensorflow: skipped, ${errorText(e)}.`);
    }
  } else {
    notes.push(`tensorflow: skipped, ${loaded}.`);
  }
  let wasmInfo: BackendInfo;
  try {
    wasmInfo = await initWasm(opts, notes);
  } catch (e) {
    throw new Error(
      `no usable compute backend: ${errorText(e)}. ` +
        `Choose the 'cpu' backend explicitly to run on pure JS (very slow for training).`,
    );
  }
  const noDevice = missingGpuDevice();
  const gpu = noDevice ?? (await tryWebgpu(false, notes));
  if (typeof gpu !== 'string') return gpu;
  notes.push(`webgpu: skipped, ${gpu}.`);
  await selectBackend('wasm');
  return wasmInfo;
}

/**
 * On Linux a GPU shows up as a device node (/dev/dri/renderD*, /dev/nvidia*). Without one, Dawn
 * can only find a software rasteriser and fills stderr with Vulkan warnings while it looks, so
 * 'auto' does not ask it. Other systems have no such cheap check and always ask.
 */
function missingGpuDevice(): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const has = (dir: string, pattern: RegExp) => {
    try {
      return fs.readdirSync(dir).some((f) => pattern.test(f));
    } catch {
      return false;
    }
  };
  if (has('/dev/dri', /^renderD\d+$/) || has('/dev', /^nvidia\d+$/)) return undefined;
  return 'no GPU device node (/dev/dri/renderD*, /dev/nvidia*) exists on this machine';
}

/** `tf.setBackend` reports failure as `false` (after logging); the engine wants an Error. */
async function selectBackend(name: BackendName): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tfjs could not initialise its '${name}' backend`);
  await tf.ready();
}

/** The first line of an error's message, without a final full stop, to embed in a sentence. */
function errorText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].replace(/\.$/, '');
}

// ---------------------------------------------------------------------------------------------
// wasm

/** What the threaded build loads from the wasm folder besides the SIMD binary (see the patch). */
const THREADED_FILES = [
  'tfjs-backend-wasm-threaded-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.js',
  'tfjs-backend-wasm-threaded-simd.worker.js',
];

/**
 * The folder with the .wasm files: next to an esbuild bundle when copied there, else the package's
 * wasm-out folder, which unlike its dist folder also holds the threaded build's scripts.
 */
function defaultWasmDir(): string {
  if (fs.existsSync(path.join(__dirname, 'tfjs-backend-wasm-simd.wasm'))) return __dirname;
  try {
    return path.join(path.dirname(runtimeRequire.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
  } catch {
    throw new Error(
      `wasm: the tfjs .wasm files are neither in ${__dirname} nor in an installed @tensorflow/tfjs-backend-wasm`,
    );
  }
}

/** The requested wasm threads: the option, else BACKDOOR_SCAN_THREADS, else 1. */
function resolveThreads(opts: BackendOptions): number {
  const isCount = (n: number) => Number.isInteger(n) && n >= 1;
  if (opts.threads !== undefined) {
    if (!isCount(opts.threads)) throw new Error(`threads must be a positive integer, got ${opts.threads}`);
    return opts.threads;
  }
  const fromEnv = process.env.BACKDOOR_SCAN_THREADS?.trim();
  if (!fromEnv) return 1;
  const n = Number(fromEnv);
  if (!isCount(n)) throw new Error(`BACKDOOR_SCAN_THREADS='${fromEnv}' is not a positive integer`);
  return n;
}

async function initWasm(opts: BackendOptions, notes: string[]): Promise<BackendInfo> {
  const requested = opts.threads ?? 1;
  let threaded = false;
  /** Why fewer threads than requested run, when known. */
  let shortfall: string | undefined;
  // The .wasm location and thread count are read once, when tfjs first creates the backend.
  if (!tf.findBackend('wasm')) {
    const dir = opts.wasmDir ?? defaultWasmDir();
    const simdFile = path.join(dir, 'tfjs-backend-wasm-simd.wasm');
    if (!fs.existsSync(simdFile)) throw new Error(`wasm: the tfjs .wasm files are not in ${dir} (looked for ${simdFile})`);
    setWasmPaths(dir.endsWith(path.sep) || dir.endsWith('/') ? dir : dir + path.sep);
    if (requested > 1) {
      // A worker that cannot load its script fails outside any promise that tfjs could reject,
      // so missing files must be caught here rather than by the fallback below.
      const missing = THREADED_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
      if (missing.length > 0) {
        shortfall = `${dir} lacks ${missing.join(', ')}`;
      } else {
        threaded = true;
        tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
        setThreadsCount(requested);
      }
    }
  } else {
    // The backend keeps the thread count it was created with.
    shortfall = 'the wasm backend was created earlier in this process';
  }
  registerWasmGradKernels();
  try {
    await selectBackend('wasm');
  } catch (e) {
    if (!threaded) throw e;
    // tfjs forgets a backend whose initialisation failed, so it can create it again, single-threaded.
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    await selectBackend('wasm');
    shortfall =
      `the threaded build did not start (${errorText(e)}; tfjs printed the cause, and ` +
      `patches/@tensorflow+tfjs-backend-wasm+4.22.0.patch may not be applied)`;
  }
  const threads = getThreadsCount();
  if (requested > threads) {
    shortfall ??= `tfjs-backend-wasm uses at most 8 threads and no more than the ${os.cpus().length} logical cores`;
    notes.push(`wasm: ${threads} thread${threads === 1 ? ' runs' : 's run'} instead of ${requested}, because ${shortfall}.`);
  }
  return {
    name: 'wasm',
    simd: (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true,
    threads,
    notes,
  };
}

// ---------------------------------------------------------------------------------------------
// tensorflow (tfjs-node)

const TFJS_NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

/** Requires tfjs-node(-gpu); returns the module id it loaded, or why none loaded. */
function loadTfjsNode(opts: BackendOptions): { from: string } | string {
  const candidates: string[] = [];
  if (opts.tfjsNodePath) {
    candidates.push(opts.tfjsNodePath);
    for (const pkg of TFJS_NODE_PACKAGES) {
      try {
        candidates.push(runtimeRequire.resolve(pkg, { paths: [opts.tfjsNodePath] }));
      } catch {
        // Not installed under that folder; the plain path above may still be the package itself.
      }
    }
  } else {
    candidates.push(...TFJS_NODE_PACKAGES);
  }
  const failures: string[] = [];
  for (const id of candidates) {
    try {
      runtimeRequire(id);
      return { from: id };
    } catch (e) {
      failures.push(`${id}: ${errorText(e)}`);
    }
  }
  const where = opts.tfjsNodePath ? ` from ${opts.tfjsNodePath}` : '';
  return `tfjs-node could not be loaded${where} (${failures.join('; ')})`;
}

async function initTensorflow(loaded: { from: string }, notes: string[]): Promise<BackendInfo> {
  // tfjs-core keeps its engine and registries in a global, so a backend registered by the
  // user's own copy of tfjs is visible here as long as the versions agree.
  if (!tf.findBackendFactory('tensorflow')) {
    throw new Error(`${loaded.from} loaded but registered no 'tensorflow' backend with this tfjs-core (${tf.version_core})`);
  }
  await selectBackend('tensorflow');
  return { name: 'tensorflow', simd: false, threads: os.availableParallelism(), notes };
}

// ---------------------------------------------------------------------------------------------
// webgpu

/** The parts of the `webgpu` package and the WebGPU API used here. */
interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
}
interface AdapterLike {
  info?: AdapterInfoLike;
  requestAdapterInfo?: () => Promise<AdapterInfoLike>;
}
interface GpuLike {
  requestAdapter(options?: { powerPreference?: string }): Promise<AdapterLike | null>;
}
interface WebgpuModule {
  create(flags: string[]): GpuLike;
  globals: Record<string, unknown>;
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|microsoft basic/i;

/** What the one adapter search of this process found. */
interface AdapterProbe {
  webgpu: WebgpuModule;
  gpu: GpuLike;
  described: string;
  software: boolean;
}

let adapterProbe: Promise<AdapterProbe | string> | undefined;

/**
 * Loads Dawn and asks it for an adapter, once per process: the answer does not change while the
 * process runs, and Dawn logs its driver warnings to stderr on every search.
 */
function probeAdapter(): Promise<AdapterProbe | string> {
  adapterProbe ??= (async (): Promise<AdapterProbe | string> => {
    let webgpu: WebgpuModule;
    try {
      webgpu = runtimeRequire('webgpu') as WebgpuModule;
    } catch (e) {
      return `the optional 'webgpu' package could not be loaded (${errorText(e)})`;
    }
    let gpu: GpuLike;
    let adapter: AdapterLike | null;
    try {
      gpu = webgpu.create([]);
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch (e) {
      return `Dawn failed to look for a GPU (${errorText(e)})`;
    }
    if (!adapter) return 'no WebGPU adapter was found (no GPU with a usable Vulkan, Metal or D3D12 driver)';
    const info = adapter.info ?? (await adapter.requestAdapterInfo?.()) ?? {};
    const described = [info.vendor, info.architecture, info.device, info.description]
      .filter((s): s is string => !!s)
      .join(' ');
    const software = info.architecture === 'software' || SOFTWARE_ADAPTER.test(`${info.description} ${info.device}`);
    return { webgpu, gpu, described, software };
  })();
  return adapterProbe;
}

/**
 * Tries to select webgpu. Returns the info, or why it was not taken. `explicit` accepts a
 * software adapter (with a note), which 'auto' rejects.
 */
async function tryWebgpu(explicit: boolean, notes: string[]): Promise<BackendInfo | string> {
  const probe = await probeAdapter();
  if (typeof probe === 'string') return probe;
  const { described } = probe;
  if (probe.software) {
    if (!explicit) return `the only adapter is a software rasteriser (${described}), about 10x slower than wasm`;
    notes.push(`webgpu: the adapter is a software rasteriser (${described}), expect it to be slower than wasm.`);
  }
  if (!tf.findBackendFactory('webgpu')) {
    // tfjs-backend-webgpu registers its backend only if navigator.gpu exists when it is imported.
    exposeWebgpuGlobals(probe.webgpu, probe.gpu);
    try {
      runtimeRequire('@tensorflow/tfjs-backend-webgpu');
    } catch (e) {
      return `the optional '@tensorflow/tfjs-backend-webgpu' package could not be loaded (${errorText(e)})`;
    }
    if (!tf.findBackendFactory('webgpu')) return 'tfjs-backend-webgpu did not register a backend';
  }
  try {
    const reference = await smokeTest();
    await selectBackend('webgpu');
    const got = await smokeTest();
    const err = Math.max(relativeError(got.y, reference.y), relativeError(got.dw, reference.dw));
    if (!(err <= 1e-3)) {
      await selectBackend('wasm');
      return `its conv results differ from wasm's (relative error ${err.toExponential(1)}) on adapter ${described}`;
    }
  } catch (e) {
    await selectBackend('wasm');
    return `the smoke test failed on adapter ${described} (${errorText(e)})`;
  }
  return { name: 'webgpu', simd: false, threads: 1, adapter: described, notes };
}

/** Installs the WebGPU globals (GPUBufferUsage and friends, navigator.gpu) that tfjs expects. */
function exposeWebgpuGlobals(webgpu: WebgpuModule, gpu: GpuLike): void {
  const g = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(webgpu.globals)) {
    if (g[name] === undefined) g[name] = value;
  }
  const nav = g.navigator as Record<string, unknown> | undefined;
  if (nav) {
    Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true });
  } else {
    Object.defineProperty(g, 'navigator', { value: { gpu }, configurable: true, writable: true });
  }
}

/** One conv forward and filter gradient on the current backend, on fixed pseudo-random data. */
async function smokeTest(): Promise<{ y: Float32Array; dw: Float32Array }> {
  const rng = new Rng(1234);
  const [y, dw] = tf.tidy(() => {
    const x = tf.tensor4d(rng.uniformArray(2 * 9 * 9 * 3, -1, 1), [2, 9, 9, 3]);
    const w = tf.tensor4d(rng.uniformArray(3 * 3 * 3 * 8, -1, 1), [3, 3, 3, 8]);
    const r = tf.tensor4d(rng.uniformArray(2 * 5 * 5 * 8, -1, 1), [2, 5, 5, 8]);
    const loss = (v: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, v as tf.Tensor4D, 2, 'same'), r));
    return [tf.conv2d(x, w, 2, 'same'), tf.grad(loss)(w)];
  });
  try {
    // Asynchronous reads: a GPU backend may not support synchronous ones.
    return { y: (await y.data()) as Float32Array, dw: (await dw.data()) as Float32Array };
  } finally {
    y.dispose();
    dw.dispose();
  }
}

/** max |a - b| / max |b|: one number that is small only when every element agrees. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / (scale || 1);
}
