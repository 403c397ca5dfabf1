package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

var secret = []byte("server-test-secret-server-test-secret")

func testConfig(dir string) config.Config {
	return config.Config{
		Host: "127.0.0.1", EventStorePath: filepath.Join(dir, "events"),
		SnapshotPath: filepath.Join(dir, "snapshots"), AuthSecret: secret,
	}
}

type running struct {
	b    *Bridge
	url  string
	stop context.CancelFunc
	done chan error
}

func start(t *testing.T, cfg config.Config, setup func(*Bridge)) *running {
	t.Helper()
	b, err := New(cfg, Options{GracePeriod: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{b: b, url: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() { r.shutdown(t) })
	return r
}

func (r *running) shutdown(t *testing.T) error {
	r.stop()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after shutdown")
	}
	return nil
}

func post(t *testing.T, url, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func session(t *testing.T, url, agent string) string {
	t.Helper()
	return newSession(t, url, agent, false)
}

func TestShutdownFinishesInFlightRequestsAndClosesStore(t *testing.T) {
	cfg := testConfig(t.TempDir())
	var hooked bool
	r := start(t, cfg, func(b *Bridge) {
		b.API().Add(api.Part{Name: "test", Routes: []api.Route{{Method: "GET", Path: "/slow", Access: api.Public,
			Handler: func(w http.ResponseWriter, _ *http.Request) {
				time.Sleep(300 * time.Millisecond)
				api.WriteJSON(w, 200, map[string]string{"done": "yes"})
			}}}})
		b.OnShutdown(func(context.Context) error { hooked = true; return nil })
	})
	tok := session(t, r.url, "alice")
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(r.url + "/slow")
		if err != nil {
			got <- -1
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	if err := r.shutdown(t); err != nil {
		t.Fatalf("Serve returned %v after a clean shutdown", err)
	}
	if code := <-got; code != 200 {
		t.Fatalf("in-flight request got %d", code)
	}
	if !hooked {
		t.Fatal("shutdown hook not run")
	}
	if _, err := tokenClient(t, r.url, tok).Health(context.Background()); err == nil {
		t.Fatal("still accepting after shutdown")
	}
	// The lock is released and the session survives the restart.
	r2 := start(t, cfg, nil)
	if code, m := post(t, r2.url+"/event/store", tok, `{"event_type":"after_restart","data":1}`); code != 200 || m["sequence"] != float64(2) {
		t.Fatalf("after restart: %d %v", code, m)
	}
}

func TestSecondBridgeOnSameStoreFailsFast(t *testing.T) {
	cfg := testConfig(t.TempDir())
	start(t, cfg, nil)
	t0 := time.Now()
	_, err := New(cfg, Options{})
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "locked by another lighthouse-bridge process") {
		t.Fatalf("second bridge: %v", err)
	}
	if time.Since(t0) > 3*time.Second {
		t.Fatalf("took %v", time.Since(t0))
	}
}

type counter struct {
	mu   sync.Mutex
	seqs []uint64
}

func (c *counter) Apply(e store.Event) error {
	c.mu.Lock()
	c.seqs = append(c.seqs, e.Sequence)
	c.mu.Unlock()
	return nil
}

func TestProjectionsReplayThenFollow(t *testing.T) {
	cfg := testConfig(t.TempDir())
	r := start(t, cfg, nil)
	tok := session(t, r.url, "alice") // 1
	for i := 0; i < 3; i++ {
		post(t, r.url+"/event/store", tok, `{"event_type":"x","data":1}`) // 2..4
	}
	r.shutdown(t)
	full, tail := &counter{}, &counter{}
	r = start(t, cfg, func(b *Bridge) { b.AddProjection(full) })
	post(t, r.url+"/event/store", tok, `{"event_type":"x","data":1}`) // 5
	r.shutdown(t)
	r = start(t, cfg, func(b *Bridge) { b.AddProjection(tail); b.SetReplayStart(3) })
	// Replaying from 3 skipped alice's session (a snapshot restores it);
	// a new session is event 6.
	tok = session(t, r.url, "alice")
	post(t, r.url+"/event/store", tok, `{"event_type":"x","data":1}`) // 7
	if fmt.Sprint(full.seqs) != "[1 2 3 4 5]" || fmt.Sprint(tail.seqs) != "[4 5 6 7]" {
		t.Fatalf("full %v tail %v", full.seqs, tail.seqs)
	}
}

// TestMountPointMakesFuseRequired: until Serve has mounted the view, a
// configured mount point keeps /status at 503.
func TestMountPointMakesFuseRequired(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MountPoint = filepath.Join(t.TempDir(), "mnt")
	b, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ok, comps := b.API().Ready(context.Background())
	if ok || comps["fuse_mount"] != "error: not mounted" {
		t.Fatalf("ready before mounting: %v %v", ok, comps)
	}
}

// TestStreamOutlivesReadTimeout: an SSE stream stays open and delivers
// events long after the server's ReadTimeout.
func TestStreamOutlivesReadTimeout(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Limits.ReadTimeout, cfg.Limits.HeaderTimeout = 100*time.Millisecond, 100*time.Millisecond
	b, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String()
	tok := session(t, url, "alice")
	req, _ := http.NewRequest("GET", url+"/event/stream?since=1", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	time.Sleep(400 * time.Millisecond)
	post(t, url+"/event/store", tok, `{"event_type":"late","data":1}`)
	got := make(chan string, 1)
	go func() {
		buf := make([]byte, 4096)
		var all string
		for {
			n, err := resp.Body.Read(buf)
			all += string(buf[:n])
			if strings.Contains(all, "event: late") || err != nil {
				got <- all
				return
			}
		}
	}()
	select {
	case s := <-got:
		if !strings.Contains(s, "event: late") {
			t.Fatalf("stream ended without the event: %q", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event on the stream")
	}
}

// TestStartUpErrorsNameTheirVariable: a path variable pointing at (or
// under) a regular file stops start-up with a message naming the variable,
// as the contract asks of every missing or invalid value.
func TestStartUpErrorsNameTheirVariable(t *testing.T) {
	for _, tc := range []struct {
		env string
		set func(*config.Config, string)
	}{
		{config.EnvEventStorePath, func(c *config.Config, f string) { c.EventStorePath = f }},
		{config.EnvEventStorePath, func(c *config.Config, f string) { c.EventStorePath = filepath.Join(f, "events") }},
		{config.EnvSnapshotPath, func(c *config.Config, f string) { c.SnapshotPath = f }},
	} {
		dir := t.TempDir()
		file := filepath.Join(dir, "a-file")
		os.WriteFile(file, nil, 0o600)
		cfg := testConfig(dir)
		tc.set(&cfg, file)
		b, err := New(cfg, Options{Logger: quietLog()})
		if err == nil {
			b.Close()
			t.Errorf("%s under a regular file: started", tc.env)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.env+": ") || !strings.Contains(err.Error(), "not a directory") {
			t.Errorf("%s under a regular file: %q, want the variable named first", tc.env, err)
		}
	}
	// The listen address names both of its variables.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t.TempDir())
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	err = Run(t.Context(), cfg, Options{Logger: quietLog()})
	if err == nil || !strings.Contains(err.Error(), config.EnvHost) || !strings.Contains(err.Error(), config.EnvPort) {
		t.Errorf("port in use: %v", err)
	}
}
