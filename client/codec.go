package client

// Calls are encoded by internal/vtcodec, which registers itself as the
// process's "proto" codec when imported: the vtprotobuf methods generated
// next to sidecarpb instead of protobuf-go's reflection, with the same
// bytes on the wire. Messages of other packages in the same process go
// through protobuf-go as before.
import _ "github.com/nexusd/nexusd/internal/vtcodec"
