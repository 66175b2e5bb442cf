import { afterAll, describe, expect, it } from "vitest";
import { TerraformError } from "../../src/terraform/index.js";
import { generateStateKey, StateKeyFiles } from "../../src/terraform/state-keys.js";
import { makeRunner, pgConnStr, removeTempDirs, runFor, schemasDroppedAfterAll, stack, tempDir, withPg } from "./helpers.js";

const newSchema = schemasDroppedAfterAll();
afterAll(removeTempDirs);

const PASSWORD = "migrate-me-Pa55word";
const configFor = (schema: string) =>
  stack(schema, {
    variable: { pw: { type: "string", sensitive: true } },
    resource: { terraform_data: { vm: { input: "${var.pw}" } } },
  });

async function stateText(schema: string): Promise<string> {
  const rows = await withPg((c) => c.query<{ data: string }>(`select data from ${schema}.states where name = 'vm-100'`));
  expect(rows.rows).toHaveLength(1);
  return rows.rows[0]!.data;
}

// Moving an installation onto the operator's key, with real tofu and the pg backend: plain-text
// state (PTM_STATE_ENCRYPTION=migrate) and state a pbkdf2 passphrase encrypted (the passphrase
// as the last fallback) are both read, and the next apply writes them with the key.
describe("state encryption migrations", () => {
  it("reads plain-text state in migrate mode and writes it back encrypted; enforced then refuses plain text", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const keys = new StateKeyFiles(await tempDir("ptm-keys-"));
    const key = { current: generateStateKey(), previous: [] };
    const base = { env: { PG_CONN_STR: pgConnStr(), TF_VAR_pw: PASSWORD }, secrets: [PASSWORD] };
    const run = (extra: object) => ({ ...runFor(schema, configFor(schema), base), workdirName: "migrating", ...extra });

    const plain = run({});
    await runner.prepare(plain);
    await runner.applyAuto(plain);
    expect(await stateText(schema)).toContain(PASSWORD);

    // enforced (the default) cannot read it: a permanent failure that says so.
    const enforced = run({ stateEncryption: await keys.config(key) });
    const refused = await runner.prepare(enforced).then(() => runner.plan(enforced)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TerraformError);
    expect(refused).toMatchObject({ kind: "permanent" });
    expect((refused as Error).message).toMatch(/unencrypted payload without unencrypted method/);

    const migrating = run({ stateEncryption: await keys.config(key, { readPlaintext: true }) });
    await runner.prepare(migrating);
    await runner.applyAuto(migrating);
    const migrated = await stateText(schema);
    expect(migrated).not.toContain(PASSWORD);
    expect(JSON.parse(migrated)).toHaveProperty(["meta", "key_provider.external.current"]);

    const after = run({ stateEncryption: await keys.config(key) });
    await runner.prepare(after);
    expect((await runner.plan(after)).hasChanges).toBe(false);
  });

  it("reads state a pbkdf2 passphrase encrypted (the passphrase as the last fallback) and rewrites it with the key", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const keys = new StateKeyFiles(await tempDir("ptm-keys-"));
    const key = { current: generateStateKey(), previous: [] };
    const passphrase = "an earlier release's passphrase";
    const base = { env: { PG_CONN_STR: pgConnStr(), TF_VAR_pw: PASSWORD }, secrets: [PASSWORD, passphrase] };
    const run = (extra: object) => ({ ...runFor(schema, configFor(schema), base), workdirName: "from-passphrase", ...extra });

    const old = run({ stateEncryptionPassphrase: passphrase });
    await runner.prepare(old);
    await runner.applyAuto(old);
    expect(JSON.parse(await stateText(schema))).toHaveProperty(["meta", "key_provider.pbkdf2.ptm"]);

    const withFallback = run({ stateEncryption: await keys.config(key, { previousPassphrase: passphrase }) });
    await runner.prepare(withFallback);
    await runner.applyAuto(withFallback);
    const rewritten = JSON.parse(await stateText(schema)) as { meta: Record<string, string> };
    expect(Object.keys(rewritten.meta)).toContain("key_provider.external.current");

    const keyOnly = run({ stateEncryption: await keys.config(key) });
    await runner.prepare(keyOnly);
    expect((await runner.plan(keyOnly)).hasChanges).toBe(false);
  });
});
