// Package apisurface counts the exported identifiers of a module's public
// packages: the measure the module's API is held to. Its test walks this
// module and fails when the count passes the budget.
package apisurface

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
)

// skipped are the directories whose packages are not part of the API, with
// everything below them.
var skipped = map[string]bool{"internal": true, "testdata": true, "examples": true, "cmd": true, ".git": true}

// Count walks the module rooted at root and returns, by package directory
// (relative to root, slash-separated), the exported identifiers it
// declares: types, functions, methods declared on exported types (generic
// ones too), constants and variables. Fields are not counted, nor are
// _test.go files, main packages, or anything in or below a directory named
// internal, testdata, examples, cmd or .git. A declaration counts once per
// file that holds it: one with a _linux and an _other variant counts twice.
// Methods are listed as Type.Method, types as "type T".
func Count(root string) (map[string][]string, error) {
	names := map[string][]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipped[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if f.Name.Name == "main" {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		names[pkg] = append(names[pkg], exported(f)...)
		return nil
	})
	return names, err
}

// exported lists the exported identifiers f declares.
func exported(f *ast.File) []string {
	var out []string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			if d.Recv == nil {
				out = append(out, d.Name.Name)
				continue
			}
			if recv := receiver(d.Recv.List[0].Type); recv != nil && recv.IsExported() {
				out = append(out, recv.Name+"."+d.Name.Name)
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						out = append(out, "type "+s.Name.Name)
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() {
							out = append(out, n.Name)
						}
					}
				}
			}
		}
	}
	return out
}

// receiver returns the name of a method's receiver type, or nil when it is
// not a plain (or generic) named type.
func receiver(t ast.Expr) *ast.Ident {
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	id, _ := t.(*ast.Ident)
	return id
}
