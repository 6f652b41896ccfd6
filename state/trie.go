package state

// trie maps subscription patterns to their holders and answers "who matches
// this topic" by walking the topic's levels once, so a publish costs the
// depth of the topic, not the number of patterns installed.
//
// Each level of a pattern is a child keyed by its text; '+' and '#' have
// their own slots. A holder is added once per pattern; callers that hold
// several patterns matching one topic see themselves more than once and
// deduplicate.
type trie[T comparable] struct {
	root trieNode[T]
	size int    // (pattern, holder) pairs
	gen  uint64 // moves at every change: a match remembered at another gen is stale
}

type trieNode[T comparable] struct {
	children map[string]*trieNode[T]
	plus     *trieNode[T]
	hash     *trieNode[T]
	holders  []T
}

// add records that h holds pattern; adding the same pair twice is a no-op.
func (t *trie[T]) add(pattern string, h T) {
	n := &t.root
	rest, more := pattern, true
	for more {
		var level string
		level, rest, more = cut(rest)
		n = n.child(level)
	}
	for _, x := range n.holders {
		if x == h {
			return
		}
	}
	n.holders = append(n.holders, h)
	t.size++
	t.gen++
}

func (n *trieNode[T]) child(level string) *trieNode[T] {
	switch level {
	case "+":
		if n.plus == nil {
			n.plus = &trieNode[T]{}
		}
		return n.plus
	case "#":
		if n.hash == nil {
			n.hash = &trieNode[T]{}
		}
		return n.hash
	}
	c := n.children[level]
	if c == nil {
		if n.children == nil {
			n.children = make(map[string]*trieNode[T])
		}
		c = &trieNode[T]{}
		n.children[level] = c
	}
	return c
}

// remove forgets that h holds pattern and prunes nodes left empty.
func (t *trie[T]) remove(pattern string, h T) {
	if t.root.remove(pattern, true, h) {
		t.size--
		t.gen++
	}
}

func (n *trieNode[T]) remove(rest string, more bool, h T) bool {
	if !more {
		for i, x := range n.holders {
			if x == h {
				last := len(n.holders) - 1
				n.holders[i] = n.holders[last]
				var zero T
				n.holders[last] = zero
				n.holders = n.holders[:last]
				return true
			}
		}
		return false
	}
	level, rest, more := cut(rest)
	var c *trieNode[T]
	switch level {
	case "+":
		c = n.plus
	case "#":
		c = n.hash
	default:
		c = n.children[level]
	}
	if c == nil || !c.remove(rest, more, h) {
		return false
	}
	if c.empty() {
		switch level {
		case "+":
			n.plus = nil
		case "#":
			n.hash = nil
		default:
			delete(n.children, level)
		}
	}
	return true
}

func (n *trieNode[T]) empty() bool {
	return len(n.holders) == 0 && len(n.children) == 0 && n.plus == nil && n.hash == nil
}

// match calls visit for every holder of a pattern matching topic.
func (t *trie[T]) match(topic string, visit func(T)) {
	t.root.match(topic, true, visit)
}

func (n *trieNode[T]) match(rest string, more bool, visit func(T)) {
	if n.hash != nil { // '#' matches whatever is left, nothing included
		for _, h := range n.hash.holders {
			visit(h)
		}
	}
	if !more {
		for _, h := range n.holders {
			visit(h)
		}
		return
	}
	level, rest, more := cut(rest)
	if c := n.children[level]; c != nil {
		c.match(rest, more, visit)
	}
	if n.plus != nil {
		n.plus.match(rest, more, visit)
	}
}
