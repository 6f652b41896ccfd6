package keyring

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseTakesThePrimaryFirstAndSkipsComments(t *testing.T) {
	a, b := New(), New()
	r, err := Parse([]byte("# rotation in progress\n\n" + a + "\n  " + b + "  \n"))
	if err != nil {
		t.Fatal(err)
	}
	ka, _ := Parse([]byte(a))
	if len(r.Keys()) != 2 || r.Primary().ID != ka.Primary().ID {
		t.Fatalf("keys %v, want 2 with %x first", r.Keys(), ka.Primary().ID)
	}
	if _, ok := r.Find(r.Keys()[1].ID); !ok {
		t.Fatal("the second key is not found by its id")
	}
	if _, ok := r.Find(r.Primary().ID + 1); ok {
		t.Fatal("found a key the ring does not hold")
	}
}

func TestParseRefusesBadKeysNamingTheLine(t *testing.T) {
	short := "c2hvcnQ=" // "short"
	for _, c := range []struct{ text, want string }{
		{"", "no key"},
		{"# only a comment\n", "no key"},
		{"not base64!!\n", "line 1: not a base64 key"},
		{New() + "\n" + short, "line 2: a key is 32 bytes, this one 5"},
		{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "all-zero"},
	} {
		_, err := Parse([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error with %q", c.text, err, c.want)
		}
	}
	k := New()
	if _, err := Parse([]byte(k + "\n" + k)); err == nil || !strings.Contains(err.Error(), "line 2: the same key twice") {
		t.Errorf("a repeated key: %v", err)
	}
}

func TestDerivedSecretsDifferByPurposeAndKey(t *testing.T) {
	r, _ := Parse([]byte(New() + "\n" + New()))
	k1, k2 := r.Keys()[0], r.Keys()[1]
	if bytes.Equal(k1.Derive("a", 32), k1.Derive("b", 32)) || bytes.Equal(k1.Derive("a", 32), k2.Derive("a", 32)) {
		t.Fatal("derived secrets collide")
	}
	if !bytes.Equal(k1.Derive("a", 32), k1.Derive("a", 32)) {
		t.Fatal("derivation is not deterministic")
	}
	if k1.MAC("beacon", []byte("x")) == k2.MAC("beacon", []byte("x")) || k1.MAC("beacon", []byte("x")) != k1.MAC("beacon", []byte("x")) {
		t.Fatal("MAC does not depend on the key alone")
	}
}

func TestLoadRefusesAKeyOthersCanRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte(New()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key loaded: %v", err)
	}
	for _, mode := range []os.FileMode{0o600, 0o640, 0o400} {
		os.Chmod(path, mode)
		if _, err := Load(path); err != nil {
			t.Fatalf("mode %#o: %v", mode, err)
		}
	}
}
