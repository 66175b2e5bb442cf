-- Argo CD health check for proxmox.terraform-manager.dev/ProxmoxVM.
-- Reads the conditions the operator writes (Ready, Synced, Reconciling, Stalled); see
-- docs/argocd.md for what each outcome means. argocd-cm.yaml embeds this file verbatim.
local hs = {}
local status = obj.status or {}
local conditions = status.conditions or {}
local generation = obj.metadata.generation or 0

local function find(conditionType)
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- "Reason: message", or the reason alone when the operator left the message empty.
local function describe(c)
  local reason = c.reason or c.type
  if c.message ~= nil and c.message ~= "" then
    return reason .. ": " .. c.message
  end
  return reason
end

local function result(healthStatus, message)
  hs.status = healthStatus
  hs.message = message
  return hs
end

local ready = find("Ready")
local reconciling = find("Reconciling")

if obj.metadata.deletionTimestamp ~= nil then
  -- The finalizer holds the object until the VM is destroyed (or forgotten, deletionPolicy: Orphan).
  if ready ~= nil and ready.status == "False" and ready.reason ~= "Deleting" then
    return result("Progressing", "deleting, blocked: " .. describe(ready))
  end
  return result("Progressing", "deleting the VM")
end

-- Conditions carry the generation they were written for, and a queued or running run updates
-- them before status.observedGeneration moves: the newest of all says what the operator has seen.
local observed = status.observedGeneration or 0
for _, c in ipairs(conditions) do
  if c.observedGeneration ~= nil and c.observedGeneration > observed then
    observed = c.observedGeneration
  end
end
if observed < generation then
  return result("Progressing", "waiting for the operator to observe generation " .. generation)
end

if obj.spec ~= nil and obj.spec.suspend == true then
  return result("Suspended", "spec.suspend is true: the operator leaves this VM as it is until suspend is removed")
end

local stalled = find("Stalled")
if stalled ~= nil and stalled.status == "True" then
  return result("Degraded", describe(stalled))
end

if reconciling ~= nil and reconciling.status == "True" then
  local message = describe(reconciling)
  if ready ~= nil and ready.status == "False" then
    -- A retry after a failed attempt: say what failed.
    message = message .. " (last attempt: " .. describe(ready) .. ")"
  end
  return result("Progressing", message)
end

if ready ~= nil and ready.status == "False" then
  return result("Degraded", describe(ready))
end

local pending = status.pendingApproval
if pending ~= nil then
  local target = obj.metadata.name
  if obj.metadata.namespace ~= nil then
    target = "-n " .. obj.metadata.namespace .. " " .. target
  end
  return result("Suspended", "plan " .. pending.runId .. " waits for approval (" .. pending.add .. " to add, " ..
    pending.change .. " to change, " .. pending.destroy .. " to destroy): kubectl annotate pvm " .. target ..
    " proxmox.terraform-manager.dev/approve=" .. pending.hash .. " --overwrite")
end
if reconciling ~= nil and reconciling.reason == "AwaitingApproval" then
  return result("Suspended", describe(reconciling))
end

local synced = find("Synced")
if synced ~= nil and synced.status == "False" then
  return result("Degraded", describe(synced))
end

if ready ~= nil and ready.status == "True" then
  return result("Healthy", ready.message or "Ready")
end

if ready ~= nil then
  return result("Progressing", describe(ready))
end
return result("Progressing", "waiting for the operator's first run")
