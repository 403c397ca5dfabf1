// Package servertest runs a real Bridge inside a test, on a random
// 127.0.0.1 port with temporary directories, as httptest runs a server:
// for the tests of the packages that talk to it (the client, the MCP
// server, the hook).
package servertest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/server"
)

// Clock is a clock a test moves (sessions expire after an hour idle).
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts at now.
func NewClock() *Clock { return &Clock{t: time.Now()} }

// Now is the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Options tune Start.
type Options struct {
	// Clock is the Bridge's clock; nil is the real one.
	Clock *Clock
	// EscalationTimeout is how long /validate waits for an expert; 0 is 2s.
	EscalationTimeout time.Duration
	// Setup runs on the Bridge before it serves.
	Setup func(*server.Bridge)
}

// Bridge is a Bridge serving in a test.
type Bridge struct {
	URL    string
	Secret []byte
	Dir    string
	B      *server.Bridge
	t      testing.TB
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Start serves a new Bridge until the test ends (or Stop).
func Start(t testing.TB, o Options) *Bridge {
	t.Helper()
	dir := t.TempDir()
	sum := sha256.Sum256([]byte("servertest " + t.Name()))
	secret := []byte(hex.EncodeToString(sum[:]))
	cfg := config.Config{Host: "127.0.0.1", EventStorePath: filepath.Join(dir, "events"),
		SnapshotPath: filepath.Join(dir, "snapshots"), AuthSecret: secret}
	if o.EscalationTimeout <= 0 {
		o.EscalationTimeout = 2 * time.Second
	}
	so := server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), GracePeriod: 5 * time.Second,
		EscalationTimeout: o.EscalationTimeout}
	if o.Clock != nil {
		so.Now = o.Clock.Now
	}
	b, err := server.New(cfg, so)
	if err != nil {
		t.Fatal(err)
	}
	if o.Setup != nil {
		o.Setup(b)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Bridge{URL: "http://" + ln.Addr().String(), Secret: secret, Dir: dir, B: b, t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() { r.Stop() })
	return r
}

// Stop shuts the Bridge down and returns Serve's error (nil when clean).
func (r *Bridge) Stop() error {
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(15 * time.Second):
			r.t.Errorf("the bridge did not stop within 15s")
		}
	})
	return r.err
}

// Key is agent's key, as `lighthouse-bridge token` prints it.
func (r *Bridge) Key(agent string, admin bool) string {
	r.t.Helper()
	k, err := auth.AgentKey(r.Secret, agent, admin)
	if err != nil {
		r.t.Fatal(err)
	}
	return k
}

// Client is a client of agent (an admin's with admin).
func (r *Bridge) Client(agent string, admin bool) *client.Client {
	r.t.Helper()
	c, err := client.New(client.Options{BaseURL: r.URL, AgentID: agent, AgentKey: r.Key(agent, admin)})
	if err != nil {
		r.t.Fatal(err)
	}
	return c
}
