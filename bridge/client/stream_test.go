package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/server/servertest"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

func frame(seq uint64, typ string) string {
	b, _ := json.Marshal(store.Event{Sequence: seq, ID: fmt.Sprint(seq), Type: typ, Data: json.RawMessage(`{}`)})
	return fmt.Sprintf("id: %d\nevent: %s\ndata: %s\n\n", seq, typ, b)
}

// sseBridge answers the n-th stream request (from 0) with script(n,
// since, w); it records each since asked for.
func sseBridge(t *testing.T, script func(n int, since string, w http.ResponseWriter)) (*client.Client, *[]string) {
	var mu sync.Mutex
	var sinces []string
	var n atomic.Int64
	srv, _ := fakeBridge(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/event/stream" {
			api.WriteError(w, 404, "no")
			return
		}
		mu.Lock()
		sinces = append(sinces, r.URL.Query().Get("since"))
		mu.Unlock()
		script(int(n.Add(1)-1), r.URL.Query().Get("since"), w)
	})
	c := fakeClient(t, srv.URL, client.Options{StreamIdle: 300 * time.Millisecond, MaxRetryWait: 2 * time.Second})
	return c, &sinces
}

func ok(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(200)
}

// collect streams until want events arrived (or the stream ends).
func collect(t *testing.T, c *client.Client, since uint64, want int, o client.StreamOptions) ([]uint64, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []uint64
	err := c.Stream(ctx, since, o, func(e store.Event) error {
		got = append(got, e.Sequence)
		if len(got) == want {
			return errStop
		}
		return nil
	})
	return got, err
}

// TestStreamResumesAfterTheLastEvent: a connection that breaks, one the
// Bridge ends with reconnect, a 429 and a silent connection are each
// resumed after the last event delivered, every event once.
func TestStreamResumesAfterTheLastEvent(t *testing.T) {
	var waited time.Time
	c, sinces := sseBridge(t, func(n int, since string, w http.ResponseWriter) {
		switch n {
		case 0: // two events, then the connection breaks
			ok(w)
			fmt.Fprint(w, ": hello\n\n"+frame(1, "a")+frame(2, "b"))
		case 1: // an event already delivered, one new, then reconnect
			ok(w)
			fmt.Fprint(w, frame(2, "b")+frame(3, "c")+"id: 5\nevent: reconnect\nretry: 10\ndata: {}\n\n")
		case 2: // too many streams
			w.Header().Set("Retry-After", "1")
			api.WriteError(w, 429, "too many streams")
			waited = time.Now()
		case 3: // silent: only the header
			ok(w)
			w.(http.Flusher).Flush()
			time.Sleep(time.Second)
		default:
			ok(w)
			fmt.Fprint(w, frame(6, "d"))
		}
	})
	got, err := collect(t, c, 0, 4, client.StreamOptions{Backoff: 10 * time.Millisecond})
	if !errors.Is(err, errStop) || fmt.Sprint(got) != "[1 2 3 6]" {
		t.Fatalf("events %v, %v", got, err)
	}
	if fmt.Sprint(*sinces) != "[0 2 5 5 5]" {
		t.Fatalf("resumed with since %v, want [0 2 5 5 5]", *sinces)
	}
	if time.Since(waited) < 0 || waited.IsZero() {
		t.Fatal("no 429 was met")
	}
}

// TestStreamGivesUp: a Bridge that never delivers is abandoned after
// MaxAttempts connections, with the reason; a 4xx at once.
func TestStreamGivesUp(t *testing.T) {
	c, sinces := sseBridge(t, func(n int, since string, w http.ResponseWriter) {
		ok(w)
		fmt.Fprint(w, "event: error\ndata: \"the store failed\"\n\n")
	})
	_, err := collect(t, c, 7, 1, client.StreamOptions{MaxAttempts: 3, Backoff: time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "the store failed") || len(*sinces) != 3 {
		t.Fatalf("%v after %v", err, *sinces)
	}
	c, sinces = sseBridge(t, func(n int, since string, w http.ResponseWriter) {
		api.WriteError(w, 400, "since must be a sequence number")
	})
	var e *client.Error
	if _, err := collect(t, c, 0, 1, client.StreamOptions{}); !errors.As(err, &e) || e.Status != 400 || len(*sinces) != 1 {
		t.Fatalf("400: %v after %v", err, *sinces)
	}
	c, _ = sseBridge(t, func(n int, since string, w http.ResponseWriter) {
		ok(w)
		fmt.Fprint(w, "data: "+strings.Repeat("x", 5<<20)+"\n\n")
	})
	if _, err := collect(t, c, 0, 1, client.StreamOptions{}); err == nil || !strings.Contains(err.Error(), "larger than the client accepts") {
		t.Fatalf("oversized event: %v", err)
	}
}

// TestStreamOfTheRealBridge: events stored while streaming arrive in
// order; when the stream's session is evicted, the Bridge ends it with
// session_ended and the client goes on with a new session, losing
// nothing.
func TestStreamOfTheRealBridge(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	reader, writer := br.Client("reader", false), br.Client("writer", false)
	ctx := context.Background()
	st, err := reader.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	seen := make(chan struct{}, 100)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- reader.Stream(sctx, st.LastSequence, client.StreamOptions{}, func(e store.Event) error {
			if e.Type == "note" {
				mu.Lock()
				got = append(got, string(e.Data))
				mu.Unlock()
				seen <- struct{}{}
			}
			return nil
		})
	}()
	store := func(n int) {
		if _, err := writer.StoreEvent(ctx, api.EventStoreRequest{EventType: "note", Data: json.RawMessage(fmt.Sprint(n))}); err != nil {
			t.Fatal(err)
		}
	}
	wait := func() {
		select {
		case <-seen:
		case <-time.After(10 * time.Second):
			t.Fatal("an event did not arrive")
		}
	}
	store(1)
	wait()
	first := reader.Token()
	for range 3 { // evict the stream's session
		if _, err := br.Client("reader", false).CreateSession(ctx); err != nil {
			t.Fatal(err)
		}
	}
	store(2)
	wait()
	store(3)
	wait()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("stream ended with %v", err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("events %v", got)
	}
	if reader.Token() == first {
		t.Fatal("the stream went on without a new session")
	}
}
