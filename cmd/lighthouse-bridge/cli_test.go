package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/server"
)

var testSecret = testSecretFor("cli")

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd(func(k string) string { return env[k] })
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestToken(t *testing.T) {
	env := map[string]string{config.EnvAuthSecret: testSecret}
	out, err := run(t, env, "token", "--agent", "builder-1")
	want, _ := auth.AgentKey([]byte(testSecret), "builder-1", false)
	if err != nil || out != want+"\n" {
		t.Fatalf("token: %q %v", out, err)
	}
	out, err = run(t, env, "token", "--agent", "ops", "--role", "admin")
	want, _ = auth.AgentKey([]byte(testSecret), "ops", true)
	if err != nil || out != want+"\n" {
		t.Fatalf("admin token: %q %v", out, err)
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{}, []string{"token", "--agent", "a"}, "LIGHTHOUSE_AUTH_SECRET is required"},
		{env, []string{"token"}, "--agent is required"},
		{env, []string{"token", "--agent", "a:b"}, "agent id must be"},
		{env, []string{"token", "--agent", "a", "--role", "root"}, "--role must be"},
		{map[string]string{config.EnvAuthSecret: strings.Repeat(" ", 32)}, []string{"token", "--agent", "a"}, "LIGHTHOUSE_AUTH_SECRET is guessable"},
		{map[string]string{config.EnvAuthSecret: strings.Repeat("ab", 20)}, []string{"serve"}, "head -c 32 /dev/urandom | base64"},
	} {
		if _, err := run(t, tc.env, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "lighthouse-bridge devel (go") {
		t.Fatalf("version: %q %v", out, err)
	}
}

func TestServeRefusesBadConfig(t *testing.T) {
	_, err := run(t, map[string]string{config.EnvAuthSecret: "short"}, "serve")
	for _, v := range []string{config.EnvAuthSecret, config.EnvEventStorePath, config.EnvSnapshotPath} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("serve error %v does not name %s", err, v)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Config{Host: "127.0.0.1", EventStorePath: filepath.Join(dir, "ev"), SnapshotPath: filepath.Join(dir, "snap"),
		AuthSecret: []byte(testSecret)}
	b, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	// A required component that fails, as an unmounted FUSE view does.
	b.API().SetComponent("fuse_mount", true, func(context.Context) error { return errors.New("not mounted") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- b.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	// Only host and port are needed; the wildcard host is probed on 127.0.0.1.
	env := map[string]string{config.EnvHost: "0.0.0.0", config.EnvPort: port}
	if _, err := run(t, env, "healthcheck", "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("healthcheck with FUSE not mounted: %v", err)
	}
	b.API().SetComponent("fuse_mount", true, func(context.Context) error { return nil })
	if out, err := run(t, env, "healthcheck"); err != nil || out != "ok\n" {
		t.Fatalf("healthcheck: %q %v", out, err)
	}
	cancel()
	<-done
	done = make(chan error, 1)
	done <- nil
	start := time.Now()
	if _, err := run(t, env, "healthcheck", "--timeout", "1s"); err == nil {
		t.Fatal("healthcheck passed with the bridge stopped")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("healthcheck took %v", time.Since(start))
	}
}
