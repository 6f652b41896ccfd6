package netshell

// The daemon's gRPC messages are encoded by internal/vtcodec, which
// registers itself as the process's "proto" codec when imported: the
// vtprotobuf methods generated next to sidecarpb and meshpb instead of
// protobuf-go's reflection, with the same bytes on the wire. Both servers
// and the mesh client use it; nothing here names it.
import _ "github.com/nexusd/nexusd/internal/vtcodec"
