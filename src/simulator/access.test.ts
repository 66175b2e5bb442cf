import { describe, expect, it } from "vitest";
import { AUTH_GRACE_S, TICKET_LIFETIME_S, TicketSigner, hashPassword, passwordMatches } from "./access.js";

describe("tickets and CSRF tokens", () => {
  const signer = new TicketSigner();
  const issued = 1_800_000_000;

  it("accepts a ticket from 5 minutes before to 2 hours after it was issued", () => {
    const ticket = signer.ticket("root@pam", issued);
    expect(ticket).toMatch(/^PVE:root@pam:6B49D200::\S+$/);
    expect(signer.verifyTicket(ticket, issued + TICKET_LIFETIME_S - 1)).toBe("root@pam");
    expect(signer.verifyTicket(ticket, issued + TICKET_LIFETIME_S)).toBeUndefined();
    expect(signer.verifyTicket(ticket, issued - AUTH_GRACE_S + 1)).toBe("root@pam");
    expect(signer.verifyTicket(ticket, issued - AUTH_GRACE_S)).toBeUndefined();
  });

  it("refuses a ticket signed by another key or edited", () => {
    const ticket = signer.ticket("ops@pve", issued);
    expect(new TicketSigner().verifyTicket(ticket, issued)).toBeUndefined();
    expect(signer.verifyTicket(ticket.replace("ops@pve", "root@pam"), issued)).toBeUndefined();
  });

  it("binds a CSRF token to its user and lifetime", () => {
    const token = signer.csrfToken("root@pam", issued);
    expect(signer.verifyCsrfToken("root@pam", token, issued + 60)).toBe(true);
    expect(signer.verifyCsrfToken("ops@pve", token, issued + 60)).toBe(false);
    expect(signer.verifyCsrfToken("root@pam", token, issued + TICKET_LIFETIME_S)).toBe(false);
  });

  it("stores passwords hashed and checks them", () => {
    const hash = hashPassword("s3cret");
    expect(hash).not.toContain("s3cret");
    expect(passwordMatches(hash, "s3cret")).toBe(true);
    expect(passwordMatches(hash, "S3cret")).toBe(false);
    expect(passwordMatches(undefined, "s3cret")).toBe(false);
  });
});
