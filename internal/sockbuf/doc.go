// Package sockbuf sizes a Unix socket connection's send and receive
// buffers, so the daemon's app socket (--app-socket) and the client
// library's side of it are tuned the same way. It only sets and reads
// socket options; it never fails a connection.
package sockbuf
