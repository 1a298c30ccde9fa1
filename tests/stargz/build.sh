#!/bin/sh
# Builds containerd-stargz-grpc from main.go against Debian's Go packages (GOPATH mode, no network):
#   build.sh OUT_DIR
# leaves OUT_DIR/containerd-stargz-grpc. Needs golang-go and golang-github-containerd-stargz-snapshotter-dev.
# OUT_DIR/gopath holds this directory's sources at the import paths they stand for. GOCACHE defaults to
# OUT_DIR/gocache; point it at a directory kept between builds and a rebuild after a change to main.go takes
# seconds instead of a cold build's 30 to 50 s.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
gopath=$out/gopath
rm -rf "$gopath"
mkdir -p "$gopath/src/squashproxy.test/containerd-stargz-grpc" "$gopath/src/k8s.io/cri-api/pkg/apis/runtime/v1alpha2"
cp "$here/main.go" "$gopath/src/squashproxy.test/containerd-stargz-grpc/"
cp "$here/cri-api-standin/api.go" "$gopath/src/k8s.io/cri-api/pkg/apis/runtime/v1alpha2/"
cd "$gopath/src/squashproxy.test/containerd-stargz-grpc"
GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="${GOCACHE:-$out/gocache}" GOFLAGS= CGO_ENABLED=0 \
  go build -o "$out/containerd-stargz-grpc.tmp" .
mv "$out/containerd-stargz-grpc.tmp" "$out/containerd-stargz-grpc"
