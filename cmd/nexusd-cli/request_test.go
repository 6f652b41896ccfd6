package main

import (
	"strings"
	"testing"
	"time"
)

// TestRequestAndRespond: RESPOND on one daemon answers what REQUEST asks
// on the other, in text and JSON; a request nobody answers fails at once
// (no responders), and one that is never answered at its timeout.
func TestRequestAndRespond(t *testing.T) {
	p := startPair(t)
	resp := start(t, p.at(p.b, "RESPOND", "time/now", "noon", "--count", "2")...)
	p.waitRoute(t, p.a, "time/now")

	if r := ok(t, p.at(p.a, "REQUEST", "time/now", "what time?", "--timeout", "10s")...); r.stdout != "noon\n" {
		t.Fatalf("REQUEST printed %s", r)
	}
	if l := resp.line(5 * time.Second); l != "time/now [1] what time? -> noon" {
		t.Fatalf("RESPOND printed %q", l)
	}
	var doc messageJSON
	jsonDoc(t, &doc, p.at(p.a, "REQ", "time/now", "again")...)
	if doc.Payload != "noon" || doc.SourceNodeID != p.bID || !strings.HasPrefix(doc.Topic, "_inbox/"+p.aID+"/") || doc.CorrelationID == "" {
		t.Fatalf("REQUEST --json: %+v", doc)
	}
	resp.line(5 * time.Second)
	if code := resp.wait(10 * time.Second); code != 0 {
		t.Fatalf("RESPOND --count 2 exited %d after 2 requests", code)
	}

	r := cli(t, p.at(p.a, "REQUEST", "nobody/here", "?", "--timeout", "30s")...)
	if r.code != 1 || !strings.Contains(r.stdout, `no responders for topic "nobody/here"`) {
		t.Fatalf("REQUEST with no responders: %s", r)
	}
	silent := start(t, p.at(p.a, "SUBSCRIBE", "svc/silent", "--count", "1")...)
	for deadline := time.Now().Add(10 * time.Second); ; { // until the subscription is open
		r = cli(t, p.at(p.a, "REQUEST", "svc/silent", "?", "--timeout", "300ms")...)
		if !strings.Contains(r.stdout, "no responders") || time.Now().After(deadline) {
			break
		}
	}
	if r.code != 1 || !strings.Contains(r.stdout, "timed out after 300ms") {
		t.Fatalf("REQUEST without a reply: %s", r)
	}
	silent.line(5 * time.Second)

	if r := cli(t, p.at(p.a, "RESPOND", "a/#")...); r.code != 1 || !strings.Contains(r.stdout, "usage: RESPOND") {
		t.Fatalf("RESPOND without a reply: %s", r)
	}
}

// TestRespondersInAGroupShareTheRequests: two RESPONDs in one queue group
// on two daemons share the requests, each answered once, turn about once
// both are known; a bad group name is refused naming it.
func TestRespondersInAGroupShareTheRequests(t *testing.T) {
	p := startPair(t)
	start(t, p.at(p.a, "RESPOND", "svc/work", "one", "--group", "workers")...)
	start(t, p.at(p.b, "RESPOND", "svc/work", "two", "--group", "workers")...)
	request := func() string {
		r := cli(t, p.at(p.a, "REQUEST", "svc/work", "job", "--timeout", "10s")...)
		return strings.TrimSpace(r.stdout)
	}
	// Until a's daemon has b's member (gossip), a's own member answers
	// alone, or no one yet.
	for deadline := time.Now().Add(10 * time.Second); request() != "two"; {
		if time.Now().After(deadline) {
			t.Fatal("b's responder never answered: its group membership did not reach a")
		}
	}
	got := map[string]int{}
	for range 4 {
		got[request()]++
	}
	if got["one"] != 2 || got["two"] != 2 {
		t.Fatalf("replies %v: want each responder of the group to answer 2 of 4", got)
	}
	if r := cli(t, p.at(p.a, "RESPOND", "svc/work", "x", "--group", "bad\x01name")...); r.code != 1 || !strings.Contains(r.stdout, "queue_group") {
		t.Fatalf("RESPOND with a bad group: %s", r)
	}
}
