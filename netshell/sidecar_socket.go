package netshell

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The sidecar's Unix socket (--app-socket) is how an application beside
// the daemon reaches it without a TCP port: on the same host, or through a
// volume two containers of a pod share. The same gRPC server serves it as
// the TCP port, so a token, refusals and the instance header apply alike;
// TLS does not (the socket's file mode and owner say who may connect).

// maxSocketPathBytes is the longest path a Unix socket can be bound at on
// Linux (sun_path is 108 bytes with its terminating NUL).
const maxSocketPathBytes = 107

// checkAppSocket validates the --app-socket flags without touching the
// file system beyond looking up the owner's names.
func (o *Options) checkAppSocket() error {
	if o.AppSocket == "" {
		switch {
		case o.AppSocketOwner != "":
			return errors.New("--app-socket-owner: needs --app-socket, the socket to give")
		case o.AppPort == AppPortOff:
			return errors.New("--app-port: off needs --app-socket: the sidecar must listen somewhere")
		}
		return nil
	}
	if len(o.AppSocket) > maxSocketPathBytes {
		return fmt.Errorf("--app-socket: %q is %d bytes: Unix socket paths take at most %d", o.AppSocket, len(o.AppSocket), maxSocketPathBytes)
	}
	if o.AppSocketMode&^fs.ModePerm != 0 {
		return fmt.Errorf("--app-socket-mode: %#o: want permission bits 0 to 0777, such as 0660", uint32(o.AppSocketMode))
	}
	if o.AppSocketOwner != "" {
		if _, _, err := lookupOwner(o.AppSocketOwner); err != nil {
			return fmt.Errorf("--app-socket-owner: %v", err)
		}
	}
	return nil
}

// listenAppSocket binds the sidecar's socket at o.AppSocket with its mode
// and owner. A socket file nobody accepts on (a daemon that died) is
// replaced; a live one, or a file that is not a socket, is refused.
// Closing the listener removes the file.
func listenAppSocket(o *Options) (net.Listener, error) {
	path := o.AppSocket
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	// On Linux the socket file takes the socket's own mode (less the
	// umask): it is born 0600, so nobody else can connect before the
	// owner and mode below are what was asked. Elsewhere fchmod may fail;
	// the chmod below still applies.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.Fchmod(int(fd), 0o600) })
	}}
	ln, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, fmt.Errorf("--app-socket: cannot listen on %s: %w", path, err)
	}
	if o.AppSocketOwner != "" {
		uid, gid, err := lookupOwner(o.AppSocketOwner)
		if err == nil {
			err = os.Lchown(path, uid, gid)
		}
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("--app-socket-owner: cannot give %s to %s: %w (another user needs root or CAP_CHOWN; a group the daemon's user is in does not)", path, o.AppSocketOwner, err)
		}
	}
	if err := os.Chmod(path, o.AppSocketMode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--app-socket-mode: cannot set %s to %#o: %w", path, uint32(o.AppSocketMode), err)
	}
	return bufferedListener{ln}, nil
}

// removeStaleSocket clears path for a new socket: nothing there is fine, a
// socket nobody accepts on is removed, anything else is refused.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("--app-socket: %w", err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("--app-socket: %s exists and is not a socket: remove it or give another path", path)
	}
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("--app-socket: %s is in use: a running process (another nexusd?) accepts connections on it; stop it or give another path", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("--app-socket: %s exists and cannot be checked for a live daemon: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("--app-socket: cannot remove the stale socket %s: %w", path, err)
	}
	return nil
}

// lookupOwner reads --app-socket-owner: user, user:group, :group or
// user: (the user's login group), each a name or a numeric id. An id left
// out is -1 (unchanged).
func lookupOwner(spec string) (uid, gid int, err error) {
	name, group, hasGroup := strings.Cut(spec, ":")
	uid, gid = -1, -1
	var u *user.User
	if name != "" {
		if n, err := strconv.Atoi(name); err == nil && n >= 0 {
			uid = n
		} else if u, err = user.Lookup(name); err != nil {
			return 0, 0, fmt.Errorf("%q: no user named %q: want user[:group], names or numeric ids", spec, name)
		} else if uid, err = strconv.Atoi(u.Uid); err != nil {
			return 0, 0, fmt.Errorf("%q: user %q has no numeric id (%s)", spec, name, u.Uid)
		}
	}
	switch {
	case !hasGroup:
	case group == "" && name == "":
		return 0, 0, fmt.Errorf("%q: want user[:group], names or numeric ids", spec)
	case group == "":
		if u == nil {
			if u, err = user.LookupId(name); err != nil {
				return 0, 0, fmt.Errorf("%q: no user with id %s to take the login group of: give the group", spec, name)
			}
		}
		if gid, err = strconv.Atoi(u.Gid); err != nil {
			return 0, 0, fmt.Errorf("%q: user %q has no numeric group id (%s)", spec, name, u.Gid)
		}
	default:
		if n, err := strconv.Atoi(group); err == nil && n >= 0 {
			gid = n
		} else if g, err := user.LookupGroup(group); err != nil {
			return 0, 0, fmt.Errorf("%q: no group named %q: want user[:group], names or numeric ids", spec, group)
		} else if gid, err = strconv.Atoi(g.Gid); err != nil {
			return 0, 0, fmt.Errorf("%q: group %q has no numeric id (%s)", spec, group, g.Gid)
		}
	}
	return uid, gid, nil
}
