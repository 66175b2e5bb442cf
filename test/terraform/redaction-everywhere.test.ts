import https from "node:https";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { ProxmoxApiClient, ProxmoxApiError } from "../../src/proxmox/api-client.js";
import { simulatorCertificate } from "../../src/simulator/cert.js";
import { createLogger } from "../../src/telemetry/logger.js";
import { TerraformError } from "../../src/terraform/index.js";
import { Redactor } from "../../src/terraform/redact.js";
import { makeRunner, pgConnStr, removeTempDirs, runFor, schemasDroppedAfterAll, stack } from "./helpers.js";

/**
 * One secret, every spelling in which it leaks in practice, every path that writes text a user
 * or a log sees: the redactor itself, pino log lines, tofu's run events and a failed run's error
 * (what becomes run.error and the Ready condition), and a Proxmox error answer (a connection's
 * condition). Real tofu, real pino, a real HTTPS server on loopback.
 */

/** Space, @, /, ~, ! and + so that every encoding differs from the raw value. */
const SECRET = "Fish p@ss/w0rd~!x+Yz";
const TOKEN = `root@pam!ptm=${SECRET}`;

const pct = (s: string) => encodeURIComponent(s);
const FORMS: Record<string, string> = {
  raw: SECRET,
  upper: SECRET.toUpperCase(),
  lower: SECRET.toLowerCase(),
  base64: Buffer.from(SECRET).toString("base64"),
  base64url: Buffer.from(SECRET).toString("base64url"),
  percent: pct(SECRET),
  percentLowerHex: pct(SECRET).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  form: new URLSearchParams([["v", SECRET]]).toString().slice(2),
  json: JSON.stringify(SECRET).slice(1, -1),
};

/** No spelling of the secret anywhere in `text` (nor its distinctive middle part). */
function expectNoSecret(text: string, where: string): void {
  const lower = text.toLowerCase();
  for (const [name, form] of Object.entries(FORMS)) expect(lower.includes(form.toLowerCase()), `${where}: ${name} form (${form})`).toBe(false);
  expect(lower.includes("p@ss/w0rd"), `${where}: the decoded core`).toBe(false);
}

describe("the redactor", () => {
  it("finds each spelling alone and inside other text, and leaves the text around it", () => {
    const redactor = new Redactor([TOKEN]);
    for (const [name, form] of Object.entries(FORMS)) {
      const out = redactor.redact(`before ${form} after`);
      expect(out, name).toBe("before [REDACTED] after");
    }
    // Inside a longer base64 text at each byte alignment (a Basic auth header, a Secret's data):
    // what stays visible is the prefix's own characters and at most a partial group at each edge.
    for (const prefix of ["", "u:", "us:", "use:"]) {
      const encoded = Buffer.from(`${prefix}${SECRET}`).toString("base64");
      const out = redactor.redact(`Authorization: Basic ${encoded}`);
      expect(out, prefix).toContain("[REDACTED]");
      const visible = out.slice("Authorization: Basic ".length).replace("[REDACTED]", "");
      expect(visible.length, `${prefix}: ${out}`).toBeLessThanOrEqual(Math.ceil((prefix.length * 4) / 3) + 4);
    }
  });
});

describe("pino log lines", () => {
  it("carry no spelling of a secret the process has read, in messages, fields or errors", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString("utf8"));
        done();
      },
    });
    const secrets = new Redactor();
    const logger = createLogger("info", {}, { secrets, destination: sink });
    // The resolver adds what it reads; here, as it would.
    secrets.add(`PVEAPIToken=${TOKEN}`);
    for (const [name, form] of Object.entries(FORMS)) {
      logger.info({ detail: form, nested: { url: `https://pve.example/?t=${form}` } }, `message with ${form}`);
      logger.error({ err: new Error(`request failed: ${form}`) }, `failure ${name}`);
    }
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(Object.keys(FORMS).length * 2);
    for (const line of lines) {
      JSON.parse(line);
      expectNoSecret(line, "log line");
    }
  });
});

describe("tofu run events and a failed run's error", () => {
  const newSchema = schemasDroppedAfterAll();
  afterAll(removeTempDirs);

  /** A command tofu runs that prints the secret in each spelling (tofu's own functions make them). */
  const printAll =
    "echo 'raw=${var.s} up=${upper(var.s)} low=${lower(var.s)} b64=${base64encode(var.s)} " +
    "b64url=${replace(replace(base64encode(var.s), \"+\", \"-\"), \"/\", \"_\")} url=${urlencode(var.s)} urllow=${lower(urlencode(var.s))} json=${jsonencode(var.s)}'";

  it("events of a successful apply hold none of them", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const configJson = stack(schema, {
      // Not sensitive on purpose: tofu prints it; the runner must not.
      variable: { s: { type: "string" } },
      resource: { terraform_data: { echo: { input: "x", provisioner: [{ "local-exec": { command: printAll } }] } } },
      output: { b64: { value: "${base64encode(var.s)}" }, url: { value: "${urlencode(var.s)}" }, up: { value: "${upper(var.s)}" } },
    });
    const run = runFor(schema, configJson, { env: { PG_CONN_STR: pgConnStr(), TF_VAR_s: SECRET } });
    await runner.prepare(run);
    const plan = await runner.plan(run);
    await runner.apply(run, plan.planFile!);
    const echoed = run.events.find((e) => e.type === "provision_progress" && e.message.includes("raw="));
    expect(echoed?.message).toMatch(/raw=\[REDACTED\] up=\[REDACTED\] low=\[REDACTED\] b64=\[REDACTED\] b64url=\[REDACTED\] url=\[REDACTED\] urllow=\[REDACTED\] json=\\?"\[REDACTED\]\\?"/);
    expectNoSecret(JSON.stringify(run.events), "run events");
  });

  it("the error of a failing run (run.error, the Ready message) holds none of them", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const configJson = stack(schema, {
      variable: { s: { type: "string" } },
      resource: { terraform_data: { fail: { input: "x", provisioner: [{ "local-exec": { command: `${printAll} >&2; exit 3` } }] } } },
    });
    const run = runFor(schema, configJson, { env: { PG_CONN_STR: pgConnStr(), TF_VAR_s: SECRET } });
    await runner.prepare(run);
    const plan = await runner.plan(run);
    const failure = await runner.apply(run, plan.planFile!).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(TerraformError);
    const error = failure as TerraformError;
    expect(error.message.length).toBeGreaterThan(0);
    expectNoSecret(error.message, "error message");
    expectNoSecret(JSON.stringify({ diagnostics: error.diagnostics, stderr: error.stderrTail, hint: error.hint }), "error details");
    expectNoSecret(JSON.stringify(run.events), "run events");
  });
});

describe("a Proxmox error answer", () => {
  it("reaches the condition trimmed and without any spelling of the token", async () => {
    const { key, cert } = simulatorCertificate();
    const echo = Object.values(FORMS).join(" | ");
    const server = https.createServer({ key, cert }, (_req, res) => {
      // A server that is not Proxmox repeats what it was sent, at length, with control characters.
      res.statusMessage = `denied ${FORMS.base64} ${FORMS.percent}`;
      res.writeHead(401, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ errors: { token: `${echo}\u001b[31m ${"x".repeat(5000)}`, header: `PVEAPIToken=${TOKEN}` } }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const client = new ProxmoxApiClient({ endpoint: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`, apiToken: TOKEN, insecureSkipTLSVerify: true });
      const error = await client.nextId().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ProxmoxApiError);
      const e = error as ProxmoxApiError;
      expect(e.status).toBe(401);
      expect(e.message).toMatch(/^GET \/api2\/json\/cluster\/nextid: 401 denied \[REDACTED\]/);
      expect(e.message.length).toBeLessThanOrEqual(600);
      // eslint-disable-next-line no-control-regex -- asserting no control characters remain
      expect(e.message).not.toMatch(/[\u0000-\u001f]/);
      expectNoSecret(e.message, "error message");
      expectNoSecret(JSON.stringify(e.errors), "error fields");
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
