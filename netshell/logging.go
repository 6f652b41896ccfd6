package netshell

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Log levels beyond slog's four: TRACE logs every event and effect of the
// loop in its one-line text form; FATAL is for the reason the daemon stops.
const (
	LevelTrace = slog.LevelDebug - 4
	LevelFatal = slog.LevelError + 4
)

// ParseLevel reads TRACE, DEBUG, INFO, WARN (or WARNING), ERROR or FATAL, in
// any case.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToUpper(s) {
	case "TRACE":
		return LevelTrace, nil
	case "DEBUG":
		return slog.LevelDebug, nil
	case "INFO":
		return slog.LevelInfo, nil
	case "WARN", "WARNING":
		return slog.LevelWarn, nil
	case "ERROR":
		return slog.LevelError, nil
	case "FATAL":
		return LevelFatal, nil
	}
	return slog.LevelInfo, fmt.Errorf("log level %q: want TRACE, DEBUG, INFO, WARN, ERROR or FATAL", s)
}

// NewLogger returns a structured logger writing text or json to w at level.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	o := &slog.HandlerOptions{Level: level, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.LevelKey {
			if l, ok := a.Value.Any().(slog.Level); ok {
				a.Value = slog.StringValue(levelName(l))
			}
		}
		return a
	}}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "TRACE"
	case l >= LevelFatal:
		return "FATAL"
	}
	return l.String()
}
