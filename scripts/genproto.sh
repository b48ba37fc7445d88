#!/usr/bin/env bash
# Regenerates the Go code for the plugin protocol in sdk/plugin/internal/pb
# from sdk/proto. Needs protoc (Debian: apt-get install protobuf-compiler);
# the Go generators come at the versions pinned by go.mod's tool directives.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
mkdir -p sdk/plugin/internal/pb
rm -f sdk/plugin/internal/pb/*.pb.go
protoc -I sdk/proto \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" --go_out=. --go_opt=module=github.com/codrive/codrive \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" --go-grpc_out=. --go-grpc_opt=module=github.com/codrive/codrive \
  sdk/proto/codrive/plugin/v1/*.proto
