/**
 * Scan reports cached by the content of the model, so that reopening an unchanged model shows its
 * last result at once, and an edited model never shows a stale one. Reports are JSON files in the
 * extension's storage folder; a small index (model path → key of its last report) lives in
 * workspace state, so that diagnostics and panels come back after a reload.
 *
 * The key is a SHA-256 over every file of the model: the file itself and, for a TF.js model.json,
 * the weight shards its manifest lists. model.json alone is not enough: two models trained with
 * the same architecture have byte-identical model.json files. Hashing streams the files, so a
 * large model does not block the extension host, and a key is recomputed only when the size or
 * modification time of one of its files changes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
// The ES module build; see findings.ts for why.
import { findNodeAtLocation, parseTree } from 'jsonc-parser/lib/esm/main';
import { REPORT_SCHEMA_VERSION, type ScanReport } from '../engine/report';
import { isTfjsModelPath } from './ids';

/** The part of vscode.Memento used here. */
export interface KeyValueStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

const INDEX_KEY = 'backdoorScanner.lastReports';

/**
 * The files whose bytes make up the model: the file and, for model.json, the weight shards named
 * by its manifest (only those inside the model's folder, as the loader reads them). The manifest is
 * read with jsonc-parser's scanner, as for the diagnostics' ranges; nothing of it is executed.
 */
export async function modelFiles(file: string): Promise<string[]> {
  if (!isTfjsModelPath(file)) return [file];
  const dir = path.dirname(path.resolve(file));
  const root = parseTree(await fs.promises.readFile(file, 'utf8'));
  const manifest = root && findNodeAtLocation(root, ['weightsManifest']);
  const shards = (manifest?.children ?? []).flatMap((group) => findNodeAtLocation(group, ['paths'])?.children ?? []);
  const inside = shards
    .map((node) => node.value)
    .filter((p): p is string => typeof p === 'string')
    .map((p) => path.resolve(dir, p))
    .filter((p) => p.startsWith(dir + path.sep));
  return [file, ...inside];
}

function hashFiles(files: string[], dir: string): Promise<string> {
  const hash = createHash('sha256');
  const next = (i: number): Promise<void> => {
    if (i === files.length) return Promise.resolve();
    hash.update(`${path.relative(dir, files[i])}\0`);
    return new Promise<void>((resolve, reject) => {
      fs.createReadStream(files[i])
        .on('data', (chunk) => hash.update(chunk))
        .on('end', resolve)
        .on('error', reject);
    }).then(() => next(i + 1));
  };
  return next(0).then(() => hash.digest('hex'));
}

export class ResultStore {
  private readonly keys = new Map<string, { signature: string; key: Promise<string> }>();
  private readonly reports = new Map<string, ScanReport>();

  constructor(
    private readonly dir: string,
    private readonly state: KeyValueStore,
  ) {}

  /** The content key of a model; rejects when one of its files cannot be read. */
  async keyOf(file: string): Promise<string> {
    const files = await modelFiles(file);
    const stats = await Promise.all(files.map((f) => fs.promises.stat(f)));
    const signature = files.map((f, i) => `${f}:${stats[i].size}:${stats[i].mtimeMs}`).join('|');
    const known = this.keys.get(file);
    if (known?.signature === signature) return known.key;
    const key = hashFiles(files, path.dirname(file));
    this.keys.set(file, { signature, key });
    key.catch(() => this.keys.delete(file));
    return key;
  }

  /** The last report of the model as it is now and its file, or undefined when this content was never scanned. */
  async lookup(file: string): Promise<{ report: ScanReport; reportFile: string } | undefined> {
    let key: string;
    try {
      key = await this.keyOf(file);
    } catch {
      return undefined;
    }
    const report = this.reports.get(key) ?? this.read(key);
    return report && { report, reportFile: this.reportPath(key) };
  }

  /**
   * The last report of a model path, whatever the file holds now: what the investigation panel
   * shows when it is restored after a reload. Synchronous, as the panel's serializer needs it.
   */
  lastReportFor(file: string): ScanReport | undefined {
    const key = this.index()[file];
    return key ? (this.reports.get(key) ?? this.read(key)) : undefined;
  }

  /** Model paths with a report, for restoring diagnostics after a reload. */
  indexedPaths(): string[] {
    return Object.keys(this.index());
  }

  /** Stores the report of the model content with this key (taken when the scan started). */
  async save(file: string, key: string, report: ScanReport): Promise<string> {
    const target = this.reportPath(key);
    await fs.promises.mkdir(this.dir, { recursive: true });
    await fs.promises.writeFile(target, JSON.stringify(report));
    this.reports.set(key, report);
    await this.state.update(INDEX_KEY, { ...this.index(), [file]: key });
    return target;
  }

  /** Where the report of a content key is stored (linked from diagnostics as the full report). */
  reportPath(key: string): string {
    return path.join(this.dir, `${key}.json`);
  }

  private index(): Record<string, string> {
    return this.state.get<Record<string, string>>(INDEX_KEY) ?? {};
  }

  private read(key: string): ScanReport | undefined {
    try {
      const report = JSON.parse(fs.readFileSync(this.reportPath(key), 'utf8')) as ScanReport;
      // A report from another schema version may lack fields the extension reads.
      if (report.schemaVersion !== REPORT_SCHEMA_VERSION) return undefined;
      this.reports.set(key, report);
      return report;
    } catch {
      return undefined;
    }
  }
}
