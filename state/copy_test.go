package state

import (
	"fmt"
	"reflect"
	"testing"
)

// deliver and completePublish copy an Out and a PublishResult into their
// effects field by field, and startPublish sets pubScratch so (a copy of
// the whole value is slower there): every field must come through,
// including any added later.
func TestEffectsCopyEveryField(t *testing.T) {
	h := newHarness(t, "n1")
	h.start()
	h.subscribe(1, 10, "a")
	s := h.n.streams[1]

	var o Out
	fillNonZero(t, reflect.ValueOf(&o).Elem())
	h.n.effects = h.n.effects[:0]
	h.n.deliver(s, o)
	if d, ok := h.n.effects[0].(*Deliver); !ok || d.Stream != 1 || d.Out != o {
		t.Fatalf("deliver emitted %#v, want stream 1 and %#v", h.n.effects[0], o)
	}

	p := &pendingPublish{req: 7}
	fillNonZero(t, reflect.ValueOf(&p.result).Elem())
	h.n.effects = h.n.effects[:0]
	h.n.completePublish(p)
	if c, ok := h.n.effects[0].(*CompletePublish); !ok || c.Req != 7 || c.Result != p.result || c.Err != nil {
		t.Fatalf("completePublish emitted %#v, want req 7 and %#v", h.n.effects[0], p.result)
	}

	// startPublish sets every field of the publish it starts.
	if n := reflect.TypeFor[pendingPublish]().NumField(); n != 3 {
		t.Fatalf("pendingPublish has %d fields: set the new ones in startPublish, and here", n)
	}
	h.n.pubScratch = pendingPublish{req: 9, waiting: 3}
	fillNonZero(t, reflect.ValueOf(&h.n.pubScratch.result).Elem())
	h.n.startPublish(5, "id5")
	if want := (pendingPublish{req: 5, result: PublishResult{MessageID: "id5"}}); h.n.pub != &h.n.pubScratch || h.n.pubScratch != want {
		t.Fatalf("startPublish left %+v, want %+v", h.n.pubScratch, want)
	}
	h.n.pub = nil
}

// fillNonZero sets every field of the struct v to a value that is not its
// zero, distinct by field.
func fillNonZero(t *testing.T, v reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(100 + i))
		case reflect.Uint8, reflect.Uint64:
			f.SetUint(uint64(1 + i))
		case reflect.String:
			f.SetString(fmt.Sprint("field", i))
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("%s.%s: fill a %s too", v.Type(), v.Type().Field(i).Name, f.Kind())
		}
		if f.IsZero() {
			t.Fatalf("%s.%s left zero", v.Type(), v.Type().Field(i).Name)
		}
	}
}

// copyTo copies every field of a push (the link fills its queues with it
// rather than with copies of the whole value), over whatever the
// destination held.
func TestOutgoingCopiesEveryField(t *testing.T) {
	if n := reflect.TypeFor[outgoing]().NumField(); n != 6 {
		t.Fatalf("outgoing has %d fields: copy the new ones in copyTo, and set them here", n)
	}
	o := outgoing{m: &Message{}, prev: 7, chained: true, syncOnly: true, cost: 9, groups: []string{"g"}}
	for _, dst := range []outgoing{{}, {m: &Message{}, prev: 1, cost: 2, groups: []string{"stale", "x"}}} {
		o.copyTo(&dst)
		if !reflect.DeepEqual(dst, o) || dst.m != o.m {
			t.Fatalf("copied %+v, want %+v", dst, o)
		}
	}
}
