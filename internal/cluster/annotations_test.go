package cluster_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"istio.io/api/annotation"

	"github.com/meshdoctor/meshdoctor/internal/cluster"
)

// readers are the packages that read the inventory (relative to
// internal/cluster).
var readers = []string{"../checks", "../mesh", "../envoyadmin", "../probe", "../report", "../ui", "../serve", "../meshmap", "../ztunnel"}

// istioAnnotations resolves the istio.io/api annotation constants the
// readers index annotations with; a new one must be added here, and is
// then checked like any other key.
var istioAnnotations = map[string]string{
	"TrafficNodeSelector":          annotation.TrafficNodeSelector.Name,
	"TopologyControlPlaneClusters": annotation.TopologyControlPlaneClusters.Name,
}

// TestReadAnnotationsAreKept fails when code that reads the inventory reads
// an annotation the reduction at the edge drops (cluster.KeptAnnotation):
// it parses every non-test file of the readers and resolves the key of
// every x.Annotations[key] (a string literal, a string constant of the
// package, or an istio.io/api annotation). Any other use of .Annotations
// (ranging over it, passing it on) would read what was dropped: it fails
// too, with the place to look at.
func TestReadAnnotationsAreKept(t *testing.T) {
	read := 0
	for _, dir := range readers {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		if _, err := os.Stat(dir); err != nil {
			continue // a reader package that does not exist (yet)
		}
		fset := token.NewFileSet()
		consts := map[string]string{}
		var parsed []*ast.File
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			parsed = append(parsed, af)
			for _, d := range af.Decls {
				gd, ok := d.(*ast.GenDecl)
				if !ok || gd.Tok != token.CONST {
					continue
				}
				for _, sp := range gd.Specs {
					vs := sp.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if i < len(vs.Values) {
							if bl, ok := vs.Values[i].(*ast.BasicLit); ok && bl.Kind == token.STRING {
								consts[n.Name], _ = strconv.Unquote(bl.Value)
							}
						}
					}
				}
			}
		}
		for _, af := range parsed {
			indexed := map[*ast.SelectorExpr]bool{}
			ast.Inspect(af, func(n ast.Node) bool {
				ix, ok := n.(*ast.IndexExpr)
				if !ok {
					return true
				}
				sel, ok := ix.X.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Annotations" {
					return true
				}
				indexed[sel] = true
				key, ok := annotationKey(ix.Index, consts)
				pos := fset.Position(ix.Pos())
				switch {
				case !ok:
					t.Errorf("%s: reads an annotation whose key this test cannot resolve: add it to istioAnnotations or use a constant", pos)
				case !cluster.KeptAnnotation(key):
					t.Errorf("%s: reads annotation %q, which the reduction at the edge drops (cluster.KeptAnnotation)", pos, key)
				default:
					read++
				}
				return true
			})
			ast.Inspect(af, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Annotations" && !indexed[sel] {
					t.Errorf("%s: uses .Annotations other than by key: the reduction keeps only cluster.KeptAnnotation's keys", fset.Position(sel.Pos()))
				}
				return true
			})
		}
	}
	if read == 0 {
		t.Fatal("found no annotation read at all: the test looks in the wrong place")
	}
}

func annotationKey(e ast.Expr, consts map[string]string) (string, bool) {
	switch k := e.(type) {
	case *ast.BasicLit:
		if k.Kind == token.STRING {
			s, err := strconv.Unquote(k.Value)
			return s, err == nil
		}
	case *ast.Ident:
		s, ok := consts[k.Name]
		return s, ok
	case *ast.SelectorExpr: // annotation.X.Name
		if x, ok := k.X.(*ast.SelectorExpr); ok && k.Sel.Name == "Name" {
			if pkg, ok := x.X.(*ast.Ident); ok && pkg.Name == "annotation" {
				s, ok := istioAnnotations[x.Sel.Name]
				return s, ok
			}
		}
	}
	return "", false
}
