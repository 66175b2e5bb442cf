import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { TerraformError, type TerraformEvent } from "../../src/terraform/index.js";
import { makeRunner, pgConnStr, readTree, runFor, schemasDroppedAfterAll, stack, withPg } from "./helpers.js";

const newSchema = schemasDroppedAfterAll();

describe("secrets", () => {
  it("never appear in events or in the work directory, even when a provisioner prints them", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const secrets = {
      token: "root@pam!ptm=fake-secret-for-secrets-test",
      password: "cloud-init-Pa55word!",
      explicit: "an-explicitly-listed-secret",
    };
    const conn = pgConnStr();
    const dbPassword = new URL(conn).password;
    const configJson = stack(schema, {
      variable: { root_password: { type: "string", sensitive: true } },
      resource: {
        terraform_data: {
          vm: {
            input: "${var.root_password}",
            // A provisioner that echoes the environment: tofu cannot know these are secret, the runner must.
            provisioner: [
              {
                "local-exec": {
                  command: 'echo "token=$PROXMOX_VE_API_TOKEN pw=$TF_VAR_root_password other=$INNOCENT_LOOKING db=$PG_CONN_STR"; echo "$PROXMOX_VE_API_TOKEN" >&2',
                },
              },
            ],
          },
        },
      },
      output: { pw: { value: "${terraform_data.vm.output}", sensitive: true } },
    });
    const run = runFor(schema, configJson, {
      env: {
        PG_CONN_STR: conn,
        PROXMOX_VE_API_TOKEN: secrets.token,
        TF_VAR_root_password: secrets.password,
        INNOCENT_LOOKING: secrets.explicit,
      },
      secrets: [secrets.explicit],
    });

    await runner.prepare(run);
    const plan = await runner.plan(run);
    await runner.apply(run, plan.planFile!);
    await runner.output(run, { includeSensitive: true });
    await runner.plan(run);

    const text = JSON.stringify(run.events);
    const echoed = run.events.find((e: TerraformEvent) => e.type === "provision_progress" && e.message.includes("token=["));
    expect(echoed?.message).toBe(
      "terraform_data.vm: (local-exec): token=[REDACTED] pw=[REDACTED] other=[REDACTED] db=[REDACTED]",
    );
    for (const value of [...Object.values(secrets), dbPassword, conn, secrets.token.split("=")[1]!]) {
      expect(text).not.toContain(value);
    }

    // Nothing on disk either: main.tf.json, .terraform/ (backend config, environment), lock file.
    const files = await readTree(runner.workdir(run));
    expect(files.map((f) => f.file).join("\n")).toMatch(/main\.tf\.json/);
    for (const { file, content } of files) {
      const body = content.toString("latin1");
      for (const value of [...Object.values(secrets), dbPassword]) {
        expect(body.includes(value), `${file} contains a secret`).toBe(false);
      }
    }
  });

  it("keeps state encrypted in PostgreSQL with a passphrase, and a later run decrypts it", async () => {
    const runner = await makeRunner();
    const schema = newSchema();
    const sensitive = "cloud-init-password-in-state-0xC0FFEE";
    const passphrase = "correct horse ${battery} %{staple} 42";
    const configJson = stack(schema, {
      variable: { root_password: { type: "string", sensitive: true } },
      resource: { terraform_data: { vm: { input: "${var.root_password}" }, name: { input: "vm-100" } } },
      output: { name: { value: "${terraform_data.name.output}" } },
    });
    const env = { PG_CONN_STR: pgConnStr(), TF_VAR_root_password: sensitive };
    const run = runFor(schema, configJson, { env, stateEncryptionPassphrase: passphrase });

    await runner.prepare(run);
    let t = Date.now();
    const plan = await runner.plan(run);
    const planMs = Date.now() - t;
    expect(plan.changes.add).toBe(2);
    // The saved plan is encrypted too (an unencrypted one is a zip holding variable values).
    const planBytes = await readFile(plan.planFile!, "latin1");
    expect(planBytes).toMatch(/^\{"meta":\{"key_provider\.pbkdf2\.ptm"/);
    expect(planBytes).not.toContain(sensitive);
    t = Date.now();
    await runner.apply(run, plan.planFile!);
    console.log(`[timing] with state encryption (pbkdf2, 600k iterations): plan ${planMs} ms, apply ${Date.now() - t} ms`);

    const rows = await withPg((c) => c.query<{ name: string; data: string }>(`select name, data from ${schema}.states`));
    expect(rows.rows.map((r) => r.name)).toEqual(["vm-100"]);
    const data = rows.rows[0]!.data;
    expect(data).toContain('"encrypted_data"');
    expect(data).not.toContain(sensitive);
    expect(data).not.toContain("vm-100");

    // A second run, in a fresh work directory as on another worker, reads the state back.
    const second = runFor(schema, configJson, { env, stateEncryptionPassphrase: passphrase });
    await runner.prepare(second);
    expect(await runner.plan(second)).toMatchObject({ hasChanges: false });
    expect(await runner.output(second)).toEqual({ name: "vm-100" });

    // Without the passphrase, or with another one, the state cannot be read: permanent, not retried.
    const without = runFor(schema, configJson, { env });
    await runner.prepare(without);
    const e1 = await runner.plan(without).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(TerraformError);
    expect(e1).toMatchObject({ kind: "permanent", phase: "plan" });
    expect((e1 as Error).message).toMatch(/encrypted/);

    const wrong = runFor(schema, configJson, { env, stateEncryptionPassphrase: "a different passphrase entirely" });
    await runner.prepare(wrong);
    await expect(runner.plan(wrong)).rejects.toMatchObject({ kind: "permanent" });

    // The passphrase (and the TF_ENCRYPTION value holding it) never shows up in events.
    for (const r of [run, second, without, wrong]) {
      const text = JSON.stringify(r.events);
      expect(text).not.toContain("correct horse");
      expect(text).not.toContain("a different passphrase");
      expect(text).not.toContain(sensitive);
    }
  });
});
