package state

// Extras are the fields of an Envelope that most messages leave unset.
// They live apart, behind one pointer, so that the common message is
// smaller: every message the node holds is allocated, cleared, scanned by
// the collector and walked by the replay buffer, and a smaller one costs
// less at each (BenchmarkPublishRun).
//
// An Extras is never changed once an envelope points to it: copies of an
// envelope share it, so a writer takes its own copy first (Envelope.Edit).
type Extras struct {
	ContentType string
	Correlation string
	ReplyTo     string   // where a reply goes (an inbox topic, inbox.go); "" = none
	QueueGroups []string // the queue groups the source chose this receiver for (groups.go)
	DroppedFrom uint64   // the source dropped every number from this to PrevSeq it routed here, and holds none: lost; 0 = no claim
}

// ExtrasOf is x to point an envelope to: nil when x sets nothing.
func ExtrasOf(x Extras) *Extras {
	if x.ContentType == "" && x.Correlation == "" && x.ReplyTo == "" && len(x.QueueGroups) == 0 && x.DroppedFrom == 0 {
		return nil
	}
	p := new(Extras) // (not &x: x would be moved to the heap on every call)
	*p = x
	return p
}

// Texts are x's content type, correlation id and reply-to; none for nil.
func (x *Extras) Texts() (contentType, correlation, replyTo string) {
	if x == nil {
		return "", "", ""
	}
	return x.ContentType, x.Correlation, x.ReplyTo
}

// textBytes is the length of x's texts, which a held message is charged
// for beside its payload and topic (memory.go); 0 for nil.
func (x *Extras) textBytes() int {
	if x == nil {
		return 0
	}
	return len(x.ContentType) + len(x.Correlation) + len(x.ReplyTo)
}

// meshOnly reports whether x sets a field only the mesh may set: a
// publish carries neither queue groups nor a dropped-from claim.
func (x *Extras) meshOnly() bool {
	return x != nil && (len(x.QueueGroups) > 0 || x.DroppedFrom != 0)
}

// Edit points e to a copy of its extras (empty when it has none) and
// returns the copy to write to: an envelope's extras may be shared.
func (e *Envelope) Edit() *Extras {
	x := new(Extras)
	if e.Extras != nil {
		*x = *e.Extras
	}
	e.Extras = x
	return x
}

// ContentType is the publisher's content type; "" = none.
func (e *Envelope) ContentType() string {
	if e.Extras == nil {
		return ""
	}
	return e.Extras.ContentType
}

// Correlation is the publisher's correlation id; "" = none.
func (e *Envelope) Correlation() string {
	if e.Extras == nil {
		return ""
	}
	return e.Extras.Correlation
}

// ReplyTo is where a reply goes (an inbox topic, inbox.go); "" = none.
func (e *Envelope) ReplyTo() string {
	if e.Extras == nil {
		return ""
	}
	return e.Extras.ReplyTo
}

// QueueGroups are the queue groups the source chose this receiver for
// (groups.go); the caller must not change them.
func (e *Envelope) QueueGroups() []string {
	if e.Extras == nil {
		return nil
	}
	return e.Extras.QueueGroups
}

// DroppedFrom: the source dropped every number from this to PrevSeq it
// routed here, and holds none: lost; 0 = no claim.
func (e *Envelope) DroppedFrom() uint64 {
	if e.Extras == nil {
		return 0
	}
	return e.Extras.DroppedFrom
}
