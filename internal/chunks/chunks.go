// Package chunks copies small byte strings many to one allocation, for the
// daemon's readers of received frames and the client's Publisher: a frame
// of small messages then costs a few allocations instead of one a message.
// A chunk lives as long as the longest-kept copy in it, so it is for
// copies that are let go at about the same time; it holds no lock.
package chunks

// Copy returns a copy of b (nil when b is empty) taken from *chunk, which
// it replaces with a new chunk of chunkBytes when b does not fit; a b over
// max bytes gets an allocation of its own. The copy's capacity ends with
// it, so appending to it cannot reach a neighbour.
func Copy(chunk *[]byte, b []byte, chunkBytes, max int) []byte {
	switch {
	case len(b) == 0:
		return nil
	case len(b) > max:
		return append([]byte(nil), b...)
	case len(*chunk)+len(b) > cap(*chunk):
		*chunk = make([]byte, 0, chunkBytes)
	}
	start := len(*chunk)
	*chunk = append(*chunk, b...)
	return (*chunk)[start:len(*chunk):len(*chunk)]
}
