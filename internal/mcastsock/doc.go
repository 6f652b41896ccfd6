// Package mcastsock holds the socket option every listener on the
// discovery port needs, so the daemon and the client library's Discover
// bind it the same way: several sockets on one host share the port, and
// each receives only the multicast groups it joined itself.
package mcastsock
