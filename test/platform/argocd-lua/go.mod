// A tiny runner for Argo CD resource health checks written in Lua, on gopher-lua (the interpreter
// Argo CD embeds), so the chart's health check is tested by the same Lua engine Argo CD runs.
module ptm.local/platform/argocd-lua

go 1.26.0

require github.com/yuin/gopher-lua v1.1.2
