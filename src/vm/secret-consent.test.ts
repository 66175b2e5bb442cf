import { describe, expect, it } from "vitest";
import { ALLOWED_USERS_ANNOTATION, CONSENT_LABEL, consentProblem, DEFAULT_CONSENT } from "./secret-consent.js";

const consenting = { labels: { [CONSENT_LABEL]: "proxmox-terraform-manager" } };

describe("consentProblem", () => {
  it("refuses a Secret without the label, and the message gives the command that consents", () => {
    const problem = consentProblem(DEFAULT_CONSENT, "team-a", "db-password", {}, "ProxmoxConnection pve");
    expect(problem).toContain("does not consent");
    expect(problem).toContain(`kubectl label secret -n team-a db-password ${CONSENT_LABEL}=proxmox-terraform-manager`);
    expect(problem).toContain(`${ALLOWED_USERS_ANNOTATION}=ProxmoxConnection/pve`);
  });

  it("refuses a label naming another operator installation", () => {
    expect(consentProblem(DEFAULT_CONSENT, "ns", "s", { labels: { [CONSENT_LABEL]: "other-operator" } }, "ProxmoxVM web")).toMatch(/does not consent/);
    expect(consentProblem({ mode: "required", consumer: "other-operator" }, "ns", "s", { labels: { [CONSENT_LABEL]: "other-operator" } }, "ProxmoxVM web")).toBeUndefined();
  });

  it("accepts a labelled Secret for anyone in its namespace, unless the annotation narrows it", () => {
    expect(consentProblem(DEFAULT_CONSENT, "ns", "s", consenting, "ProxmoxVM web")).toBeUndefined();
    const narrowed = { ...consenting, annotations: { [ALLOWED_USERS_ANNOTATION]: "ProxmoxConnection/pve, ProxmoxVM/*" } };
    expect(consentProblem(DEFAULT_CONSENT, "ns", "s", narrowed, "ProxmoxConnection pve")).toBeUndefined();
    expect(consentProblem(DEFAULT_CONSENT, "ns", "s", narrowed, "ProxmoxVM anything")).toBeUndefined();
    expect(consentProblem(DEFAULT_CONSENT, "ns", "s", narrowed, "ProxmoxConnection attacker")).toMatch(/allows only ProxmoxConnection\/pve, ProxmoxVM\/\*.*not ProxmoxConnection attacker/);
  });

  it("trusts every readable Secret when consent is off", () => {
    expect(consentProblem({ ...DEFAULT_CONSENT, mode: "off" }, "ns", "s", {}, "ProxmoxVM web")).toBeUndefined();
  });
});
