// The status page of the Proxmox Terraform Manager sidecar: the VMs, their runs and a run's live
// Terraform log. Plain browser JavaScript (ES modules under js/, no build step, no framework);
// the sidecar serves it with express.static under a CSP of default-src 'self'.
// docs/status-page.md describes the page, its routes, its modules and how it stays live.
//
// Rules every module keeps:
// - Data never becomes markup: every text goes through textContent (h() in js/dom.js); no innerHTML.
// - No inline styles (the CSP refuses them): looks are classes in styles.css.
// - URLs are relative to the page (imports included), so the page works behind a path prefix too.
// - One EventSource at a time; the REST API gives the snapshot, the stream keeps it current.
// - Modules only declare things; this entry starts the page, in this order.

import { takeReadToken } from "./js/read-token.js";
import { startRouting } from "./js/router.js";
import { startTicking } from "./js/time.js";

takeReadToken();
startTicking();
startRouting();
