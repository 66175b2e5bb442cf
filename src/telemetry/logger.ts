import { pino, type Logger } from "pino";
import type { Redactor } from "../terraform/redact.js";

/**
 * Paths redacted from every log record, wherever they appear. Secrets are kept out of log calls
 * in the first place; this is the second line of defence, and `secrets` the third.
 */
const REDACT = [
  "token",
  "*.token",
  "apiToken",
  "*.apiToken",
  "password",
  "*.password",
  "env.PROXMOX_VE_API_TOKEN",
  "env.PG_CONN_STR",
  "env.TF_ENCRYPTION",
  "headers.authorization",
  "*.headers.authorization",
  "req.headers.authorization",
  "databaseUrl",
  "redisUrl",
];

export interface LoggerOptions {
  /**
   * Secret values (the ones the operator has read, in every spelling) removed from each
   * finished log line, whatever field or error message carries them.
   */
  secrets?: Redactor;
  /** Where lines go (default stdout); tests pass a stream to read them. */
  destination?: pino.DestinationStream;
}

export function createLogger(level: string, base: Record<string, unknown> = {}, options: LoggerOptions = {}): Logger {
  const { secrets, destination } = options;
  return pino(
    {
      level,
      base: { service: "proxmox-terraform-manager", ...base },
      redact: { paths: REDACT, censor: "[REDACTED]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // The serialized line: JSON escaping is one of the spellings the redactor knows.
      ...(secrets ? { hooks: { streamWrite: (line: string) => secrets.redact(line) } } : {}),
    },
    destination ?? pino.destination(1),
  );
}
