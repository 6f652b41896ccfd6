package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// splitLine splits a prompt line into words as a shell would: spaces
// separate, single quotes keep everything, double quotes keep spaces and
// take \" and \\, a backslash outside quotes escapes the next character.
func splitLine(line string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // a word is under way (so "" is a word)
		quote rune
	)
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch {
			case r == '"':
				quote = 0
			case r == '\\' && i+1 < len(rs) && (rs[i+1] == '"' || rs[i+1] == '\\'):
				i++
				cur.WriteRune(rs[i])
			default:
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			cur.WriteRune(rs[i])
			in = true
		case r == ' ' || r == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced %c quote", quote)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

// optKind is what an option of a command takes.
type optKind int

const (
	optBool     optKind = iota // --retain
	optString                  // --type text/plain
	optInt                     // --count 5
	optDuration                // --timeout 2s (a bare number is seconds)
)

// opts are a command's options, as given.
type opts map[string]string

// parseOpts takes a command's --options (anywhere, as --name value or
// --name=value; "--" ends them) and returns the other words in order.
func parseOpts(args []string, spec map[string]optKind) ([]string, opts, error) {
	var pos []string
	o := opts{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "--") || len(a) == 2 {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(a[2:], "=")
		name = strings.ToLower(name)
		kind, ok := spec[name]
		if !ok {
			return nil, nil, fmt.Errorf("unknown option --%s%s", name, known(spec))
		}
		if kind == optBool {
			if hasValue {
				return nil, nil, fmt.Errorf("--%s takes no value", name)
			}
			o[name] = "true"
			continue
		}
		if !hasValue {
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("--%s needs a value", name)
			}
			i++
			value = args[i]
		}
		switch kind {
		case optInt:
			if n, err := strconv.Atoi(value); err != nil || n < 0 {
				return nil, nil, fmt.Errorf("--%s %q: want a whole number, 0 or more", name, value)
			}
		case optDuration:
			if _, err := parseDuration(value); err != nil {
				return nil, nil, fmt.Errorf("--%s %q: %v", name, value, err)
			}
		}
		o[name] = value
	}
	return pos, o, nil
}

func known(spec map[string]optKind) string {
	if len(spec) == 0 {
		return ": this command takes none"
	}
	names := make([]string, 0, len(spec))
	for n := range spec {
		names = append(names, "--"+n)
	}
	sortStrings(names)
	return " (it takes " + strings.Join(names, ", ") + ")"
}

func (o opts) has(name string) bool { return o[name] != "" }

func (o opts) str(name string) string { return o[name] }

func (o opts) int(name string, def int) int {
	if v, ok := o[name]; ok {
		n, _ := strconv.Atoi(v)
		return n
	}
	return def
}

func (o opts) duration(name string, def time.Duration) time.Duration {
	if v, ok := o[name]; ok {
		d, _ := parseDuration(v)
		return d
	}
	return def
}

// parseDuration reads 2s, 1500ms, 1m, or a bare number of seconds.
func parseDuration(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, errors.New("want 0 or more")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("want a duration such as 2s, 1500ms or 1m")
	}
	return d, nil
}

// parseMillis reads a TTL: a whole number of milliseconds, or a duration.
func parseMillis(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Millisecond, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: want milliseconds, or a duration such as 30s", s)
	}
	return d, nil
}
