package main

import (
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

const (
	module      = "github.com/jitbot/jitbot"
	scenarioPkg = module + "/cmd/internal/scenario"
)

// notLinked are the packages the jitbot binary must not contain: the
// scenarios (load generation, kill loops), the bench command, the test
// helpers and the testing package.
var notLinked = []string{scenarioPkg, module + "/cmd/jitbot-bench", module + "/cmd/internal/rig/rigtest", "testing"}

// TestScenariosAreNotLinked: the production binary carries serve, the admin
// verbs and the demo, never the scenarios. `go list -deps` proves no import
// path reaches them; the built binary's symbol table proves no code of
// theirs is in it, under their package's name or copied into package main.
func TestScenariosAreNotLinked(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/cmd/jitbot").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, want := range []string{module + "/cmd/internal/app", module + "/cmd/internal/rig"} {
		if !slices.Contains(deps, want) {
			t.Fatalf("go list -deps of cmd/jitbot lacks %s, which it must have; the check reads the wrong list:\n%s", want, out)
		}
	}
	for _, dep := range deps {
		for _, bad := range notLinked {
			if dep == bad || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("cmd/jitbot depends on %s: the scenarios belong to cmd/jitbot-bench", dep)
			}
		}
	}

	rigtest.NeedJitbot(t, jitbotExe)
	info, err := buildinfo.ReadFile(jitbotExe)
	if err != nil {
		t.Fatal(err)
	}
	if info.Path != module+"/cmd/jitbot" {
		t.Fatalf("the binary under test is %s, not cmd/jitbot", info.Path)
	}
	syms, err := symbols(jitbotExe)
	if err != nil {
		t.Skipf("no symbol table to read: %v", err)
	}
	if !slices.ContainsFunc(syms, func(s string) bool { return strings.HasPrefix(s, module+"/cmd/internal/app.") }) {
		t.Fatalf("the symbol table has no %s/cmd/internal/app symbol: the check reads the wrong table", module)
	}
	// The scenarios' own names, as the linker would name them in package
	// main had their code been copied there.
	names, err := topLevelNames(scenarioDir(t))
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, s := range syms {
		for _, bad := range notLinked {
			if strings.HasPrefix(s, bad+".") {
				found = append(found, s)
			}
		}
		for _, n := range names {
			if s == "main."+n || strings.HasPrefix(s, "main."+n+".") || strings.HasPrefix(s, "main.(*"+n+").") {
				found = append(found, s)
			}
		}
	}
	if len(found) > 0 {
		t.Errorf("the jitbot binary links scenario code (%d symbols), which belongs to cmd/jitbot-bench: %s", len(found), strings.Join(found[:min(len(found), 20)], ", "))
	}
}

// scenarioDir is the scenario package's source directory.
func scenarioDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.Dir}}", scenarioPkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", scenarioPkg, err)
	}
	return strings.TrimSpace(string(out))
}

// topLevelNames are the types and exported functions the package in dir
// declares (its tests aside): names no code of jitbot's own should carry.
func topLevelNames(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var names []string
	fset := token.NewFileSet()
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					names = append(names, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					if ts, ok := s.(*ast.TypeSpec); ok {
						names = append(names, ts.Name.Name)
					}
				}
			}
		}
	}
	if len(names) == 0 {
		return nil, errors.New("no names found in " + dir)
	}
	return names, nil
}

// symbols reads a binary's symbol names, whatever its format.
func symbols(path string) ([]string, error) {
	var names []string
	if f, err := elf.Open(path); err == nil {
		defer f.Close()
		syms, err := f.Symbols()
		for _, s := range syms {
			names = append(names, s.Name)
		}
		return names, err
	}
	if f, err := macho.Open(path); err == nil {
		defer f.Close()
		if f.Symtab == nil {
			return nil, errors.New("no symbol table")
		}
		for _, s := range f.Symtab.Syms {
			names = append(names, s.Name)
		}
		return names, nil
	}
	f, err := pe.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	for _, s := range f.Symbols {
		names = append(names, s.Name)
	}
	return names, nil
}
