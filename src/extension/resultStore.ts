/**
 * Scan reports cached by the SHA-256 of the model file, so that reopening an unchanged model shows
 * its last result at once, and an edited model never shows a stale one. Reports are JSON files in
 * the extension's storage folder; a small index (model path → hash of its last report) lives in
 * workspace state, so that diagnostics and panels come back after a reload.
 *
 * Hashing streams the file, so a large model does not block the extension host; the hash is
 * remembered per (path, size, mtime) and recomputed only when the file changes.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ScanReport } from '../engine/report';

/** The part of vscode.Memento used here. */
export interface KeyValueStore {
  get<T>(key: string): T | undefined;
  update(key: string, value: unknown): Thenable<void>;
}

const INDEX_KEY = 'backdoorScanner.lastReports';

export class ResultStore {
  private readonly hashes = new Map<string, { size: number; mtimeMs: number; sha256: Promise<string> }>();
  private readonly reports = new Map<string, ScanReport>();

  constructor(
    private readonly dir: string,
    private readonly state: KeyValueStore,
  ) {}

  /** The SHA-256 of a file's bytes, as the engine computes it for ModelReport.sha256. */
  async hashOf(file: string): Promise<string> {
    const stat = await fs.promises.stat(file);
    const known = this.hashes.get(file);
    if (known && known.size === stat.size && known.mtimeMs === stat.mtimeMs) return known.sha256;
    const sha256 = new Promise<string>((resolve, reject) => {
      const hash = createHash('sha256');
      fs.createReadStream(file)
        .on('data', (chunk) => hash.update(chunk))
        .on('end', () => resolve(hash.digest('hex')))
        .on('error', reject);
    });
    this.hashes.set(file, { size: stat.size, mtimeMs: stat.mtimeMs, sha256 });
    sha256.catch(() => this.hashes.delete(file));
    return sha256;
  }

  /** The last report of the file as it is now, or undefined when it was never scanned in this state. */
  async lookup(file: string): Promise<ScanReport | undefined> {
    let sha256: string;
    try {
      sha256 = await this.hashOf(file);
    } catch {
      return undefined;
    }
    const report = this.reports.get(sha256) ?? this.read(sha256);
    return report;
  }

  /**
   * The last report of a model path, whatever the file holds now: what the investigation panel
   * shows when it is restored after a reload. Synchronous, as the panel's serializer needs it.
   */
  lastReportFor(file: string): ScanReport | undefined {
    const sha256 = this.index()[file];
    return sha256 ? (this.reports.get(sha256) ?? this.read(sha256)) : undefined;
  }

  /** Model paths with a report, for restoring diagnostics after a reload. */
  indexedPaths(): string[] {
    return Object.keys(this.index());
  }

  async save(report: ScanReport): Promise<string> {
    const file = this.reportPath(report.model.sha256);
    await fs.promises.mkdir(this.dir, { recursive: true });
    await fs.promises.writeFile(file, JSON.stringify(report));
    this.reports.set(report.model.sha256, report);
    await this.state.update(INDEX_KEY, { ...this.index(), [report.model.path]: report.model.sha256 });
    return file;
  }

  /** Where the report of a model hash is stored (linked from diagnostics as the full report). */
  reportPath(sha256: string): string {
    return path.join(this.dir, `${sha256}.json`);
  }

  private index(): Record<string, string> {
    return this.state.get<Record<string, string>>(INDEX_KEY) ?? {};
  }

  private read(sha256: string): ScanReport | undefined {
    try {
      const report = JSON.parse(fs.readFileSync(this.reportPath(sha256), 'utf8')) as ScanReport;
      this.reports.set(sha256, report);
      return report;
    } catch {
      return undefined;
    }
  }
}
