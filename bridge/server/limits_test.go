package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/config"
)

// startLimited starts a Bridge on 127.0.0.1:0 with limits lim.
func startLimited(t *testing.T, lim config.Limits) (*running, string) {
	t.Helper()
	cfg := testConfig(t.TempDir())
	cfg.Limits = lim
	b, err := New(cfg, Options{GracePeriod: 2 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{b: b, url: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() { r.shutdown(t) })
	return r, ln.Addr().String()
}

// heapBytes is the heap's live objects after a collection.
func heapBytes() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// rawConn connects from a local address of 127.0.0.0/8 and writes raw.
func rawConn(t *testing.T, from, addr, raw string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if raw != "" {
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// reply reads one response from c within d.
func readReply(c net.Conn, d time.Duration) (*http.Response, string, error) {
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

func announce(path, token string, length int, first string) string {
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", path, auth, length, first)
}

// TestAnnouncedBodiesHoldNoMemory: bodies are buffered as their bytes
// arrive, never by the length announced. 200 authenticated and 200
// unauthenticated connections each announce 1 MiB and send one byte; on
// main that held 1 MiB per connection (400 MiB here).
func TestAnnouncedBodiesHoldNoMemory(t *testing.T) {
	r, addr := startLimited(t, config.Limits{MaxConnections: 2000, MaxConnectionsPerClient: 2000})
	tok := session(t, r.url, "mallory")
	before := heapBytes()
	var conns []net.Conn
	for i := range 200 {
		conns = append(conns, rawConn(t, "127.0.0.1", addr, announce("/event/store", tok, 1<<20, "{")))
		conns = append(conns, rawConn(t, "127.0.0.1", addr, announce([]string{"/session/create", "/session/validate", "/event/store"}[i%3], "", 1<<20, "{")))
	}
	time.Sleep(500 * time.Millisecond) // every handler is reading its body
	grown := int64(heapBytes()) - int64(before)
	t.Logf("heap grew %d KiB for %d connections announcing 1 MiB each", grown>>10, len(conns))
	if grown > 48<<20 {
		t.Fatalf("heap grew %d MiB: announced lengths were allocated", grown>>20)
	}
	// The unauthenticated ones were answered without reading the body.
	for i := 1; i < len(conns); i += 2 {
		resp, _, err := readReply(conns[i], 5*time.Second)
		if err != nil || (resp.StatusCode != 413 && resp.StatusCode != 401) {
			t.Fatalf("unauthenticated announcement %d: %v %v", i, resp, err)
		}
	}
}

// TestBytesInFlightAreBounded: bodies actually sent are charged to
// LIGHTHOUSE_MAX_BYTES_IN_FLIGHT; beyond it a request is 503 with
// Retry-After, and the heap stays within the bound.
func TestBytesInFlightAreBounded(t *testing.T) {
	r, addr := startLimited(t, config.Limits{MaxBytesInFlight: 4 << 20})
	tok := session(t, r.url, "mallory")
	before := heapBytes()
	chunk := strings.Repeat("x", 900_000)
	var conns []net.Conn
	for range 10 {
		conns = append(conns, rawConn(t, "127.0.0.1", addr, announce("/event/store", tok, 1_000_000, `{"event_type":"big","data":"`+chunk)))
	}
	time.Sleep(time.Second) // every body has been read as far as it goes
	busy := 0
	for _, c := range conns {
		resp, body, err := readReply(c, 200*time.Millisecond)
		if err != nil {
			continue // still reading its body: within the budget
		}
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "bytes in flight") {
			t.Fatalf("over the budget: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		busy++
	}
	if busy < 5 {
		t.Fatalf("%d of 10 bodies of 900 KB refused with a 4 MiB budget, want at least 5", busy)
	}
	if grown := int64(heapBytes()) - int64(before); grown > 24<<20 {
		t.Fatalf("heap grew %d MiB with a 4 MiB budget", grown>>20)
	}
	// Once they are gone, appends go through again.
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "the budget to be returned", func() bool {
		code, _ := post(t, r.url+"/event/store", tok, `{"event_type":"small","data":1}`)
		return code == 200
	})
}

// serverSockets counts the TCP sockets the server side holds on port.
func serverSockets(t *testing.T, port int) int {
	t.Helper()
	n := 0
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 4 {
				continue
			}
			_, p, _ := strings.Cut(fs[1], ":")
			lp, _ := strconv.ParseInt(p, 16, 32)
			// ESTABLISHED (01) or CLOSE_WAIT (08): still open on our side.
			if int(lp) == port && (fs[3] == "01" || fs[3] == "08") {
				n++
			}
		}
	}
	return n
}

// TestHealthAnswersAtTheConnectionLimits: with every connection busy,
// /health and /status still answer (the probe path) and everything else
// is 503 with Retry-After; an attacker filling the probe path with silent
// connections does not keep a prompt probe out; idle keep-alive
// connections make room for new clients, so a flood of them holds no
// more than the limit of file descriptors.
func TestHealthAnswersAtTheConnectionLimits(t *testing.T) {
	r, addr := startLimited(t, config.Limits{MaxConnections: 20, MaxConnectionsPerClient: 10})
	tok := session(t, r.url, "alice")
	_, ps, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(ps)

	// 20 busy connections: headers sent, body pending.
	var busy []net.Conn
	for i := range 20 {
		busy = append(busy, rawConn(t, fmt.Sprintf("127.0.0.%d", 2+i%2), addr, announce("/event/store", tok, 100, "{")))
	}
	time.Sleep(200 * time.Millisecond)
	probe := func(from, path, token string) (int, http.Header, string) {
		t.Helper()
		raw := "GET " + path + " HTTP/1.1\r\nHost: x\r\n"
		if token != "" {
			raw += "Authorization: Bearer " + token + "\r\n"
		}
		c := rawConn(t, from, addr, raw+"\r\n")
		resp, body, err := readReply(c, 5*time.Second)
		if err != nil {
			t.Fatalf("GET %s from %s: %v", path, from, err)
		}
		return resp.StatusCode, resp.Header, body
	}
	for _, p := range []string{"/health", "/status", "/health/ready"} {
		if code, _, body := probe("127.0.0.4", p, ""); code != 200 {
			t.Fatalf("%s at the limit: %d %s", p, code, body)
		}
	}
	if code, h, body := probe("127.0.0.4", "/event/query", tok); code != 503 || h.Get("Retry-After") == "" || !strings.Contains(body, "connection limit") {
		t.Fatalf("/event/query at the limit: %d %v %s", code, h, body)
	}
	// An attacker fills the probe path with silent connections from many
	// addresses and hammers /health: the probe still gets through.
	for i := range 150 {
		rawConn(t, fmt.Sprintf("127.0.1.%d", 1+i%200), addr, "")
	}
	for i := range 30 {
		rawConn(t, fmt.Sprintf("127.0.3.%d", 1+i), addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	if code, _, body := probe("127.0.0.5", "/health", ""); code != 200 {
		t.Fatalf("/health with the probe path flooded: %d %s", code, body)
	}
	for _, c := range busy {
		c.Close()
	}

	// 300 idle keep-alive connections: each asks once and stays.
	for i := range 300 {
		c := rawConn(t, fmt.Sprintf("127.0.4.%d", 1+i%250), addr, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
		readReply(c, 5*time.Second)
	}
	if n := serverSockets(t, port); n > 20+64+5 {
		t.Fatalf("the server holds %d connections with a limit of 20 (and 64 on the probe path)", n)
	}
	if code, _, body := probe("127.0.0.6", "/event/query?limit=1", tok); code != 200 {
		t.Fatalf("a new client among idle connections: %d %s", code, body)
	}
}

// TestOneAgentCannotSpendTheBytesInFlight: one agent's stalled bodies
// hold at most its share (LIGHTHOUSE_MAX_BYTES_IN_FLIGHT_PER_CLIENT; 429
// beyond it), so another agent's append and an unauthenticated session
// creation still go through; a body that stops arriving for
// LIGHTHOUSE_HEADER_TIMEOUT is dropped with 408 and its bytes returned.
// On main one agent spent the whole budget (every other body 503) for
// the 60 s read timeout.
func TestOneAgentCannotSpendTheBytesInFlight(t *testing.T) {
	r, addr := startLimited(t, config.Limits{MaxBytesInFlight: 8 << 20, MaxBytesInFlightPerClient: 2 << 20,
		HeaderTimeout: 2 * time.Second, ReadTimeout: time.Minute})
	mallory, alice := session(t, r.url, "mallory"), session(t, r.url, "alice")
	chunk := strings.Repeat("x", 900_000)
	var conns []net.Conn
	for range 10 {
		conns = append(conns, rawConn(t, "127.0.0.1", addr, announce("/event/store", mallory, 1_000_000, `{"event_type":"big","data":"`+chunk)))
	}
	time.Sleep(500 * time.Millisecond)
	refused := 0
	for _, c := range conns {
		resp, body, err := readReply(c, 100*time.Millisecond)
		if err != nil {
			continue // holding its bytes
		}
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, config.EnvMaxBytesInFlightPerClient) {
			t.Fatalf("over mallory's share: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		refused++
	}
	if refused < 7 {
		t.Fatalf("%d of mallory's 10 bodies of 900 KB refused with a 2 MiB share, want at least 7", refused)
	}
	if code, body := post(t, r.url+"/event/store", alice, `{"event_type":"note","data":"`+strings.Repeat("y", 500_000)+`"}`); code != 200 {
		t.Fatalf("alice while mallory holds her share: %d %v", code, body)
	}
	if tok := session(t, r.url, "bob"); tok == "" {
		t.Fatal("no session for bob")
	}
	// The held bodies stall: 408 after the header timeout (or the
	// connection closed), bytes returned.
	for _, c := range conns {
		resp, body, err := readReply(c, 5*time.Second)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("a stalled body is still held: %v", err)
		}
		if err == nil && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("stalled body: %d %s", resp.StatusCode, body)
		}
	}
	waitFor(t, "mallory's bytes to be returned", func() bool {
		code, _ := post(t, r.url+"/event/store", mallory, `{"event_type":"small","data":1}`)
		return code == 200
	})
}
