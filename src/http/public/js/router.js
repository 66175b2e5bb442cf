// Routing: one view at a time, mounted for the current hash route, and the live stream that
// follows what that view shows.

/* global document, window */

import { LiveStream } from "./live.js";
import { newerRun } from "./model.js";
import { parseRoute } from "./routes.js";
import { runCache, vmStore } from "./vm-store.js";
import { RunView } from "./views/run-detail.js";
import { VmView } from "./views/vm-detail.js";
import { ListView } from "./views/vm-list.js";

/** Shows the view of the current route, and the next one whenever the hash changes. */
export function startRouting() {
  const main = document.getElementById("main");
  let view = null;

  const stream = new LiveStream({
    fresh: () => view?.resync(),
    event: (type, data) => {
      if (type === "reset") {
        view?.resync();
        return;
      }
      if (type === "vm") vmStore.event(data);
      if (type === "run" && data?.id) runCache.set(data.id, newerRun(runCache.get(data.id), data));
      view?.onEvent(type, data);
    },
  });

  function route() {
    const next = parseRoute();
    if (view && next.view === "list" && view.kind === "list") {
      view.update(next);
      return;
    }
    if (view?.sameAs?.(next)) return;
    view?.unmount();
    view = next.view === "vm" ? new VmView(next) : next.view === "run" ? new RunView(next) : new ListView(next);
    window.scrollTo(0, 0);
    view.mount(main);
    stream.want(view.streamParams());
  }

  window.addEventListener("hashchange", route);
  route();
}
