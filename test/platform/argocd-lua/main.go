// Command argocd-lua-health runs an Argo CD health script against one Kubernetes object the way
// Argo CD does: the object is decoded from JSON into a Lua table bound to the global `obj`, only
// the libraries Argo CD opens for health scripts are loaded (no io, no os), and the script's
// returned table must carry a known health status.
//
// Usage: argocd-lua-health SCRIPT.lua < object.json   (prints {"status":...,"message":...})
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

var knownStatuses = map[string]bool{
	"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true,
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: argocd-lua-health SCRIPT.lua < object.json")
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail(err.Error())
	}
	var object any
	decoder := json.NewDecoder(os.Stdin)
	decoder.UseNumber()
	if err := decoder.Decode(&object); err != nil {
		fail("object: " + err.Error())
	}

	state := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer state.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		state.Push(state.NewFunction(lib.open))
		state.Push(lua.LString(lib.name))
		state.Call(1, 0)
	}
	state.SetGlobal("obj", toLua(state, object))
	if err := state.DoString(string(script)); err != nil {
		fail("script: " + err.Error())
	}
	result, ok := state.Get(-1).(*lua.LTable)
	if !ok {
		fail("script did not return a table")
	}
	status := lua.LVAsString(result.RawGetString("status"))
	if !knownStatuses[status] {
		fail(fmt.Sprintf("script returned unknown health status %q", status))
	}
	out, _ := json.Marshal(map[string]string{"status": status, "message": lua.LVAsString(result.RawGetString("message"))})
	fmt.Println(string(out))
}

// toLua mirrors Argo CD's JSON decoding: objects and arrays become tables (arrays 1-based),
// null becomes nil.
func toLua(state *lua.LState, value any) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			fail("number: " + err.Error())
		}
		return lua.LNumber(f)
	case []any:
		table := state.NewTable()
		for _, item := range v {
			table.Append(toLua(state, item))
		}
		return table
	case map[string]any:
		table := state.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(state, item))
		}
		return table
	}
	fail(fmt.Sprintf("unexpected JSON value %T", value))
	return lua.LNil
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "argocd-lua-health: "+message)
	os.Exit(1)
}
