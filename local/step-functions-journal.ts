// Append-only JSONL journal of local Step Functions executions, so that a restarted process still
// knows every execution name (names stay taken), its input, its last status, and which executions
// were cut off while waiting for a task token. Task tokens are bearer credentials: only their
// SHA-256 is written. At start-up it is compacted: executions that ended longer ago than AWS keeps
// a Standard execution's name reserved (90 days) are dropped, so the file does not grow forever.
import {
  closeSync,
  existsSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

export type TerminalStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';
export type TaskOutcome = 'succeeded' | 'failed' | 'timed_out' | 'heartbeat_timed_out' | 'aborted';

export type JournalEntry =
  | { type: 'started'; stateMachine: string; executionId: string; name: string; input: unknown; at: string }
  | { type: 'task-token-issued'; executionId: string; state: string; tokenHash: string; at: string }
  | { type: 'task-token-closed'; executionId: string; tokenHash: string; outcome: TaskOutcome; at: string }
  | {
      type: 'ended';
      executionId: string;
      status: TerminalStatus;
      output?: unknown;
      error?: string;
      cause?: string;
      at: string;
    }
  // Written by a graceful shutdown: the run stopped, but the platform has not decided its fate yet.
  | { type: 'interrupted'; executionId: string; reason: string; at: string };

const TERMINAL = new Set<string>(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
const OUTCOMES = new Set<string>(['succeeded', 'failed', 'timed_out', 'heartbeat_timed_out', 'aborted']);

function isEntry(value: unknown): value is JournalEntry {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (typeof v.executionId !== 'string' || typeof v.at !== 'string') return false;
  switch (v.type) {
    case 'started':
      return typeof v.stateMachine === 'string' && typeof v.name === 'string' && 'input' in v;
    case 'task-token-issued':
      return typeof v.state === 'string' && typeof v.tokenHash === 'string';
    case 'task-token-closed':
      return typeof v.tokenHash === 'string' && typeof v.outcome === 'string' && OUTCOMES.has(v.outcome);
    case 'ended':
      return typeof v.status === 'string' && TERMINAL.has(v.status);
    case 'interrupted':
      return typeof v.reason === 'string';
    default:
      return false;
  }
}

/** How long AWS keeps a closed Standard execution's name reserved (and its history). */
export const NAME_RETENTION_MS = 90 * 24 * 3600 * 1000;

export interface ExecutionJournalOptions {
  /** Drop executions that ended longer ago than this at start-up (default NAME_RETENTION_MS). */
  retainEndedMs?: number;
  now?: () => number;
}

/**
 * Appended lines are fdatasynced within this many milliseconds, in the background. A machine crash
 * loses at most that much, and written pages never pile up for the kernel's periodic writeback:
 * seconds of them, flushed at once, stalled the store's fdatasyncs on the same disk for up to
 * 100 ms (docs/benchmarks.md).
 */
const SYNC_INTERVAL_MS = 20;

export class ExecutionJournal {
  private fd: number | undefined;
  private syncTimer: ReturnType<typeof setTimeout> | undefined;
  private syncing = false;
  /** Appended while a sync was in flight: another sync follows it. */
  private dirtySinceSync = false;
  private syncError: Error | undefined;
  /** Lines that did not parse (a torn last write after a crash); they are skipped, not fatal. */
  readonly skippedLines: number;
  readonly entries: readonly JournalEntry[];
  /** Executions dropped at start-up because they ended before the retention window. */
  readonly compactedExecutions: number;

  constructor(
    readonly file: string,
    options: ExecutionJournalOptions = {},
  ) {
    mkdirSync(dirname(file), { recursive: true });
    const entries: JournalEntry[] = [];
    let skipped = 0;
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          const parsed: unknown = JSON.parse(line);
          if (isEntry(parsed)) entries.push(parsed);
          else skipped++;
        } catch {
          skipped++;
        }
      }
    }
    const cutoff = (options.now ?? Date.now)() - (options.retainEndedMs ?? NAME_RETENTION_MS);
    const expired = new Set<string>();
    for (const e of entries) {
      if (e.type === 'ended' && Date.parse(e.at) < cutoff) expired.add(e.executionId);
      else if (e.type === 'ended') expired.delete(e.executionId); // ended again later: keep
    }
    const kept = expired.size > 0 ? entries.filter((e) => !expired.has(e.executionId)) : entries;
    if (expired.size > 0) rewrite(file, kept);
    this.entries = kept;
    this.skippedLines = skipped;
    this.compactedExecutions = expired.size;
    this.fd = openSync(file, 'a+');
    // A crash mid-write leaves a line without its newline; start on a fresh line so the next record
    // is not glued to the torn one.
    const size = fstatSync(this.fd).size;
    if (size > 0) {
      const last = Buffer.alloc(1);
      readSync(this.fd, last, 0, 1, size - 1);
      if (last[0] !== 0x0a) writeSync(this.fd, '\n');
    }
  }

  /**
   * Synchronous so that a start is in the file before start() answers (names must survive a crash
   * of the process); fdatasynced within SYNC_INTERVAL_MS, in the background (see there).
   */
  append(entry: JournalEntry): void {
    if (this.fd === undefined) throw new Error(`journal ${this.file} is closed`);
    if (this.syncError) throw new Error(`journal ${this.file} could not be synced: ${this.syncError.message}`);
    writeSync(this.fd, `${JSON.stringify(entry)}\n`);
    this.scheduleSync();
  }

  /** Waits for a background sync in flight, then syncs and closes the file. */
  async close(): Promise<void> {
    if (this.fd === undefined) return;
    clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    // Never close a descriptor while the thread pool may still be syncing it.
    while (this.syncing) await new Promise((r) => setImmediate(r));
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // A later fsync can succeed after a failed one without the lost pages: report the first.
    if (this.syncError) throw new Error(`journal ${this.file} could not be synced: ${this.syncError.message}`);
  }

  private scheduleSync(): void {
    if (this.syncing) {
      this.dirtySinceSync = true; // another sync follows the one in flight
      return;
    }
    if (this.syncTimer) return;
    this.syncTimer = setTimeout(() => {
      this.syncTimer = undefined;
      const fd = this.fd;
      if (fd === undefined) return;
      this.syncing = true;
      fdatasync(fd, (err) => {
        this.syncing = false;
        // Fail stop: after a failed sync the file's state is unknown, so no new start is accepted.
        if (err) {
          this.syncError ??= err;
          return;
        }
        if (this.dirtySinceSync) {
          this.dirtySinceSync = false;
          this.scheduleSync();
        }
      });
    }, SYNC_INTERVAL_MS);
    this.syncTimer.unref();
  }
}

/** Replaces the file with `entries`: complete and synced under a temporary name, then renamed. */
function rewrite(file: string, entries: readonly JournalEntry[]): void {
  const tmp = `${file}.compacting`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    const text = entries.map((e) => `${JSON.stringify(e)}\n`).join('');
    const bytes = Buffer.from(text, 'utf8');
    let offset = 0;
    while (offset < bytes.length) {
      const n = writeSync(fd, bytes, offset, bytes.length - offset);
      if (n <= 0) throw new Error(`${tmp}: write stopped after ${offset} of ${bytes.length} bytes`);
      offset += n;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  try {
    const dir = openSync(dirname(file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } catch {
    // Some file systems cannot fsync a directory; the file itself is synced.
  }
}
