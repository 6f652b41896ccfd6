package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nexusd/nexusd/client"
)

// config is what the global flags set.
type config struct {
	host, token, admin   string
	port                 int
	json                 bool
	timeout              time.Duration // bound of one request-reply command
	connectTimeout       time.Duration
	discoverTimeout      time.Duration // how long -n and CONNECT -n listen
	mcastAddr, mcastIfce string
	mcastPort            int
	cluster              string
	socket               string // the daemon's --app-socket; "" = host and port
	useTLS               bool
	tls                  client.TLSFiles
}

// session is one run of the CLI: its connection and its output. In the
// interactive mode it outlives commands; CONNECT changes its daemon.
type session struct {
	cfg         config
	in          io.Reader // for PUBLISH topic - (single-command mode)
	out, errw   io.Writer
	interactive bool
	tty         bool // the prompt runs on a terminal (which echoes ^C)

	mu        sync.Mutex
	addr      string         // the daemon's sidecar, host:port
	c         *client.Client // nil until a command needs it
	streaming bool           // a streaming command prints connection news
}

func newSession(cfg config, out, errw io.Writer) *session {
	return &session{cfg: cfg, out: out, errw: errw, addr: daemonAddr(cfg)}
}

// daemonAddr is the sidecar address the flags give: unix:///path for a
// socket (-s, or -h unix:///path), host:port otherwise.
func daemonAddr(cfg config) string {
	switch {
	case cfg.socket != "":
		return socketAddr(cfg.socket)
	case strings.HasPrefix(cfg.host, "unix:"):
		return cfg.host
	}
	return net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port))
}

// socketAddr is the client's address of a socket path.
func socketAddr(path string) string {
	if filepath.IsAbs(path) {
		return "unix://" + path
	}
	return "unix:" + path
}

// client is the connection, made on first use.
func (s *session) client(ctx context.Context) (*client.Client, error) {
	s.mu.Lock()
	c, addr := s.c, s.addr
	s.mu.Unlock()
	if c != nil && c.State() != client.StateFailed && c.State() != client.StateClosed {
		return c, nil
	}
	c, err := s.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	old := s.c
	s.c = c
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return c, nil
}

// dial connects to addr with the session's settings.
func (s *session) dial(ctx context.Context, addr string) (*client.Client, error) {
	opts := []client.Option{
		client.WithDialTimeout(s.cfg.connectTimeout),
		client.WithFailFast(), // a port that refuses is said at once, not after --connect-timeout
		client.WithClientID("nexusd-cli"),
		client.WithStateHandler(s.stateNews),
		client.WithGapHandler(func(g client.Gap) { s.news("(gap) %s", g) }),
		client.WithBackpressureHandler(func(w client.BackpressureWarning) {
			s.news("(warning) the daemon lost %d messages of this subscription (%s): %d dropped, %d expired, %d lost in the mesh",
				w.Dropped+w.Expired+w.Lost, w.Reason, w.Dropped, w.Expired, w.Lost)
		}),
	}
	if s.cfg.token != "" {
		opts = append(opts, client.WithToken(s.cfg.token))
	}
	if s.cfg.useTLS {
		opts = append(opts, client.WithTLSFiles(s.cfg.tls))
	}
	dctx, cancel := context.WithTimeout(ctx, s.cfg.connectTimeout)
	defer cancel()
	return client.Dial(dctx, addr, opts...)
}

// connectTo makes addr the session's daemon.
func (s *session) connectTo(ctx context.Context, addr string) (*client.Client, error) {
	c, err := s.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	old := s.c
	s.c, s.addr = c, addr
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return c, nil
}

func (s *session) address() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// connected reports whether a connection is up, for the prompt.
func (s *session) connected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c != nil && s.c.State() == client.StateConnected
}

func (s *session) close() {
	s.mu.Lock()
	c := s.c
	s.c = nil
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// stateNews tells a streaming command's user about the connection.
func (s *session) stateNews(ch client.StateChange) {
	switch ch.To {
	case client.StateDisconnected:
		s.news("(disconnected) lost the connection to %s; reconnecting", s.address())
	case client.StateReconnecting:
		if ch.Attempt == 1 || ch.Attempt%10 == 0 {
			s.news("(reconnecting) attempt %d to %s", ch.Attempt, s.address())
		}
	case client.StateConnected:
		if ch.From != client.StateConnecting {
			s.news("(reconnected) to %s", s.address())
		}
	case client.StateFailed:
		s.news("(failed) gave up reconnecting to %s: %v", s.address(), ch.Err)
	}
}

// news writes a notice to stderr while a streaming command runs.
func (s *session) news(format string, args ...any) {
	s.mu.Lock()
	on := s.streaming
	s.mu.Unlock()
	if on {
		fmt.Fprintf(s.errw, format+"\n", args...)
	}
}

func (s *session) setStreaming(on bool) {
	s.mu.Lock()
	s.streaming = on
	s.mu.Unlock()
}

// emit writes a command's result: v as one JSON document with --json,
// text otherwise.
func (s *session) emit(v any, text func(w io.Writer)) error {
	if s.cfg.json {
		return s.emitJSON(v)
	}
	text(s.out)
	return nil
}

func (s *session) emitJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = s.out.Write(b)
	return err
}

// exitError is a command that failed: its message is printed as
// "(error) ...", and the CLI exits 1.
type exitError struct {
	msg  string
	code string // gRPC code name, or a word for the CLI's own errors
}

func (e *exitError) Error() string { return e.msg }

// fail is a command's own error.
func fail(format string, args ...any) error {
	return &exitError{msg: fmt.Sprintf(format, args...), code: "INVALID_ARGUMENT"}
}

// report prints err the CLI's way: "(error) ..." (or a JSON object with
// --json), and returns the exit status.
func (s *session) report(err error) int {
	if err == nil {
		return 0
	}
	msg, code := describe(err)
	if s.cfg.json {
		_ = s.emitJSON(map[string]string{"error": msg, "code": code})
	} else {
		fmt.Fprintf(s.out, "(error) %s\n", msg)
	}
	return 1
}

// describe is an error's message and code name for the user.
func describe(err error) (msg, code string) {
	var xe *exitError
	if errors.As(err, &xe) {
		return xe.msg, xe.code
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		st := ce.GRPCStatus()
		kind := ""
		switch {
		case errors.Is(err, client.ErrInvalidTopic):
			kind = "invalid topic: "
		case errors.Is(err, client.ErrNotFound):
			kind = "not found: "
		case errors.Is(err, client.ErrUnauthenticated):
			kind = "unauthenticated: "
		case errors.Is(err, client.ErrLimit):
			kind = "limit: "
		case errors.Is(err, client.ErrUnavailable):
			kind = "unavailable: "
		case errors.Is(err, context.DeadlineExceeded):
			return "timed out: the daemon did not answer in time (see --timeout)", "DEADLINE_EXCEEDED"
		}
		return kind + st.Message(), codeName(st.Code().String())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timed out", "DEADLINE_EXCEEDED"
	}
	return err.Error(), "UNKNOWN"
}

// codeName spells a gRPC code as the wire contract does: INVALID_ARGUMENT.
func codeName(c string) string {
	var out []byte
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if ch >= 'A' && ch <= 'Z' && i > 0 && c[i-1] >= 'a' && c[i-1] <= 'z' {
			out = append(out, '_')
		}
		if ch >= 'a' && ch <= 'z' {
			ch -= 'a' - 'A'
		}
		out = append(out, ch)
	}
	return string(out)
}
