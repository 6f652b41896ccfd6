package packed

// IDSplitter tells whether a message id is the one derived from its source
// at epoch 0, and if so which number it carries, so an encoder can send the
// number (usually as nothing) in place of the 36-character string. It
// remembers the prefixes of the last few sources it saw; the zero value is
// ready to use. It is not safe for concurrent use.
type IDSplitter struct {
	entries [splitterEntries]splitEntry
	next    int
}

const splitterEntries = 8

type splitEntry struct {
	source string
	text   [23]byte // the rendered id up to and including the 4th group: 8-4-4-4
}

// Split returns the number n with id == DeriveID(source, 0, n), and true;
// or 0 and false when id is not derived from source at epoch 0 (a message
// first named by a v1 peer, or by another epoch).
func (s *IDSplitter) Split(source, id string) (uint64, bool) {
	if len(id) != 36 || source == "" || id[23] != '-' {
		return 0, false
	}
	e := s.entry(source)
	if id[:23] != string(e.text[:]) {
		return 0, false
	}
	n, ok := IDNumber(id)
	if !ok || n == 0 {
		return 0, false
	}
	return n, true
}

// IDNumber reads the number a 36-character id ends with, its last 12
// lowercase hex digits (the low 48 bits, as ID.AppendString renders
// them), and reports whether id has that shape. Any id of that shape has
// one, a random UUID's random; only Split tells whether it was derived.
func IDNumber(id string) (uint64, bool) {
	if len(id) != 36 || id[23] != '-' {
		return 0, false
	}
	var n uint64
	for i := 24; i < 36; i++ {
		c := id[i]
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

func (s *IDSplitter) entry(source string) *splitEntry {
	for i := range s.entries {
		if e := &s.entries[i]; e.source == source {
			return e
		}
	}
	e := &s.entries[s.next]
	s.next = (s.next + 1) % splitterEntries
	e.source = source
	var b [36]byte
	IDFromPrefix(IDPrefix(source, 0), 0).AppendString(b[:0])
	copy(e.text[:], b[:23])
	return e
}
