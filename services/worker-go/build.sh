#!/usr/bin/env bash
# Builds or checks the Go worker with Debian's Go packages, offline (GOPATH mode, no module
# proxy). Its gRPC stubs are generated from protos/ each time into the git-ignored .gopath/, so
# they cannot go stale. `make worker-go` and `make test-go` run it, and so does the images
# role, which copies the static binary into the worker-go image (the nodes need no toolchain).
#   services/worker-go/build.sh [output]     the static binary (default services/worker-go/ai-worker-go)
#   services/worker-go/build.sh --check      gofmt, go vet and the unit tests
#   PROTOS_DIR=...                           the tree holding ai_system/rpc/worker_callback.proto
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
protos=${PROTOS_DIR:-$here/../../protos}
proto=ai_system/rpc/worker_callback.proto
for tool in go gofmt protoc protoc-gen-go protoc-gen-go-grpc; do
  command -v "$tool" >/dev/null || {
    echo "build.sh: $tool is missing: install Debian's golang-go, protobuf-compiler, protoc-gen-go," \
         "protoc-gen-go-grpc, golang-google-grpc-dev, golang-google-protobuf-dev," \
         "golang-github-golang-protobuf-1-5-dev, golang-github-eclipse-paho.mqtt.golang-dev and" \
         "golang-github-prometheus-client-golang-dev" \
         "(scripts/ensure-system.sh go does)" >&2
    exit 1; }
done
[ -f "$protos/$proto" ] || { echo "build.sh: no $proto under $protos (set PROTOS_DIR)" >&2; exit 1; }

tree=$here/.gopath
mkdir -p "$tree"
# The images role builds here too, perhaps while make does: one build at a time (each replaces
# the generated stubs the other compiles).
exec 9>"$tree/.lock"
flock 9
# The .proto has no go_package option: this names the stubs' import path instead.
stubs="M$proto=aiworker/rpc"
rm -rf "$tree/src/aiworker" && mkdir -p "$tree/src"
protoc -I "$protos" --go_out="$tree/src" --go_opt="$stubs" \
  --go-grpc_out="$tree/src" --go-grpc_opt="$stubs" "$protos/$proto"

cd "$here"
export GO111MODULE=off GOPATH="$tree:/usr/share/gocode" CGO_ENABLED=0 GOFLAGS=
if [ "${1:-}" = --check ]; then
  unformatted=$(gofmt -l ./*.go)
  [ -z "$unformatted" ] || { echo "not gofmt'd: $unformatted" >&2; exit 1; }
  go vet .
  go test .
else
  version=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$here/../ai_system/__init__.py")
  go build -trimpath -ldflags "-s -w -X main.version=$version" -o "${1:-$here/ai-worker-go}" .
fi
