// Command containerd-stargz-grpc is a minimal stargz snapshotter daemon for the end-to-end tests: containerd's
// stargz snapshotter library (Debian's golang-github-containerd-stargz-snapshotter-dev) served as a
// containerd proxy snapshotter on a unix socket. Upstream's own cmd/containerd-stargz-grpc does not build
// against Debian's Go packages (it wants the kubernetes CRI API, kubeconfig helpers and goccy/go-json); the
// tests need none of that, only the snapshotter with a TOML config.
//
// Usage: containerd-stargz-grpc -address SOCKET -config CONFIG.toml -root DIR
//
// On SIGINT or SIGTERM it stops serving and closes the snapshotter, which unmounts its FUSE mounts.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/log"
	"github.com/containerd/stargz-snapshotter/service"
	"github.com/pelletier/go-toml"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
)

func main() {
	address := flag.String("address", "", "unix socket to serve the snapshotter API on")
	configPath := flag.String("config", "", "TOML config (service.Config: fs options and [resolver])")
	root := flag.String("root", "", "state directory (snapshots, FUSE mounts, cache)")
	logLevel := flag.String("log-level", "info", "logrus level")
	flag.Parse()
	if *address == "" || *configPath == "" || *root == "" {
		fmt.Fprintln(os.Stderr, "usage: containerd-stargz-grpc -address SOCKET -config CONFIG.toml -root DIR")
		os.Exit(2)
	}
	level, err := logrus.ParseLevel(*logLevel)
	if err != nil {
		fatal("bad -log-level %q: %v", *logLevel, err)
	}
	logrus.SetLevel(level)
	ctx := log.WithLogger(context.Background(), log.L)

	var cfg service.Config
	tree, err := toml.LoadFile(*configPath)
	if err != nil {
		fatal("cannot read config %s: %v", *configPath, err)
	}
	if err := tree.Unmarshal(&cfg); err != nil {
		fatal("cannot parse config %s: %v", *configPath, err)
	}

	// No credential helpers: the tests' registries are plain http without auth.
	rs, err := service.NewStargzSnapshotterService(ctx, *root, &cfg)
	if err != nil {
		fatal("cannot start the stargz snapshotter in %s: %v", *root, err)
	}

	if err := os.MkdirAll(filepath.Dir(*address), 0700); err != nil {
		fatal("cannot make the socket's directory: %v", err)
	}
	if err := os.RemoveAll(*address); err != nil {
		fatal("cannot remove an old socket %s: %v", *address, err)
	}
	l, err := net.Listen("unix", *address)
	if err != nil {
		fatal("cannot listen on %s: %v", *address, err)
	}
	rpc := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(rpc, snapshotservice.FromSnapshotter(rs))

	errs := make(chan error, 1)
	go func() { errs <- rpc.Serve(l) }()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	log.G(ctx).WithField("address", *address).Info("serving")

	code := 0
	select {
	case s := <-sigs:
		log.G(ctx).Infof("got %v, stopping", s)
	case err := <-errs:
		log.G(ctx).WithError(err).Error("serve failed")
		code = 1
	}
	rpc.Stop()
	// Close unmounts every FUSE mount the snapshotter made; without it they outlive the daemon.
	if err := rs.Close(); err != nil {
		log.G(ctx).WithError(err).Error("closing the snapshotter failed")
		code = 1
	}
	log.G(ctx).Info("stopped")
	os.Exit(code)
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "containerd-stargz-grpc: "+format+"\n", args...)
	os.Exit(1)
}
