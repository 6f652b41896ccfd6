package state

import (
	"strings"
	"testing"
)

func TestTopicValidation(t *testing.T) {
	long := strings.Repeat("a", 257)
	deep := strings.Repeat("a/", 16) + "a" // 17 levels
	for _, tc := range []struct {
		topic   string
		topicOK bool // as a publish topic
		pattOK  bool // as a subscription pattern
	}{
		{"a", true, true},
		{"a/b/c", true, true},
		{"a//b", true, true},
		{"/a", true, true},
		{"sensors/température", true, true},
		{strings.Repeat("a", 256), true, true},
		{strings.Repeat("a/", 15) + "a", true, true},
		{"", false, false},
		{long, false, false},
		{deep, false, false},
		{"a\x00b", false, false},
		{"a\nb", false, false},
		{"a\x7fb", false, false},
		{"a\u0085b", false, false}, // C1 controls too
		{"a\u009bb", false, false},
		{"a\u00a0b", true, true}, // but not the printable characters after them
		{"\xff\xfe", false, false},
		{"a/+/c", false, true},
		{"+", false, true},
		{"#", false, true},
		{"a/#", false, true},
		{"+/+/#", false, true},
		{"a/#/c", false, false},
		{"a/b+", false, false},
		{"a/#b", false, false},
		{"a+/b", false, false},
	} {
		err := ValidateTopic(tc.topic, 256, 16)
		if (err == nil) != tc.topicOK {
			t.Errorf("ValidateTopic(%.30q) = %v, want ok=%v", tc.topic, err, tc.topicOK)
		}
		if err != nil && CodeOf(err) != Invalid {
			t.Errorf("ValidateTopic(%.30q) code %v, want invalid", tc.topic, CodeOf(err))
		}
		if err := ValidatePattern(tc.topic, 256, 16); (err == nil) != tc.pattOK {
			t.Errorf("ValidatePattern(%.30q) = %v, want ok=%v", tc.topic, err, tc.pattOK)
		}
	}
}

func TestWildcardPublishErrorSaysWhatToDo(t *testing.T) {
	err := ValidateTopic("a/+/b", 256, 16)
	if err == nil || !strings.Contains(err.Error(), "only allowed in subscriptions") {
		t.Fatalf("got %v", err)
	}
}

func TestMQTTWildcardMatching(t *testing.T) {
	for _, tc := range []struct {
		pattern, topic string
		want           bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+", "a/", true}, // an empty level is a level
		{"+/b", "a/b", true},
		{"+", "a", true},
		{"+", "a/b", false},
		{"#", "a", true},
		{"#", "a/b/c", true},
		{"a/#", "a", true}, // '#' matches zero levels too
		{"a/#", "a/b", true},
		{"a/#", "a/b/c", true},
		{"a/#", "b/a", false},
		{"a/+/#", "a/b", true},
		{"a/+/#", "a", false},
		{"a/+/c", "a/x/c", true},
		{"a/+/c", "a/x/d", false},
		{"+/+", "/", true},
	} {
		if got := Match(tc.pattern, tc.topic); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
		var tr trie[int]
		tr.add(tc.pattern, 1)
		got := false
		tr.match(tc.topic, func(int) { got = true })
		if got != tc.want {
			t.Errorf("trie match(%q, %q) = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestTrieRemovePrunesAndKeepsOthers(t *testing.T) {
	var tr trie[string]
	tr.add("a/+/c", "x")
	tr.add("a/+/c", "y")
	tr.add("a/#", "x")
	tr.add("a/+/c", "x") // again: no-op
	if tr.size != 3 {
		t.Fatalf("size %d, want 3", tr.size)
	}
	tr.remove("a/+/c", "x")
	var got []string
	tr.match("a/b/c", func(h string) { got = append(got, h) })
	if strings.Join(got, ",") != "x,y" { // x via a/#, y via a/+/c
		t.Fatalf("got %v", got)
	}
	tr.remove("a/+/c", "y")
	tr.remove("a/#", "x")
	tr.remove("never/added", "x")
	if !tr.root.empty() || tr.size != 0 {
		t.Fatalf("trie not empty after removing everything: size %d", tr.size)
	}
}
