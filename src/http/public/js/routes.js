// The page's hash routes: `#/` (optionally `?ns=&q=`), `#/vm/<namespace>/<name>`, `#/run/<id>`.
// Hash routes keep every URL relative, so the page works behind a path prefix.

/* global location, URLSearchParams */

/** The route's hash for these path parts, e.g. href("vm", "prod", "web") → `#/vm/prod/web`. */
export function href(...parts) {
  return "#/" + parts.map((p) => encodeURIComponent(p)).join("/");
}

/** The current route: `{ view: "list", query }`, `{ view: "vm", namespace, name }` or `{ view: "run", id }`. */
export function parseRoute() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?", 2);
  let parts;
  try {
    parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  } catch {
    parts = [];
  }
  if (parts[0] === "vm" && parts.length === 3) return { view: "vm", namespace: parts[1], name: parts[2] };
  if (parts[0] === "run" && parts.length === 2) return { view: "run", id: parts[1] };
  return { view: "list", query: new URLSearchParams(query) };
}

export function navigate(hash) {
  if (location.hash === hash) return;
  location.hash = hash;
}
