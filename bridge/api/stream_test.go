package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// rawStream opens /event/stream on a connection of its own, read only
// when the test reads it.
func (e *env) rawStream(tok string, since uint64) (net.Conn, *bufio.Reader) {
	e.t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET /event/stream?since=%d HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", since, tok)
	return c, bufio.NewReaderSize(c, 64<<10)
}

// TestStreamCaps: beyond the per-agent and the total caps a stream is
// 429 with Retry-After; a closed stream frees its place.
func TestStreamCaps(t *testing.T) {
	e := newEnvWith(t, Limits{MaxStreams: 3, MaxStreamsPerAgent: 2})
	alice, bob, carol := e.session("alice", false), e.session("bob", false), e.session("carol", false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(tok string) (*http.Response, context.CancelFunc) {
		t.Helper()
		c, stop := context.WithCancel(ctx)
		req, _ := http.NewRequestWithContext(c, "GET", e.url+"/event/stream", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, stop
	}
	want := func(resp *http.Response, code int, detail string) {
		t.Helper()
		if resp.StatusCode != code {
			t.Fatalf("stream: %d, want %d", resp.StatusCode, code)
		}
		if code == 429 {
			var b ErrorResponse
			json.NewDecoder(resp.Body).Decode(&b)
			if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 1 || !strings.Contains(b.Detail, detail) {
				t.Fatalf("429: Retry-After %q, %q", resp.Header.Get("Retry-After"), b.Detail)
			}
		}
	}
	r1, stop1 := open(alice)
	want(r1, 200, "")
	r2, _ := open(alice)
	want(r2, 200, "")
	r3, _ := open(alice)
	want(r3, 429, `agent "alice" already has 2 open event streams`)
	r4, _ := open(bob)
	want(r4, 200, "")
	r5, _ := open(carol)
	want(r5, 429, "the bridge serves 3 event streams")
	stop1()
	r1.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.hub.Streams() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams after one closed", e.srv.hub.Streams())
		}
		time.Sleep(time.Millisecond)
	}
	r6, _ := open(carol)
	want(r6, 200, "")
}

// TestStreamsShareOneEncoding: many streams of the same events cost one
// encoding per event, not one per stream.
func TestStreamsShareOneEncoding(t *testing.T) {
	e := newEnvWith(t, Limits{MaxStreamsPerAgent: 50, MaxStreams: 50})
	tok := e.session("alice", false)
	var streams []<-chan [2]string
	for range 20 {
		streams = append(streams, e.openStream(tok, e.store.LastSequence()))
	}
	for i := range 30 {
		e.do("POST", "/event/store", tok, fmt.Sprintf(`{"event_type":"n","data":%d}`, i))
	}
	for i, s := range streams {
		for j := range 30 {
			select {
			case m := <-s:
				var ev store.Event
				json.Unmarshal([]byte(m[1]), &ev)
				if string(ev.Data) != strconv.Itoa(j) {
					t.Fatalf("stream %d message %d: %s", i, j, m[1])
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("stream %d got %d of 30", i, j)
			}
		}
	}
	if n := e.srv.hub.encoded.Load(); n > 31 { // a session refresh may add one
		t.Fatalf("%d encodings for 30 events to 20 streams", n)
	}
	if n := e.srv.hub.caughtUp.Load(); n != 0 {
		t.Fatalf("%d events encoded for one stream alone", n)
	}
}

// TestSlowStreamIsToldToReconnect: a stream whose reader stops reading
// does not hold appends back or grow memory: once the frames it needs
// have left the shared buffer it is ended with a "reconnect" event whose
// id is the last sequence it covered, and resuming there (Last-Event-ID)
// gives every event, in order, none twice.
func TestSlowStreamIsToldToReconnect(t *testing.T) {
	e := newEnvWith(t, Limits{StreamBufferEvents: 16, StreamBufferBytes: 1 << 20})
	tok := e.session("alice", false)
	start := e.store.LastSequence()
	conn, rd := e.rawStream(tok, start)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stream: %v %v", resp, err)
	}
	// Nobody reads: 200 events of 64 KiB fill the socket's buffers, and
	// the shared buffer turns over many times. Every append returns.
	big := strings.Repeat("x", 64<<10)
	const n = 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if code, b := e.do("POST", "/event/store", tok, fmt.Sprintf(`{"event_type":"big","data":{"i":%d,"pad":%q}}`, i, big)); code != 200 {
				t.Errorf("append %d: %d %s", i, code, b)
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second): // generous: the race detector slows appends tenfold
		t.Fatal("appends blocked behind a stream nobody reads")
	}
	seen := map[int]bool{}
	last := -1
	read := func(r *bufio.Reader) (resume string, ended bool) {
		var name, id string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return "", true
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case strings.HasPrefix(line, "event: "):
				name = line[7:]
			case strings.HasPrefix(line, "id: "):
				id = line[4:]
			case strings.HasPrefix(line, "data: ") && name == "reconnect":
				return id, false
			case strings.HasPrefix(line, "data: ") && name == "big":
				var ev struct {
					Data struct{ I int } `json:"data"`
				}
				json.Unmarshal([]byte(line[6:]), &ev)
				if seen[ev.Data.I] || ev.Data.I <= last {
					t.Fatalf("event %d twice or out of order (after %d)", ev.Data.I, last)
				}
				seen[ev.Data.I], last = true, ev.Data.I
				if last == n-1 {
					return "", false
				}
			}
		}
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resume, ended := read(bufio.NewReader(resp.Body))
	if ended || resume == "" {
		t.Fatalf("the stream ended (%v) without a reconnect event after event %d of %d", ended, last, n)
	}
	seq, err := strconv.ParseUint(resume, 10, 64)
	if err != nil || seq < start {
		t.Fatalf("reconnect id %q", resume)
	}
	// Resuming from the id the reconnect event gave delivers the rest.
	conn2, rd2 := e.rawStream(tok, seq)
	conn2.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp2, err := http.ReadResponse(rd2, nil)
	if err != nil || resp2.StatusCode != 200 {
		t.Fatalf("resumed stream: %v %v", resp2, err)
	}
	if _, ended := read(bufio.NewReader(resp2.Body)); ended || last != n-1 || len(seen) != n {
		t.Fatalf("after resuming: last %d, %d of %d events", last, len(seen), n)
	}
}

// TestStreamHeadAnswersAtOnce: HEAD /event/stream gives the stream's
// headers and ends, rather than streaming into a body nobody gets.
func TestStreamHeadAnswersAtOnce(t *testing.T) {
	e := newEnv(t)
	tok := e.session("alice", false)
	req, _ := http.NewRequest("HEAD", e.url+"/event/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.srv.hub.Streams() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the HEAD request still counts as an open stream")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRingSurvivesAGapInTheLog: frames after a gap in the sequence (a
// damaged store) restart the ring instead of stalling the pump.
func TestRingSurvivesAGapInTheLog(t *testing.T) {
	h := newHub(nil, Limits{}.withDefaults())
	h.restart(10)
	f := func(seq uint64) *frame { return &frame{seq: seq, size: 1, chunks: [][]byte{[]byte("x")}} }
	h.publish([]*frame{f(11), f(12), f(15), f(16), f(16)})
	if got := h.read(14); got.before || len(got.frames) != 2 || got.frames[0].seq != 15 || got.frames[1].seq != 16 {
		t.Fatalf("after the gap: %+v", got)
	}
	if got := h.read(11); !got.before || got.epoch != 2 {
		t.Fatalf("a cursor before the gap: %+v, want before the ring in a new epoch", got)
	}
}

// TestStreamsThatDoNotReadHoldNoCopies: 48 streams whose readers never
// read, then three events of 1 MiB of '<'. A stream writes the shared
// frame in chunks and holds at most one chunk and its batch buffer, and
// the frame is not escaped for HTML, so the heap grows by about the
// frames, not by streams × frames (on main each stream copied each
// 6 MiB frame: 288 MiB here; the reviewer's 512 streams were OOM-killed
// in 1 GiB).
func TestStreamsThatDoNotReadHoldNoCopies(t *testing.T) {
	e := newEnvWith(t, Limits{MaxStreams: 64, MaxStreamsPerAgent: 8})
	var conns []net.Conn
	for a := range 6 {
		tok := e.session(fmt.Sprintf("reader-%d", a), false)
		for range 8 {
			d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			}}
			c, err := d.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			fmt.Fprintf(c, "GET /event/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", tok)
			conns = append(conns, c)
		}
	}
	waitUntil(t, func() bool { return e.srv.Streams() == len(conns) })
	before := heapBytes()
	w := e.session("writer", false)
	body := fmt.Sprintf(`{"event_type":"note","data":%q}`, strings.Repeat("<", 1<<20-64))
	for i := range 3 {
		if code, b := e.do("POST", "/event/store", w, body); code != 200 {
			t.Fatalf("append %d: %d %s", i, code, b)
		}
	}
	time.Sleep(time.Second) // every stream is blocked in a write
	grown := int64(heapBytes()) - int64(before)
	t.Logf("heap grew %d MiB with %d streams not reading 3 events of 1 MiB", grown>>20, len(conns))
	if grown > 48<<20 {
		t.Fatalf("heap grew %d MiB: streams hold copies of the frames", grown>>20)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// heapBytes is the heap's live objects after a collection.
func heapBytes() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestStoredEventsCannotPoseAsControlEvents: an agent may store an event
// of type reconnect, session_ended or error (snake_case names); on the
// stream it is named "event", so no reader takes it for the stream's
// own word to resume elsewhere, renew its session or stop.
func TestStoredEventsCannotPoseAsControlEvents(t *testing.T) {
	for _, typ := range []string{SSEReconnect, SSESessionEnded, SSEError} {
		f := string(encodeFrame(&store.Event{Sequence: 7, Type: typ, Data: json.RawMessage(`{}`)}))
		if !strings.Contains(f, "\nevent: event\n") {
			t.Errorf("an event of type %q is framed as %q", typ, f)
		}
	}
	if f := string(encodeFrame(&store.Event{Sequence: 7, Type: "build_done", Data: json.RawMessage(`{}`)})); !strings.Contains(f, "\nevent: build_done\n") {
		t.Errorf("an ordinary type lost its name: %q", f)
	}
}
