package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/nexusd/nexusd"

// Only the shell, the client library and the fuzz targets speak proto; the
// core, the simulator and the mains see the core's own types. The
// end-to-end tests talk to real daemons over the wire, as any application
// generated from the .proto files would.
var mayImportProto = []string{"netshell", "client", "fuzz", "proto", "e2e"}

func TestOnlyShellAndClientImportGeneratedProto(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if path != root && strings.HasPrefix(d.Name(), ".") || rel == "bench" || d.Name() == "testdata" {
				return filepath.SkipDir // hidden folders; bench is its own module
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		top := strings.Split(filepath.ToSlash(rel), "/")[0]
		for _, ok := range mayImportProto {
			if top == ok {
				return nil
			}
		}
		checked++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module+"/proto/") {
				t.Errorf("%s imports %s: only %v may use generated proto types", rel, p, mayImportProto)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked == 0 {
		t.Fatal("no Go files checked: is the test running from internal/archtest?")
	}
}
