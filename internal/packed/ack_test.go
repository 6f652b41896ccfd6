package packed

import (
	"strings"
	"testing"
)

func TestAckIsCumulativeCredit(t *testing.T) {
	a := Ack{Accepted: 100, Window: 50, Failures: []Failure{{Index: 90, Code: CodeInvalidArgument}, {Index: 99, Code: CodeUnavailable, Retry: true}}}
	if a.Limit() != 150 || a.Room(120) != 30 || a.Room(150) != 0 || a.Room(200) != 0 {
		t.Fatalf("limit %d, room %d %d", a.Limit(), a.Room(120), a.Room(150))
	}
	if err := a.Check(80, 120); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		prev, sent uint64
		a          Ack
		want       string
	}{
		{101, 200, a, "went back"},
		{0, 99, a, "only 99 records were sent"},
		{95, 200, a, "failure 0 has index 90"},
		{0, 200, Ack{Accepted: 10, Failures: []Failure{{Index: 5}, {Index: 5}}}, "failure 1 has index 5"},
		{0, 200, Ack{Accepted: 10, Failures: []Failure{{Index: 10}}}, "failure 0 has index 10"},
	} {
		if err := c.a.Check(c.prev, c.sent); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(%d, %d) = %v, want %q", c.prev, c.sent, err, c.want)
		}
	}
}
