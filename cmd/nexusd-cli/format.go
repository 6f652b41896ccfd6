package main

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nexusd/nexusd/client"
)

// printable reports whether a payload reads as text: valid UTF-8 with no
// control characters but tab.
func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if unicode.IsControl(r) && r != '\t' {
			return false
		}
	}
	return true
}

// showPayload is a payload for a terminal: text as is, anything else
// quoted with escapes.
func showPayload(b []byte) string {
	if printable(b) {
		return string(b)
	}
	return strconv.Quote(string(b))
}

// preview is at most n runes of a payload for a table.
func preview(b []byte, n int) string {
	s := showPayload(b)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// messageJSON is a message as --json prints it: the wire contract's
// Message fields, and the payload as text (payload) or, when it is not
// text, base64 (payload_base64).
type messageJSON struct {
	MessageID      string `json:"message_id"`
	Topic          string `json:"topic"`
	Payload        string `json:"payload,omitempty"`
	PayloadBase64  string `json:"payload_base64,omitempty"`
	ContentType    string `json:"content_type"`
	TimestampMs    int64  `json:"timestamp_ms"`
	SourceNodeID   string `json:"source_node_id"`
	CorrelationID  string `json:"correlation_id"`
	ReplyTo        string `json:"reply_to,omitempty"`
	SequenceNumber int64  `json:"sequence_number"`
	Kind           string `json:"kind"` // live, retained or replayed
}

func toJSON(m *client.Message) messageJSON {
	j := messageJSON{MessageID: m.ID, Topic: m.Topic, ContentType: m.ContentType, TimestampMs: m.Timestamp.UnixMilli(),
		SourceNodeID: m.Source, CorrelationID: m.CorrelationID, ReplyTo: m.ReplyTo, SequenceNumber: m.Sequence, Kind: m.Kind.String()}
	if utf8.Valid(m.Payload) {
		j.Payload = string(m.Payload)
	} else {
		j.PayloadBase64 = base64.StdEncoding.EncodeToString(m.Payload)
	}
	return j
}

// ago says how long since t, to a tenth of a second.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < 0:
		return "now"
	case d < time.Minute:
		return fmt.Sprintf("%.1fs ago", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds ago", int(d.Minutes()), int(d.Seconds())%60)
	}
	return d.Round(time.Minute).String() + " ago"
}

// human writes a byte count in binary units.
func human(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f%s", n, units[i])
	}
	return fmt.Sprintf("%.1f%s", n, units[i])
}

// uptime writes seconds as 2d 3h 4m 5s.
func uptime(sec float64) string {
	s := int64(sec)
	d, h, m := s/86400, s%86400/3600, s%3600/60
	switch {
	case d > 0:
		return fmt.Sprintf("%dd %dh %dm %ds", d, h, m, s%60)
	case h > 0:
		return fmt.Sprintf("%dh %dm %ds", h, m, s%60)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s%60)
	}
	return fmt.Sprintf("%ds", s%60)
}

// short is the first 8 characters of an id.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
