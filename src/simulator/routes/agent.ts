/** /nodes/{node}/qemu/{vmid}/agent/*: the guest agent commands the simulator answers. */
import { assertAgentAvailable, networkInterfaces } from "../guest-agent.js";
import type { RequestContext, Router } from "../router.js";
import { verify, vmidOf } from "./common.js";

function availableVm(req: RequestContext) {
  verify(req, {});
  const vm = req.ctx.requireVm(req.path.node as string, vmidOf(req));
  assertAgentAvailable(req.ctx, vm);
  return vm;
}

export function registerAgentRoutes(router: Router): void {
  router.post("/nodes/{node}/qemu/{vmid}/agent/ping", (req) => {
    availableVm(req);
    return { result: {} };
  });

  router.get("/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces", (req) => networkInterfaces(availableVm(req)));

  router.get("/nodes/{node}/qemu/{vmid}/agent/get-host-name", (req) => {
    const vm = availableVm(req);
    return { result: { "host-name": vm.conf.name ?? `vm${vm.vmid}` } };
  });

  router.get("/nodes/{node}/qemu/{vmid}/agent/get-osinfo", (req) => {
    availableVm(req);
    return {
      result: {
        id: "ubuntu",
        name: "Ubuntu",
        "pretty-name": "Ubuntu 24.04.2 LTS",
        version: "24.04.2 LTS (Noble Numbat)",
        "version-id": "24.04",
        "kernel-release": "6.8.0-60-generic",
        "kernel-version": "#63-Ubuntu SMP PREEMPT_DYNAMIC",
        machine: "x86_64",
      },
    };
  });

  router.get("/nodes/{node}/qemu/{vmid}/agent/info", (req) => {
    availableVm(req);
    const cmds = ["guest-ping", "guest-info", "guest-get-host-name", "guest-get-osinfo", "guest-network-get-interfaces", "guest-shutdown"];
    return { result: { version: "8.2.2", supported_commands: cmds.map((name) => ({ name, enabled: true, "success-response": true })) } };
  });
}
