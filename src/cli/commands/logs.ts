import type { LogEventView, RunEventView, RunView } from "../../events/views.js";
import { vmPath, type CommandContext } from "../context.js";
import { CliError, EXIT, usageError } from "../errors.js";
import type { SidecarClient } from "../sidecar-client.js";
import { SseParser, sseMessages, type SseMessage } from "../sse-reader.js";
import { listRuns } from "./runs.js";

/** Log lines per GET /runs/{id}/events page (the API's default page size). */
const PAGE = 1000;
/** A run in one of these statuses has written its last line. */
const FINISHED = new Set(["succeeded", "no_changes", "failed"]);

/**
 * `logs VM [--follow] [--run ID]`: the latest run's log (or that run's). With --follow, the lines
 * that are still to come arrive over the SSE stream until the run ends; the exit code is then the
 * run's (1 when it failed). Lines are read from PostgreSQL first and by sequence number, so a line
 * is printed once, in order, even across reconnects.
 */
export async function logs(ctx: CommandContext, args: string[]): Promise<number> {
  const [name] = args as [string];
  const namespace = ctx.namespace();
  if (ctx.options.output === "yaml" || ctx.options.output === "wide") throw usageError(`logs prints lines as text, or one JSON object per line with -o json; not -o ${ctx.options.output}`);
  const sidecar = ctx.requireSidecar("logs");
  const run = await chooseRun(ctx, sidecar, namespace, name);
  const printer = new LogPrinter(ctx, sidecar, run.id);
  if (!ctx.options.follow) {
    await printer.catchUp();
    return EXIT.ok;
  }
  return follow(ctx, sidecar, printer, run);
}

async function chooseRun(ctx: CommandContext, sidecar: SidecarClient, namespace: string, name: string): Promise<RunView> {
  if (ctx.options.run !== undefined) return sidecar.get<RunView>(`/api/v1/runs/${encodeURIComponent(ctx.options.run)}`);
  const [latest] = await listRuns(ctx, namespace, name, 1);
  if (latest) return latest;
  await sidecar.get(vmPath(namespace, name)); // the 404 names the VM when it does not exist
  throw new CliError(`ProxmoxVM ${namespace}/${name} has no runs yet`, EXIT.notFound);
}

async function follow(ctx: CommandContext, sidecar: SidecarClient, printer: LogPrinter, run: RunView): Promise<number> {
  const abort = new AbortController();
  const parser = new SseParser();
  try {
    for (;;) {
      // The sidecar subscribes this stream before its first byte, so reading the stored lines
      // after it answers leaves no gap: a line written meanwhile comes both ways and prints once.
      const body = await sidecar.openEvents(`run=${run.id}`, abort.signal, parser.lastEventId);
      const messages = sseMessages(body, parser);
      await printer.catchUp();
      const current = await sidecar.get<RunView>(`/api/v1/runs/${run.id}`);
      if (FINISHED.has(current.status)) {
        // Its status is stored a moment before its last lines and its `run` event: a run that
        // just ended gets a short wait for that event, so the last lines are not cut off.
        if (finishedWithin(current, ctx.now(), RECENT_FINISH_MS)) await untilRunEvent(messages, printer, abort, FINISH_GRACE_MS);
        return await ended(ctx, printer, current);
      }
      for await (const message of messages) {
        if (message.event === "log") {
          await printer.live(JSON.parse(message.data) as LogEventView);
        } else if (message.event === "run") {
          const update = JSON.parse(message.data) as RunView;
          if (FINISHED.has(update.status)) return await ended(ctx, printer, update);
        } else if (message.event === "reset") {
          // The stream lost our place: what we missed is in PostgreSQL.
          await printer.catchUp();
        }
      }
      // The sidecar ended the stream (a restart, its lifetime limit): resume where we were.
    }
  } finally {
    abort.abort();
  }
}

/** How recent a finish must be for the wait below, and how long that wait is at most. */
const RECENT_FINISH_MS = 15_000;
const FINISH_GRACE_MS = 3000;

function finishedWithin(run: RunView, now: number, ms: number): boolean {
  return run.finishedAt !== null && now - Date.parse(run.finishedAt) < ms;
}

/** Prints live lines until the run's final `run` event, or until `ms` pass (then the stream is aborted). */
async function untilRunEvent(messages: AsyncGenerator<SseMessage>, printer: LogPrinter, abort: AbortController, ms: number): Promise<void> {
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    for await (const message of messages) {
      if (message.event === "log") await printer.live(JSON.parse(message.data) as LogEventView);
      else if (message.event === "run" && FINISHED.has((JSON.parse(message.data) as RunView).status)) return;
    }
  } catch (error) {
    if (!abort.signal.aborted) throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function ended(ctx: CommandContext, printer: LogPrinter, run: RunView): Promise<number> {
  await printer.catchUp();
  if (run.status === "failed") {
    ctx.io.err(`run ${run.id} failed${run.error ? `: ${run.error}` : ""}\n`);
    return EXIT.failure;
  }
  return EXIT.ok;
}

/** Prints a run's lines in sequence order, each once, from stored pages and live events. */
class LogPrinter {
  private lastSeq = 0;

  constructor(
    private readonly ctx: CommandContext,
    private readonly sidecar: SidecarClient,
    private readonly runId: string,
  ) {}

  /** Everything stored after the last printed line. */
  async catchUp(): Promise<void> {
    for (;;) {
      const { items } = await this.sidecar.get<{ items: RunEventView[] }>(`/api/v1/runs/${this.runId}/events?after=${this.lastSeq}&limit=${PAGE}`);
      for (const line of items) this.print(line);
      if (items.length < PAGE) return;
    }
  }

  /** A live line: a gap before it (lines the stream skipped) is filled from the store first. */
  async live(line: RunEventView): Promise<void> {
    if (line.runId !== this.runId || line.seq <= this.lastSeq) return;
    if (line.seq > this.lastSeq + 1) await this.catchUp();
    this.print(line);
  }

  private print(line: RunEventView): void {
    if (line.seq <= this.lastSeq) return;
    this.lastSeq = line.seq;
    this.ctx.io.out(formatLogLine(line, this.ctx.options.output));
  }
}

/** `2026-12-03T06:40:01.123Z info  message`; -o json prints one JSON object per line. */
export function formatLogLine(line: RunEventView, output: string): string {
  if (output === "json") return `${JSON.stringify(line)}\n`;
  const level = line.level.padEnd(5);
  return line.message
    .split("\n")
    .map((text) => `${line.ts} ${level} ${text}\n`)
    .join("");
}
