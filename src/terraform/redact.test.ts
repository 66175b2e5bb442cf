import { describe, expect, it } from "vitest";
import { MIN_SECRET_LENGTH, REDACTED, Redactor, isSecretName, secretVariants } from "./redact.js";

describe("Redactor", () => {
  it("replaces every occurrence of every secret", () => {
    const r = new Redactor(["hunter22", "s3cr3t-token"]);
    expect(r.redact("a hunter22 b hunter22 c s3cr3t-token")).toBe(`a ${REDACTED} b ${REDACTED} c ${REDACTED}`);
  });

  it("replaces a longer secret whole when it contains a shorter one", () => {
    const r = new Redactor(["abcd", "xxabcdxx"]);
    expect(r.redact("xxabcdxx abcd")).toBe(`${REDACTED} ${REDACTED}`);
  });

  it("ignores values too short to be secrets", () => {
    const r = new Redactor(["2", "abc", ""]);
    expect(r.size).toBe(0);
    expect(r.redact("cores = 2, abc")).toBe("cores = 2, abc");
    expect("abc".length).toBeLessThan(MIN_SECRET_LENGTH);
  });

  it("treats regex metacharacters literally", () => {
    expect(new Redactor(["a.*b+c$"]).redact("x a.*b+c$ y aXXbbc")).toBe(`x ${REDACTED} y aXXbbc`);
  });

  it("also redacts the password inside a connection URL, raw and decoded", () => {
    const r = new Redactor(["postgres://ptm:p%40ss%2Fw0rd@127.0.0.1:5432/ptm?sslmode=disable"]);
    expect(r.redact('pq: password authentication failed for "p@ss/w0rd"')).toBe(`pq: password authentication failed for "${REDACTED}"`);
    expect(r.redact("url postgres://ptm:p%40ss%2Fw0rd@host")).toBe(`url postgres://ptm:${REDACTED}@host`);
  });

  it("also redacts the password of a libpq key/value string", () => {
    const r = new Redactor(["host=db user=ptm password='it\\'s secret' dbname=ptm"]);
    expect(r.redact("it's secret")).toBe(REDACTED);
    expect(secretVariants("host=db password=plainpw port=1")).toContain("plainpw");
    expect(new Redactor(["host=db password=plainpw port=1"]).redact("got plainpw")).toBe(`got ${REDACTED}`);
    expect(r.size).toBeGreaterThan(1);
  });

  it("also redacts the secret half of a Proxmox API token", () => {
    const r = new Redactor(["root@pam!ptm=fake-secret-for-redaction-test"]);
    expect(r.redact("token fake-secret-for-redaction-test rejected")).toBe(`token ${REDACTED} rejected`);
  });

  it("also redacts JSON-escaped spellings", () => {
    const r = new Redactor(['q"uo\\te<&>']);
    expect(r.redact('{"v":"q\\"uo\\\\te<&>"}')).toBe(`{"v":"${REDACTED}"}`);
    expect(r.redact('{"v":"q\\"uo\\\\te\\u003c\\u0026\\u003e"}')).toBe(`{"v":"${REDACTED}"}`);
  });

  it("picks secrets from an environment by name, and URL passwords under any name", () => {
    const r = Redactor.fromEnv(
      {
        PATH: "/usr/bin:/bin",
        PROXMOX_VE_API_TOKEN: "root@pam!ci=0123456789abcdef",
        PG_CONN_STR: "postgres://u:dbpassword@h/db",
        TF_VAR_root_password: "cloud-init-pw",
        TF_ENCRYPTION: '{"key_provider":{}}',
        HTTPS_PROXY: "http://proxyuser:proxypass@proxy:3128",
        TF_IN_AUTOMATION: "1",
      },
      ["explicit-secret"],
    );
    const text = "0123456789abcdef dbpassword cloud-init-pw proxypass explicit-secret /usr/bin:/bin proxyuser";
    expect(r.redact(text)).toBe(`${REDACTED} ${REDACTED} ${REDACTED} ${REDACTED} ${REDACTED} /usr/bin:/bin proxyuser`);
  });
});

describe("isSecretName", () => {
  it.each(["PROXMOX_VE_API_TOKEN", "PG_CONN_STR", "TF_VAR_anything", "TF_ENCRYPTION", "PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL"])(
    "%s is secret",
    (name) => expect(isSecretName(name)).toBe(true),
  );
  it.each(["PATH", "HOME", "TF_IN_AUTOMATION", "TF_PLUGIN_CACHE_DIR", "TF_CLI_CONFIG_FILE", "PROXMOX_VE_ENDPOINT"])("%s is not", (name) =>
    expect(isSecretName(name)).toBe(false),
  );
});
