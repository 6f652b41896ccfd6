package state

import (
	"strings"
	"unicode/utf8"
)

// ValidateTopic checks a concrete topic, the kind a message is published to:
// UTF-8, 1..maxBytes bytes, at most maxLevels levels separated by '/', no
// NUL or control characters, and no wildcard.
func ValidateTopic(topic string, maxBytes, maxLevels int) error {
	return validate(topic, maxBytes, maxLevels, false)
}

// ValidatePattern checks a subscription pattern: a topic whose levels may be
// '+' (exactly one level) or, as the last level only, '#' (any number of
// remaining levels, zero included).
func ValidatePattern(pattern string, maxBytes, maxLevels int) error {
	return validate(pattern, maxBytes, maxLevels, true)
}

func validate(t string, maxBytes, maxLevels int, wildcards bool) error {
	what := "topic"
	if wildcards {
		what = "pattern"
	}
	if len(t) == 0 {
		return errorf(Invalid, "%s is empty: give 1 to %d bytes", what, maxBytes)
	}
	if len(t) > maxBytes {
		return errorf(Invalid, "%s %.40q... is %d bytes: the limit is %d", what, t, len(t), maxBytes)
	}
	if !utf8.ValidString(t) {
		return errorf(Invalid, "%s %q is not valid UTF-8", what, t)
	}
	levels := 1
	start := 0
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c < 0x20 || c == 0x7f {
			return errorf(Invalid, "%s %q contains control character 0x%02x at byte %d", what, t, c, i)
		}
		if c == 0xc2 && t[i+1] < 0xa0 { // U+0080..U+009F, the C1 controls (valid UTF-8: t[i+1] exists)
			return errorf(Invalid, "%s %q contains control character U+%04X at byte %d", what, t, t[i+1], i)
		}
		if c == '/' {
			if err := checkLevel(t, t[start:i], false, wildcards, what); err != nil {
				return err
			}
			levels++
			start = i + 1
		}
	}
	if levels > maxLevels {
		return errorf(Invalid, "%s %q has %d levels: the limit is %d", what, t, levels, maxLevels)
	}
	return checkLevel(t, t[start:], true, wildcards, what)
}

func checkLevel(t, level string, last, wildcards bool, what string) error {
	if !strings.ContainsAny(level, "+#") {
		return nil
	}
	if !wildcards {
		return errorf(Invalid, "topic %q: wildcards (+ and #) are only allowed in subscriptions", t)
	}
	switch {
	case level == "+":
		return nil
	case level == "#" && last:
		return nil
	case level == "#":
		return errorf(Invalid, "%s %q: '#' must be the last level", what, t)
	}
	return errorf(Invalid, "%s %q: a wildcard must be a whole level, as in a/+/c or a/#", what, t)
}

// IsPattern reports whether s contains a wildcard level.
func IsPattern(s string) bool { return strings.ContainsAny(s, "+#") }

// Match reports whether a valid topic matches a valid pattern. It is the
// reference the trie is tested against, and what paths that match one
// pattern against one topic use.
func Match(pattern, topic string) bool {
	for {
		pl, prest, pmore := cut(pattern)
		if pl == "#" && !pmore {
			return true
		}
		tl, trest, tmore := cut(topic)
		if pl != "+" && pl != tl {
			return false
		}
		if !pmore || !tmore {
			// One ran out. They match only if both did, or the pattern's
			// next and last level is '#' (which matches zero levels).
			if !pmore && !tmore {
				return true
			}
			return pmore && !tmore && prest == "#"
		}
		pattern, topic = prest, trest
	}
}

// cut splits off the first level: cut("a/b/c") = "a", "b/c", true.
func cut(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
