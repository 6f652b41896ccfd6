package fuzz

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nexusd/nexusd/state"
)

// FuzzTopic: validation never panics, accepts only what docs/protocol.md
// §4.1 allows, and an accepted topic matches itself and '#' and nothing
// with a bad level count.
func FuzzTopic(f *testing.F) {
	for _, s := range []string{"a", "a/b/c", "", "/", "a//b", "a/+", "#", "a/#/b", "\x00", "\xff", strings.Repeat("a/", 20)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		err := state.ValidateTopic(topic, 256, 16)
		if err != nil {
			if state.CodeOf(err) != state.Invalid {
				t.Fatalf("refusal %v has code %v, want invalid", err, state.CodeOf(err))
			}
			return
		}
		switch {
		case len(topic) == 0 || len(topic) > 256:
			t.Fatalf("accepted %d bytes", len(topic))
		case !utf8.ValidString(topic):
			t.Fatalf("accepted invalid UTF-8 %q", topic)
		case strings.ContainsAny(topic, "+#"):
			t.Fatalf("accepted a wildcard in a publish topic %q", topic)
		case strings.Count(topic, "/") >= 16:
			t.Fatalf("accepted %d levels", strings.Count(topic, "/")+1)
		}
		for _, c := range []byte(topic) {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("accepted control byte %#x", c)
			}
		}
		if !state.Match(topic, topic) || !state.Match("#", topic) {
			t.Fatalf("%q does not match itself or #", topic)
		}
	})
}

// FuzzPatternMatch: for any valid pattern and topic, matching agrees with
// a level-by-level reading of the MQTT rules.
func FuzzPatternMatch(f *testing.F) {
	for _, c := range [][2]string{{"a/+", "a/b"}, {"a/#", "a"}, {"+/+", "/"}, {"#", ""}, {"a/+/c", "a/b/c/d"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		if state.ValidatePattern(pattern, 256, 16) != nil || state.ValidateTopic(topic, 256, 16) != nil {
			return
		}
		if got, want := state.Match(pattern, topic), reference(pattern, topic); got != want {
			t.Fatalf("Match(%q, %q) = %v, want %v", pattern, topic, got, want)
		}
	})
}

func reference(pattern, topic string) bool {
	p, t := strings.Split(pattern, "/"), strings.Split(topic, "/")
	for i, level := range p {
		if level == "#" {
			return true
		}
		if i >= len(t) || (level != "+" && level != t[i]) {
			return false
		}
	}
	return len(p) == len(t)
}
