//go:build nexusd_bypass

package packed

// This file is built only with the nexusd_bypass tag, for the daemon that
// measures what its I/O path costs without the node (netshell/bypass.go).

// BypassRun returns the frame's records as they are, and whether they can
// be sent on as they are in a frame with BypassHeader: one topic, no
// source table, and every record plain (no flag set).
func (d *Decoder) BypassRun() ([]byte, bool) {
	if len(d.topics) != 1 || len(d.sources) != 0 {
		return nil, false
	}
	for i, p := 0, d.recStart; i < d.count; i++ {
		l, q := readUvarint(d.frame, p)
		if q <= p || d.frame[q] != 0 {
			return nil, false
		}
		p = q + int(l)
	}
	return d.frame[d.recStart:], true
}

// BypassHeader appends the header of a frame of count plain records on
// topic from one numbered source.
func BypassHeader(dst []byte, count int, ts uint64, source string, epoch, number uint64, topic string, seq uint64) []byte {
	h := append(dst, Version)
	h = appendUvarint(h, uint64(count))
	h = appendUvarint(h, zigzag(ts))
	h = appendUvarint(h, 1)
	h = appendUvarint(h, uint64(len(source)))
	h = append(h, source...)
	h = appendUvarint(h, epoch)
	h = appendUvarint(h, number)
	h = appendUvarint(h, 1)
	h = appendUvarint(h, uint64(len(topic)))
	h = append(h, topic...)
	h = appendUvarint(h, seq)
	return h
}
