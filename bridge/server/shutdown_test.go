package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
)

// TestShutdownIsBoundedByTheGracePeriod: nothing may hold shutdown past
// its grace period — not a request that never finishes, not an SSE
// client that stopped reading while events pile up, not a shutdown hook
// that ignores its context. Serve returns, the store is closed and its
// lock released for the next bridge.
func TestShutdownIsBoundedByTheGracePeriod(t *testing.T) {
	cfg := testConfig(t.TempDir())
	const grace = 2 * time.Second
	release := make(chan struct{})
	defer close(release)
	b, err := New(cfg, Options{GracePeriod: grace, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	b.API().Add(api.Part{Name: "test", Routes: []api.Route{{Method: http.MethodGet, Path: "/hang", Access: api.Public,
		Handler: func(http.ResponseWriter, *http.Request) { <-release }, Doc: "a request that never finishes"}}})
	b.OnShutdown(func(context.Context) error { <-release; return nil })
	r := serve(t, b)
	tok := session(t, r.url, "alice")

	go http.Get(r.url + "/hang")
	// A stream whose client reads its headers and then nothing more.
	req, _ := http.NewRequest("GET", r.url+"/event/stream?since=0", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	bufio.NewReader(resp.Body).ReadString('\n')
	pad := strings.Repeat("p", 60<<10)
	for i := range 100 {
		if code, m := post(t, r.url+"/event/store", tok, fmt.Sprintf(`{"event_type":"pile","data":{"i":%d,"pad":%q}}`, i, pad)); code != 200 {
			t.Fatalf("append: %d %v", code, m)
		}
	}
	time.Sleep(100 * time.Millisecond) // the requests are in flight

	start := time.Now()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			t.Errorf("Serve after a bounded shutdown: %v", err)
		}
	case <-time.After(grace + 2*time.Second):
		t.Fatalf("Serve still running %v after the signal (grace period %v)", time.Since(start), grace)
	}
	t.Logf("shutdown took %v with a hung request, a stuck stream and a hung hook", time.Since(start).Round(time.Millisecond))
	// The store is closed: another bridge takes it.
	b2, err := New(cfg, Options{Logger: quietLog()})
	if err != nil {
		t.Fatalf("a second bridge on the same store: %v", err)
	}
	b2.Close()
}

// serve serves an already built bridge on a random port.
func serve(t *testing.T, b *Bridge) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{b: b, url: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() { r.shutdown(t) })
	waitFor(t, "the bridge to serve", func() bool {
		resp, err := http.Get(r.url + "/health")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return r
}

// TestShutdownIsBoundedWithTheProbePathFull: with every connection within
// the limits busy (a hung request, an open stream) and silent connections
// waiting on the probe path, shutdown still ends within the grace period:
// the probe path's connections are closed at once, the stream ends, the
// hung request is cut off, and the store is free for the next bridge.
func TestShutdownIsBoundedWithTheProbePathFull(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Limits.MaxConnections, cfg.Limits.MaxConnectionsPerClient = 2, 2
	const grace = 2 * time.Second
	release := make(chan struct{})
	defer close(release)
	b, err := New(cfg, Options{GracePeriod: grace, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	b.API().Add(api.Part{Name: "test", Routes: []api.Route{{Method: http.MethodGet, Path: "/hang", Access: api.Public,
		Handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(200)
			http.NewResponseController(w).Flush()
			<-release
		},
		Doc: "a request that never finishes"}}})
	r := serve(t, b)
	tok := session(t, r.url, "alice")
	// The session's connection is closed (session closes it): until the
	// bridge sees it gone it takes a place, and a busy connection below
	// would go to the probe path instead (a 503), making six there.
	waitFor(t, "the session's connection to close", func() bool { return metricValue(t, b, "lighthouse_connections_open") == 0 })
	addr := strings.TrimPrefix(r.url, "http://")
	busy := func(req string) net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprint(c, req)
		line, err := bufio.NewReader(c).ReadString('\n') // its status line: it is being served
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200 ") {
			t.Fatalf("%q: %q %v", req, line, err)
		}
		return c
	}
	busy("GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
	busy("GET /event/stream?since=0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\n\r\n")
	waitFor(t, "two busy connections", func() bool { return metricValue(t, b, "lighthouse_connections_open") == 2 })
	var silent []net.Conn
	for range 5 { // beyond the limits: the probe path holds them
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		silent = append(silent, c)
	}
	waitFor(t, "the probe path to take them", func() bool { return metricValue(t, b, "lighthouse_connections_overflow_total") == 5 })

	start := time.Now()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err
		if err != nil {
			t.Errorf("Serve after a bounded shutdown: %v", err)
		}
	case <-time.After(grace + 2*time.Second):
		t.Fatalf("Serve still running %v after the signal (grace period %v)", time.Since(start), grace)
	}
	for i, c := range silent {
		c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("probe-path connection %d still open after shutdown: %v", i, err)
		}
	}
	b2, err := New(cfg, Options{Logger: quietLog()})
	if err != nil {
		t.Fatalf("a second bridge on the same store: %v", err)
	}
	b2.Close()
}

// metricValue reads one unlabelled metric from the bridge's registry
// (no HTTP: the connections may all be taken).
func metricValue(t *testing.T, b *Bridge, name string) float64 {
	t.Helper()
	mfs, err := b.Metrics().Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.GetMetric()) == 0 {
			continue
		}
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	return -1
}
