package netlimit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs an http.Server on a limited listener at 127.0.0.1:0 and a
// probe server on its overflow. /busy blocks until release is closed.
func serve(t *testing.T, cfg Config) (*Listener, string, chan struct{}) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(inner, cfg)
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /busy", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		http.NewResponseController(w).Flush()
		<-release
	})
	srv := &http.Server{Handler: mux, ConnState: l.ConnState, ReadHeaderTimeout: 5 * time.Second}
	probe := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			io.WriteString(w, "probe")
			return
		}
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
	}), ReadHeaderTimeout: 2 * time.Second}
	probe.SetKeepAlivesEnabled(false)
	go srv.Serve(l)
	go probe.Serve(l.Overflow())
	t.Cleanup(func() {
		close(release)
		srv.Close()
		probe.Close()
	})
	return l, inner.Addr().String(), release
}

// dial connects from a chosen local address of 127.0.0.0/8 (each is a
// client of its own).
func dial(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends GET path on c (kept alive) and returns the status and body,
// or an error when the server closed c.
func get(c net.Conn, path string) (int, string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0, "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	if path == "/busy" {
		return resp.StatusCode, "", nil // its body never ends: leave it
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func waitOpen(t *testing.T, l *Listener, n int64) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for l.Stats().Open != n {
		if time.Now().After(deadline) {
			t.Fatalf("open connections %d, want %d", l.Stats().Open, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// At the total limit the longest idle connection is closed for a new one.
func TestLimitClosesTheLongestIdle(t *testing.T) {
	l, addr, _ := serve(t, Config{MaxConns: 2})
	a, b := dial(t, "127.0.0.1", addr), dial(t, "127.0.0.1", addr)
	for _, c := range []net.Conn{a, b} {
		if code, body, err := get(c, "/ok"); code != 200 || body != "ok" {
			t.Fatalf("%d %q %v", code, body, err)
		}
		time.Sleep(5 * time.Millisecond) // a is idle longer than b
	}
	c := dial(t, "127.0.0.1", addr)
	if code, body, err := get(c, "/ok"); code != 200 || body != "ok" {
		t.Fatalf("third connection: %d %q %v", code, body, err)
	}
	if _, _, err := get(a, "/ok"); err == nil {
		t.Fatal("the longest-idle connection was not closed")
	}
	if code, _, err := get(b, "/ok"); code != 200 {
		t.Fatalf("the younger idle connection was closed: %v", err)
	}
	if s := l.Stats(); s.Evicted != 1 || s.Open != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// Busy connections are never closed; beyond them the probe path answers.
func TestBusyConnectionsOverflowToTheProbePath(t *testing.T) {
	l, addr, _ := serve(t, Config{MaxConns: 2, NewGrace: 50 * time.Millisecond})
	for range 2 {
		if code, _, err := get(dial(t, "127.0.0.1", addr), "/busy"); code != 200 {
			t.Fatalf("busy: %d %v", code, err)
		}
	}
	waitOpen(t, l, 2)
	if code, body, err := get(dial(t, "127.0.0.1", addr), "/ok"); code != 200 || body != "probe" {
		t.Fatalf("over the limit: %d %q %v, want the probe path", code, body, err)
	}
	if code, _, _ := get(dial(t, "127.0.0.1", addr), "/other"); code != http.StatusServiceUnavailable {
		t.Fatalf("over the limit, not a probe: %d, want 503", code)
	}
	// A silent connection past its grace makes room, a busy one never.
	time.Sleep(60 * time.Millisecond)
	if s := l.Stats(); s.Evicted != 0 || s.Open != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// Silent connections are closed for room once their grace has passed.
func TestSilentConnectionsMakeRoomAfterTheirGrace(t *testing.T) {
	l, addr, _ := serve(t, Config{MaxConns: 3, NewGrace: 100 * time.Millisecond})
	for range 3 {
		dial(t, "127.0.0.1", addr)
	}
	waitOpen(t, l, 3)
	if _, body, _ := get(dial(t, "127.0.0.1", addr), "/ok"); body != "probe" {
		t.Fatalf("within the grace: %q, want the probe path", body)
	}
	time.Sleep(120 * time.Millisecond)
	if _, body, err := get(dial(t, "127.0.0.1", addr), "/ok"); body != "ok" {
		t.Fatalf("past the grace: %q %v, want served", body, err)
	}
}

// One client's connections do not crowd out another's.
func TestPerClientLimit(t *testing.T) {
	l, addr, _ := serve(t, Config{MaxConns: 10, MaxPerClient: 2})
	for range 2 {
		if code, _, err := get(dial(t, "127.0.0.2", addr), "/busy"); code != 200 {
			t.Fatalf("busy: %v", err)
		}
	}
	if _, body, _ := get(dial(t, "127.0.0.2", addr), "/ok"); body != "probe" {
		t.Fatalf("third of 127.0.0.2: %q, want the probe path", body)
	}
	if _, body, err := get(dial(t, "127.0.0.3", addr), "/ok"); body != "ok" {
		t.Fatalf("127.0.0.3: %q %v, want served", body, err)
	}
	waitOpen(t, l, 3)
}

// A full overflow closes its oldest connection: a prompt probe gets
// through even while silent connections fill it.
func TestProbeGetsThroughAFullOverflow(t *testing.T) {
	l, addr, _ := serve(t, Config{MaxConns: 1, Overflow: 4})
	if code, _, _ := get(dial(t, "127.0.0.1", addr), "/busy"); code != 200 {
		t.Fatal("busy")
	}
	waitOpen(t, l, 1)
	var silent []net.Conn
	for i := range 50 {
		silent = append(silent, dial(t, fmt.Sprintf("127.0.1.%d", i+1), addr))
	}
	for range 5 {
		if _, body, err := get(dial(t, "127.0.2.1", addr), "/ok"); body != "probe" {
			t.Fatalf("probe: %q %v", body, err)
		}
	}
	// The silent ones were closed, oldest first.
	silent[0].SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := silent[0].Read(make([]byte, 1)); err == nil {
		t.Fatal("the oldest silent overflow connection is still open")
	}
	if s := l.Stats(); s.Refused < 46 {
		t.Fatalf("stats %+v", s)
	}
}

func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.7:80":                "192.0.2.7",
		"[::ffff:192.0.2.7]:80":       "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:80":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:8080": "2001:db8:1:2::/64",
		"[::1]:9":                     "::/64",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := ClientKey(a); got != want {
			t.Errorf("ClientKey(%s) = %q, want %q", addr, got, want)
		}
	}
	if got := ClientKey(&net.UnixAddr{Name: "/tmp/s"}); !strings.Contains(got, "/tmp/s") {
		t.Errorf("unix: %q", got)
	}
}

// Once the probe path is closed (shutdown closes it first), a connection
// beyond the limits is closed at once and counted as refused; it used to
// wait in the hand-over channel, open, until the process exited.
func TestOverflowAfterTheProbePathClosedIsRefused(t *testing.T) {
	l, addr, _ := serve(t, Config{MaxConns: 1, NewGrace: time.Hour})
	if code, _, err := get(dial(t, "127.0.0.1", addr), "/busy"); code != 200 {
		t.Fatalf("busy: %d %v", code, err)
	}
	waitOpen(t, l, 1)
	l.Overflow().Close()
	c := dial(t, "127.0.0.1", addr)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err != io.EOF && !strings.Contains(fmt.Sprint(err), "reset") {
		t.Fatalf("a connection over the limit after the probe path closed: read %d, %v; want it closed", n, err)
	}
	if s := l.Stats(); s.Refused != 1 || s.Overflowed != 0 {
		t.Errorf("stats %+v, want 1 refused", s)
	}
}
