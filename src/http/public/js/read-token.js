// The read token, when the sidecar asks for one: `?token=` in the page's URL, kept in
// sessionStorage (this tab only) and removed from the address bar so it does not end up in
// history, bookmarks or links people share.

/* global location, history, sessionStorage, URL */

const TOKEN_KEY = "ptm.readToken";

let token = "";

/** The token every API call and the event stream present ("" when there is none). */
export const auth = {
  get token() {
    return token;
  },
};

/** Reads the token from storage and the address bar; runs once, before the first API call. */
export function takeReadToken() {
  try {
    token = sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    // Storage can be disabled; the token then lives in memory for this page load.
  }
  const url = new URL(location.href);
  const given = url.searchParams.get("token");
  if (given !== null) {
    token = given;
    try {
      sessionStorage.setItem(TOKEN_KEY, given);
    } catch {
      // Memory only, see above.
    }
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  }
}
