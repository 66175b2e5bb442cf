// Command dockerfile-check prints, as JSON, what BuildKit sees in a Dockerfile (stages, commands,
// lint warnings) and which files of a directory a build context would hold under its
// .dockerignore, using BuildKit's own parser and linter and Docker's own pattern matcher.
//
// Usage: dockerfile-check DOCKERFILE CONTEXT_DIR
//
// Output (one JSON object on stdout): {"metaArgs": {NAME: VALUE}, "stages": [{"name", "base",
// "commands": [...]}], "warnings": [...], "contextFiles": [...]}. Errors go to stderr, exit 1.
package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

type object = map[string]any

func main() {
	if len(os.Args) != 3 {
		os.Stderr.WriteString("usage: dockerfile-check DOCKERFILE CONTEXT_DIR\n")
		os.Exit(2)
	}
	warnings := []string{}
	dt, err := os.ReadFile(os.Args[1])
	check(err)
	ast, err := parser.Parse(bytes.NewReader(dt))
	check(err)
	for _, w := range ast.Warnings {
		warnings = append(warnings, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, _ []parser.Range) {
		warnings = append(warnings, rule+": "+msg)
	}})
	stages, metaArgs, err := instructions.Parse(ast.AST, lint)
	check(err)
	args := map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				args[kv.Key] = *kv.Value
			}
		}
	}
	outStages := []object{}
	for _, s := range stages {
		commands := []object{}
		for _, c := range s.Commands {
			cmd := object{"name": c.Name(), "shell": false}
			switch v := c.(type) {
			case *instructions.CopyCommand:
				cmd["from"], cmd["sources"], cmd["dest"] = v.From, v.SourcePaths, v.DestPath
				if len(v.SourceContents) > 0 {
					heredocs := map[string]string{}
					for _, h := range v.SourceContents {
						heredocs[h.Path] = h.Data
					}
					cmd["heredocs"] = heredocs
				}
			case *instructions.EnvCommand:
				cmd["pairs"] = pairs(v.Env)
			case *instructions.LabelCommand:
				cmd["pairs"] = pairs(v.Labels)
			case *instructions.EntrypointCommand:
				cmd["args"], cmd["shell"] = v.CmdLine, v.PrependShell
			case *instructions.CmdCommand:
				cmd["args"], cmd["shell"] = v.CmdLine, v.PrependShell
			case *instructions.RunCommand:
				cmd["args"], cmd["shell"] = v.CmdLine, v.PrependShell
			case *instructions.UserCommand:
				cmd["value"] = v.User
			case *instructions.WorkdirCommand:
				cmd["value"] = v.Path
			}
			commands = append(commands, cmd)
		}
		outStages = append(outStages, object{"name": s.Name, "base": s.BaseName, "commands": commands})
	}

	// The build context as the docker CLI sends it: every file .dockerignore does not exclude,
	// decided by the same reader and matcher.
	contextDir := os.Args[2]
	var patterns []string
	if f, err := os.Open(filepath.Join(contextDir, ".dockerignore")); err == nil {
		patterns, err = ignorefile.ReadAll(f)
		check(err)
		f.Close()
	}
	pm, err := patternmatcher.New(patterns)
	check(err)
	files := []string{}
	check(filepath.WalkDir(contextDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(contextDir, p)
		if err != nil {
			return err
		}
		excluded, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err == nil && !excluded {
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	}))
	check(json.NewEncoder(os.Stdout).Encode(object{"metaArgs": args, "stages": outStages, "warnings": warnings, "contextFiles": files}))
}

func pairs(kvs instructions.KeyValuePairs) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func check(err error) {
	if err != nil {
		os.Stderr.WriteString("dockerfile-check: " + err.Error() + "\n")
		os.Exit(1)
	}
}
