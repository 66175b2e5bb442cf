// Notices over the page: today only the banner that asks for (or refuses) the read token.

/* global document, location */

import { h } from "./dom.js";
import { auth } from "./read-token.js";

export const banner = {
  el: document.getElementById("banner"),
  kind: "",
  auth(error) {
    this.kind = "auth";
    const has = Boolean(auth.token);
    this.el.replaceChildren(
      h("strong", null, has ? "The read token was refused." : "This page needs a read token."),
      " ",
      has
        ? `The sidecar answered ${error.status}. Open the page again with a valid token: `
        : "The sidecar requires a read token. Open the page with the token in its address: ",
      h("code", null, `${location.origin}${location.pathname}?token=…`),
    );
    this.el.hidden = false;
  },
  clearAuth() {
    if (this.kind !== "auth") return;
    this.kind = "";
    this.el.hidden = true;
    this.el.replaceChildren();
  },
};
