import { pino, type Logger } from "pino";

/**
 * Paths redacted from every log record, wherever they appear. Secrets are kept out of log calls
 * in the first place; this is the second line of defence.
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

export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: "proxmox-terraform-manager", ...base },
    redact: { paths: REDACT, censor: "[REDACTED]" },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
