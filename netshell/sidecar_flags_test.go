package netshell

import (
	"strings"
	"testing"
)

// TestSidecarSocketAndTLSFlags: --app-socket, its mode and owner, --app-port
// off and the --app-tls-* files reach Options, from flags or their
// variables (a file flag's says _FILE).
func TestSidecarSocketAndTLSFlags(t *testing.T) {
	_, err := ParseFlags([]string{"--app-socket", "/run/nexusd/app.sock", "--app-socket-mode", "0600", "--app-socket-owner", "0:0", "--app-port", "off"},
		env(map[string]string{"NEXUSD_APP_TLS_CERT_FILE": "c.pem", "NEXUSD_APP_TLS_KEY_FILE": "k.pem", "NEXUSD_APP_TLS_CA_FILE": "ca.pem"}))
	if err == nil || !strings.Contains(err.Error(), "--app-port off") {
		t.Fatalf("TLS with --app-port off: %v, want refused (TLS is for the TCP port)", err)
	}
	o, err := ParseFlags([]string{"--app-socket", "/run/nexusd/app.sock", "--app-socket-mode", "0600", "--app-socket-owner", "0:0", "--app-port", "off"}, env(nil))
	if err != nil || o.AppSocket != "/run/nexusd/app.sock" || o.AppSocketMode != 0o600 || o.AppSocketOwner != "0:0" || o.AppPort != AppPortOff {
		t.Fatalf("socket flags: %+v, %v", o, err)
	}
	o, err = ParseFlags(nil, env(map[string]string{"NEXUSD_APP_SOCKET": "/s", "NEXUSD_APP_TLS_CERT_FILE": "c.pem", "NEXUSD_APP_TLS_KEY_FILE": "k.pem", "NEXUSD_APP_TLS_CA_FILE": "ca.pem"}))
	if err != nil || o.AppSocket != "/s" || o.AppSocketMode != 0o660 || o.AppTLSCert != "c.pem" || o.AppTLSKey != "k.pem" || o.AppTLSCA != "ca.pem" {
		t.Fatalf("from the environment: %+v, %v", o, err)
	}
}

// TestSidecarBindingElsewhereNeedsATokenOrTLS: docs/protocol.md §10.7: a
// sidecar bound to a non-loopback address requires a token or TLS.
func TestSidecarBindingElsewhereNeedsATokenOrTLS(t *testing.T) {
	_, err := ParseFlags([]string{"--app-bind", "0.0.0.0"}, env(nil))
	for _, w := range []string{"--app-bind", "--app-token", "--app-tls-cert"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("--app-bind 0.0.0.0 alone: %v, want an error mentioning %s", err, w)
		}
	}
	for _, args := range [][]string{
		{"--app-bind", "0.0.0.0", "--app-token", "s3cret"},
		{"--app-bind", "0.0.0.0", "--app-tls-cert", "c.pem", "--app-tls-key", "k.pem"},
		{"--app-bind", "0.0.0.0", "--app-port", "off", "--app-socket", "/s"},
	} {
		if _, err := ParseFlags(args, env(nil)); err != nil {
			t.Errorf("%v: %v, want accepted", args, err)
		}
	}
}

// TestBadSidecarSecurityValuesNameTheFlag: each refusal names the flag at
// fault and what it takes.
func TestBadSidecarSecurityValuesNameTheFlag(t *testing.T) {
	long := "/" + strings.Repeat("d", maxSocketPathBytes) + ".sock"
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--app-socket-mode", "rw-rw----"}, []string{"--app-socket-mode", "octal"}},
		{[]string{"--app-socket-mode", "01777"}, []string{"--app-socket-mode", "octal"}},
		{[]string{"--app-socket", "/s", "--app-socket-owner", "no-such-user-nexusd"}, []string{"--app-socket-owner", "no-such-user-nexusd"}},
		{[]string{"--app-socket", "/s", "--app-socket-owner", "0:no-such-group-nexusd"}, []string{"--app-socket-owner", "no-such-group-nexusd"}},
		{[]string{"--app-socket-owner", "0"}, []string{"--app-socket-owner", "--app-socket"}},
		{[]string{"--app-socket", long}, []string{"--app-socket", "at most"}},
		{[]string{"--app-port", "off"}, []string{"--app-port", "--app-socket"}},
		{[]string{"--app-port", "sometimes"}, []string{"--app-port", "or off"}},
		{[]string{"--app-tls-cert", "c.pem"}, []string{"--app-tls-key", "required"}},
		{[]string{"--app-tls-key", "k.pem"}, []string{"--app-tls-cert", "required"}},
		{[]string{"--app-tls-ca", "ca.pem"}, []string{"--app-tls-ca", "--app-tls-cert"}},
	} {
		_, err := ParseFlags(c.args, env(nil))
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: %v, want an error mentioning %q", c.args, err, w)
			}
		}
	}
}
