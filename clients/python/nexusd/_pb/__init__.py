"""Generated from proto/sidecar.proto by scripts/gen_proto.sh (make python-proto). Do not edit."""
