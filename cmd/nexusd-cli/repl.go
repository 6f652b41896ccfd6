package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/chzyer/readline"
)

// interrupts routes Ctrl-C (SIGINT) to the command that runs, if any;
// between commands it does nothing (the prompt reads ^C as a key).
type interrupts struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	sigs   chan os.Signal
	done   chan struct{}
}

func catchInterrupts() *interrupts {
	in := &interrupts{sigs: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(in.sigs, os.Interrupt)
	go func() {
		defer close(in.done)
		for range in.sigs {
			in.mu.Lock()
			if in.cancel != nil {
				in.cancel()
			}
			in.mu.Unlock()
		}
	}()
	return in
}

// command returns a context that Ctrl-C ends, and its release.
func (in *interrupts) command() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	in.mu.Lock()
	in.cancel = cancel
	in.mu.Unlock()
	return ctx, func() {
		in.mu.Lock()
		in.cancel = nil
		in.mu.Unlock()
		cancel()
	}
}

func (in *interrupts) stop() {
	signal.Stop(in.sigs)
	close(in.sigs)
	<-in.done
}

// prompt is "host:port> " while connected, "not connected> " otherwise,
// as redis-cli has it.
func (s *session) prompt() string {
	if s.connected() {
		return s.address() + "> "
	}
	return "not connected> "
}

// repl runs the interactive prompt: history (in ~/.nexusd_cli_history,
// or $NEXUSD_CLI_HISTORY; "off" keeps none), tab completion of commands,
// subcommands and options, Ctrl-C to end a running command, Ctrl-D or
// QUIT to leave.
func (s *session) repl(stdin io.ReadCloser) int {
	s.interactive, s.tty = true, true
	ints := catchInterrupts()
	defer ints.stop()
	ctx, release := ints.command()
	if _, err := s.client(ctx); err != nil {
		fmt.Fprintf(s.errw, "%s\n", firstLine(err))
	}
	release()
	rl, err := readline.NewEx(&readline.Config{
		Prompt:            s.prompt(),
		HistoryFile:       historyFile(),
		HistorySearchFold: true,
		AutoComplete:      completer{},
		InterruptPrompt:   "^C",
		Stdin:             stdin,
		Stdout:            s.out,
		Stderr:            s.errw,
	})
	if err != nil {
		fmt.Fprintf(s.errw, "nexusd-cli: %v\n", err)
		return 1
	}
	defer rl.Close()
	fmt.Fprintln(s.errw, "nexusd-cli: type HELP for the commands, QUIT or Ctrl-D to leave.")
	for {
		rl.SetPrompt(s.prompt())
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			if line == "" {
				fmt.Fprintln(s.errw, "(QUIT or Ctrl-D to leave)")
			}
			continue
		}
		if err != nil {
			return 0 // end of input
		}
		if s.runLine(ints, line) {
			return 0
		}
	}
}

// script runs commands read line by line from a pipe or file, without a
// prompt; it exits 1 if any failed.
func (s *session) script(in io.Reader) int {
	s.interactive = true // QUIT ends it; no stdin for PUBLISH -
	ints := catchInterrupts()
	defer ints.stop()
	status := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		words, err := splitLine(sc.Text())
		if err != nil {
			status = max(status, s.report(fail("%v", err)))
			continue
		}
		if len(words) == 0 {
			continue
		}
		ctx, release := ints.command()
		st, quit := s.runCommand(ctx, words)
		release()
		if quit {
			break
		}
		status = max(status, st)
	}
	return status
}

// runLine runs one prompt line and reports whether to leave.
func (s *session) runLine(ints *interrupts, line string) bool {
	words, err := splitLine(line)
	if err != nil {
		s.report(fail("%v", err))
		return false
	}
	if len(words) == 0 {
		return false
	}
	ctx, release := ints.command()
	_, quit := s.runCommand(ctx, words)
	release()
	return quit
}

func historyFile() string {
	if p, ok := os.LookupEnv("NEXUSD_CLI_HISTORY"); ok {
		if p == "off" {
			return ""
		}
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".nexusd_cli_history")
}

// completer completes command names and aliases, subcommands and --options,
// in the case the user typed (lower case if the word so far has no upper
// case letter).
type completer struct{}

func (completer) Do(line []rune, pos int) ([][]rune, int) {
	text := string(line[:pos])
	words := strings.Fields(text)
	cur := ""
	if len(words) > 0 && !strings.HasSuffix(text, " ") && !strings.HasSuffix(text, "\t") {
		cur, words = words[len(words)-1], words[:len(words)-1]
	}
	var cands []string
	switch {
	case len(words) == 0:
		for _, c := range commands {
			cands = append(cands, c.name)
			cands = append(cands, c.aliases...)
		}
	case strings.HasPrefix(cur, "-"):
		if c := lookup(words[0]); c != nil {
			for o := range c.options {
				cands = append(cands, "--"+o)
			}
		}
	case len(words) == 1:
		if c := lookup(words[0]); c != nil {
			cands = c.subs
		}
	}
	slices.Sort(cands)
	lower := cur != "" && cur == strings.ToLower(cur)
	var out [][]rune
	for _, c := range cands {
		if c == "?" && cur == "" {
			continue
		}
		if !strings.HasPrefix(strings.ToUpper(c), strings.ToUpper(cur)) {
			continue
		}
		if lower {
			c = strings.ToLower(c)
		}
		out = append(out, []rune(c[len(cur):]+" "))
	}
	return out, len([]rune(cur))
}

func firstLine(err error) string {
	msg, _ := describe(err)
	return strings.SplitN(msg, "\n", 2)[0]
}
