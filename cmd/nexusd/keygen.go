package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/nexusd/nexusd/internal/keyring"
)

// keygen writes a new random cluster key: to stdout, or to a new file
// readable by its owner only (--out FILE). It never overwrites a file: a
// keyring being rotated is edited by hand (README, "Rotating the cluster
// key").
func keygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nexusd keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the key to this new file (mode 0600) instead of stdout")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: nexusd keygen [--out FILE]\n\nPrints a new random cluster key, one keyring line. Give the file to every\ndaemon of the cluster with --cluster-key FILE.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "nexusd keygen: unexpected argument %q (see nexusd keygen --help)\n", fs.Arg(0))
		return 2
	}
	text := "# NexusD cluster keyring: one key a line; the first signs, every one is accepted.\n" + keyring.New() + "\n"
	if *out == "" {
		fmt.Fprint(stdout, text)
		return 0
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "nexusd keygen: --out: %v (it never overwrites a key)\n", err)
		return 1
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		fmt.Fprintf(stderr, "nexusd keygen: --out: %v\n", err)
		return 1
	}
	if err := f.Close(); err != nil {
		fmt.Fprintf(stderr, "nexusd keygen: --out: %v\n", err)
		return 1
	}
	return 0
}
