import { parseCli, type CommandName } from "./args.js";
import { approve, discard } from "./commands/approval.js";
import { completion } from "./commands/completion.js";
import { connections } from "./commands/connections.js";
import { get } from "./commands/get.js";
import { logs } from "./commands/logs.js";
import { plan } from "./commands/plan.js";
import { reconcile } from "./commands/reconcile.js";
import { runs } from "./commands/runs.js";
import { CommandContext } from "./context.js";
import { CliError, EXIT } from "./errors.js";
import { helpText } from "./help.js";
import type { Output } from "./output.js";

type Command = (ctx: CommandContext, args: string[]) => Promise<number> | number;

const COMMAND_RUNNERS: Record<CommandName, Command> = { get, plan, approve, discard, logs, runs, reconcile, connections, completion };

/** Runs kubectl-ptm with these arguments; resolves with the exit code (docs/cli.md). */
export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: Output): Promise<number> {
  try {
    const parsed = parseCli(argv, env);
    if (parsed.kind === "help") {
      io.out(helpText(parsed.command));
      return EXIT.ok;
    }
    const ctx = new CommandContext(parsed.options, io);
    return await COMMAND_RUNNERS[parsed.command](ctx, parsed.args);
  } catch (error) {
    if (error instanceof CliError) {
      io.err(`error: ${error.message}\n`);
      return error.exitCode;
    }
    io.err(`error: ${(error as Error).stack ?? String(error)}\n`);
    return EXIT.failure;
  }
}
