package state

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The core must stay a pure value: no I/O, no clock, no goroutines, no
// locks, no randomness of its own, no generated proto types. This test
// reads the package's own source and fails on any of them.

var forbiddenImports = []string{
	"net", "os", "os/", "net/", "sync", "sync/", "syscall", "io/fs", "io/ioutil",
	"math/rand", "math/rand/v2", "crypto/rand", "unsafe", "runtime", "log", "log/slog",
	"google.golang.org/grpc", "google.golang.org/protobuf", "golang.org/x/net",
	"github.com/nexusd/nexusd/proto",
}

var forbiddenCalls = map[string][]string{
	"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker"},
}

func TestCoreStaysPure(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		checked++
		for _, problem := range impurities(t, name) {
			t.Errorf("%s", problem)
		}
	}
	if checked < 10 {
		t.Fatalf("checked only %d files: is the test running in state/?", checked)
	}
}

// TestPurityCheckCatchesViolations proves the check above can fail.
func TestPurityCheckCatchesViolations(t *testing.T) {
	src := `package state
import (
	"os"
	r "math/rand/v2"
	"sync"
	"time"
	pb "github.com/nexusd/nexusd/proto/meshpb"
)
var mu sync.Mutex
func f() { go g(); _ = time.Now(); _ = r.Int(); _ = os.Args; _ = pb.Ack{} }
func g() {}
`
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.go")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(impurities(t, path), "\n")
	for _, want := range []string{`"os"`, `"math/rand/v2"`, `"sync"`, `proto/meshpb`, "time.Now", "go statement"} {
		if !strings.Contains(got, want) {
			t.Errorf("violation %s not reported; got:\n%s", want, got)
		}
	}
}

func impurities(t *testing.T, path string) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	var out []string
	names := map[string]string{} // local name -> import path
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		for _, bad := range forbiddenImports {
			if p == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(p, bad)) || strings.HasPrefix(p, bad+"/") {
				out = append(out, fset.Position(imp.Pos()).String()+": imports "+imp.Path.Value)
				break
			}
		}
		local := p[strings.LastIndex(p, "/")+1:]
		if imp.Name != nil {
			local = imp.Name.Name
		}
		names[local] = p
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			out = append(out, fset.Position(n.Pos()).String()+": go statement")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok {
				for _, fn := range forbiddenCalls[names[id.Name]] {
					if n.Sel.Name == fn {
						out = append(out, fset.Position(n.Pos()).String()+": calls "+names[id.Name]+"."+fn)
					}
				}
			}
		}
		return true
	})
	return out
}
