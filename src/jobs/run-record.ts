import type { Logger } from "pino";
import type { EventPublisher } from "../events/publisher.js";
import type { NewRun, Run, RunOutcome, RunStore } from "../store/run-store.js";
import type { Metrics } from "../telemetry/metrics.js";
import { RunLog, type RunLogLine } from "./run-log.js";

export interface RunRecordDeps {
  runs: RunStore;
  logger: Logger;
  stream?: EventPublisher;
  metrics?: Metrics;
}

/**
 * One run as the world sees it: the row in PostgreSQL, its log, the event stream and the run
 * metrics. `start` opens all of them; `finish` closes all of them, in the order readers rely on
 * (the row's outcome is stored before the log closes, and the stream hears of the finish after
 * the run's last log lines).
 */
export class RunRecord {
  private constructor(
    private readonly d: RunRecordDeps,
    private current: Run,
    readonly log: RunLog,
  ) {}

  static async start(d: RunRecordDeps, init: NewRun, logger: Logger): Promise<RunRecord> {
    const run = await d.runs.start(init);
    // A run of this job that a dead worker left `running` is over: this one replaces it.
    await d.runs.failAbandoned(init.jobId, run.id);
    await d.stream?.run(run);
    const stream = d.stream;
    const log = new RunLog(run.id, d.runs, logger, undefined, stream ? (batch) => stream.logs({ namespace: init.namespace, name: init.name }, batch) : undefined);
    return new RunRecord(d, run, log);
  }

  get run(): Run {
    return this.current;
  }

  append(line: RunLogLine): void {
    this.log.append(line);
  }

  /** Stores the outcome, writes `lastLine` (if any) and closes the log; returns the finished run. */
  async finish(outcome: RunOutcome, lastLine?: string): Promise<Run> {
    const finished = await this.d.runs.finish(this.current.id, outcome);
    this.current = finished;
    if (lastLine) this.append({ level: "info", type: "run", message: lastLine });
    await this.log.close();
    await this.announce(finished);
    return finished;
  }

  /**
   * The failure path: nothing here may hide the run's own error. The log line goes first (it is the
   * reason), then the outcome; a store that is down (PostgreSQL is often what failed) leaves the
   * row `running` for the next attempt's failAbandoned.
   */
  async finishFailed(message: string, errorKind: string): Promise<Run> {
    this.append({ level: "error", type: "run", message: `run failed (${errorKind}): ${message}` });
    const finished = await this.d.runs.finish(this.current.id, { status: "failed", error: message, errorKind }).catch(() => undefined);
    await this.log.close().catch((e: unknown) => this.d.logger.warn({ err: e }, "run log incomplete"));
    if (!finished) return this.current;
    this.current = finished;
    await this.announce(finished);
    return finished;
  }

  /** A finished run: counted, timed, and announced on the event stream. */
  private async announce(run: Run): Promise<void> {
    if (run.startedAt && run.finishedAt) {
      this.d.metrics?.observeRun(run.action, run.status, (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000);
    }
    await this.d.stream?.run(run);
  }
}
