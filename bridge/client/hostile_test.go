package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// endless writes b for ever (until the client leaves), counting bytes.
func endless(w http.ResponseWriter, r *http.Request, b []byte, sent *atomic.Int64) {
	for r.Context().Err() == nil {
		n, err := w.Write(b)
		sent.Add(int64(n))
		if err != nil {
			return
		}
	}
}

// TestAHostileBridgeCannotExhaustTheClient: answers without end, error
// bodies without end, a header without end, an answer that never comes,
// a redirect, a file larger than the bound and a backup larger than its
// bound all end in a bounded error.
func TestAHostileBridgeCannotExhaustTheClient(t *testing.T) {
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	var sent atomic.Int64
	var redirected atomic.Int64
	srv, _ := fakeBridge(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/expert/list": // a JSON answer without end
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"experts":["`))
			endless(w, r, chunk, &sent)
		case "/task/pending": // an error body without end
			w.WriteHeader(500)
			endless(w, r, chunk, &sent)
		case "/elicitation/pending": // a header without end
			w.Header().Set("X-Big", strings.Repeat("h", 1<<20))
			w.WriteHeader(200)
		case "/expert/delegations": // never answers
			<-r.Context().Done()
		case "/collaboration/c1":
			redirected.Add(1)
			http.Redirect(w, r, "http://example.invalid/steal", http.StatusFound)
		case "/shadow/big":
			w.Header().Set("Content-Length", fmt.Sprint(1<<30))
			w.Header().Set(api.HeaderSequence, "1")
			w.Header().Set(api.HeaderViewSequence, "1")
			w.Header().Set("ETag", `"`+strings.Repeat("ab", 32)+`"`)
			w.WriteHeader(200)
			endless(w, r, chunk, &sent)
		case "/admin/backup":
			endless(w, r, chunk, &sent)
		default:
			api.WriteError(w, 404, "no")
		}
	})
	c := fakeClient(t, srv.URL, client.Options{MaxResponseBytes: 1 << 20, MaxFileBytes: 1 << 20, MaxBackupBytes: 2 << 20, Timeout: 2 * time.Second})
	ctx := context.Background()
	start := time.Now()

	if _, err := c.Experts(ctx); !errors.Is(err, client.ErrResponseTooLarge) {
		t.Errorf("endless JSON: %v", err)
	}
	var e *client.Error
	if _, err := c.PendingTasks(ctx); !errors.As(err, &e) || e.Status != 500 || len(e.Message) > 64<<10 {
		t.Errorf("endless error body: %v", err)
	}
	var te *client.TransportError
	if _, err := c.PendingElicitations(ctx); !errors.As(err, &te) {
		t.Errorf("endless header: %v", err)
	}
	t0 := time.Now()
	if _, err := c.Delegations(ctx); !errors.As(err, &te) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no answer: %v", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("no answer took %v with a 2s timeout", d)
	}
	if _, err := c.Collaboration(ctx, "c1"); !errors.As(err, &e) || e.Status != 302 || redirected.Load() != 1 {
		t.Errorf("redirect: %v (%d requests)", err, redirected.Load())
	}
	if _, err := c.GetShadow(ctx, "big", client.ShadowRead{}); !errors.Is(err, client.ErrResponseTooLarge) {
		t.Errorf("large file: %v", err)
	}
	n, err := c.Backup(ctx, io.Discard)
	if !errors.Is(err, client.ErrResponseTooLarge) || n > 2<<20+1 {
		t.Errorf("large backup: %d %v", n, err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the hostile answers took %v", d)
	}
	// What the client read is bounded by its limits, whatever was sent
	// into the socket buffers.
	t.Logf("the server wrote %d bytes in all", sent.Load())
}

// TestContextCancelsEveryCall: a cancelled context ends a call at once.
func TestContextCancelsEveryCall(t *testing.T) {
	srv, _ := fakeBridge(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // the server notices a gone client only after the body
		<-r.Context().Done()
	})
	c := fakeClient(t, srv.URL, client.Options{Timeout: time.Minute, StreamIdle: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := c.Validate(ctx, api.ValidateRequest{ToolName: "Bash"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("validate: %v", err)
	}
	if _, err := c.Backup(ctx, io.Discard); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("backup: %v", err)
	}
	if err := c.Stream(ctx, 0, client.StreamOptions{}, func(store.Event) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stream: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("cancelled calls took %v", d)
	}
}

func TestBaseURLs(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "http://u:p@h:1", "http://h/?q=1", "http://h/#f", "localhost:8765", "http://h:99999", "http://h:x"} {
		if _, err := client.New(client.Options{BaseURL: u}); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8765", "https://bridge.example/", "http://[::1]:1/prefix"} {
		if _, err := client.New(client.Options{BaseURL: u}); err != nil {
			t.Errorf("%q: %v", u, err)
		}
	}
	for _, o := range []client.Options{
		{BaseURL: "http://h", AgentID: "a:b", AgentKey: strings.Repeat("a", 64)},
		{BaseURL: "http://h", AgentID: "a", AgentKey: "short"},
		{BaseURL: "http://h", AgentID: "a", AgentKey: strings.Repeat("g", 64)},
		{BaseURL: "http://h", AgentKey: strings.Repeat("a", 64)},
		{BaseURL: "http://h", Token: "not a token"},
	} {
		if _, err := client.New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestPathsAreData: ids and shadow paths are escaped, never reshaped:
// what the agent named is what the Bridge judges.
func TestPathsAreData(t *testing.T) {
	var got []string
	srv, _ := fakeBridge(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
		api.WriteError(w, 400, "judged")
	})
	c := fakeClient(t, srv.URL, client.Options{})
	ctx := context.Background()
	c.Task(ctx, "../../admin/backup")
	c.Delegation(ctx, "a/b?c#d")
	c.GetShadow(ctx, "a/../../etc/passwd", client.ShadowRead{})
	c.GetShadow(ctx, "dir/a b?.go", client.ShadowRead{At: client.At(3)})
	c.PutShadow(ctx, "/abs", []byte("x"))
	want := []string{
		"/task/..%2F..%2Fadmin%2Fbackup?",
		"/expert/delegations/a%2Fb%3Fc%23d?",
		"/shadow/a/../../etc/passwd?",
		"/shadow/dir/a%20b%3F.go?at=3",
		"/shadow//abs?",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sent\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := c.Task(ctx, ""); err == nil {
		t.Error("an empty id was sent")
	}
	if _, err := c.GetShadow(ctx, "", client.ShadowRead{}); err == nil {
		t.Error("an empty shadow path was sent")
	}
}

// TestARangeIsTheRangeAskedFor: a 206 whose Content-Range is not the
// range asked for, or disagrees with its length, is refused rather than
// handed over as that range.
func TestARangeIsTheRangeAskedFor(t *testing.T) {
	for name, cr := range map[string]string{"another offset": "bytes 0-3/13", "another length": "bytes 8-12/13", "garbage": "bytes x"} {
		srv, _ := fakeBridge(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set(api.HeaderSequence, "1")
			w.Header().Set(api.HeaderViewSequence, "1")
			w.Header().Set("ETag", `"`+strings.Repeat("ab", 32)+`"`)
			w.Header().Set("Content-Range", cr)
			w.Header().Set("Content-Length", "4")
			w.WriteHeader(http.StatusPartialContent)
			w.Write([]byte("main"))
		})
		c := fakeClient(t, srv.URL, client.Options{})
		if sc, err := c.GetShadow(context.Background(), "f", client.ShadowRead{Offset: 8, Length: 4}); err == nil {
			t.Errorf("%s: %+v taken", name, sc)
		}
	}
}

// TestNotReady: a 503 of /status carries the status (and says what is
// not ready); a 503 that is an error body (the probe path's) is that error.
func TestNotReady(t *testing.T) {
	srv, _ := fakeBridge(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/status":
			api.WriteJSON(w, 503, api.StatusResponse{Status: "not_ready", Mode: "degraded", Components: map[string]string{"fuse_mount": "error: not mounted", "event_store": "ok"}})
		case "/health/ready":
			w.Header().Set("Retry-After", "1")
			api.WriteError(w, 503, "the bridge is at its connection limit")
		}
	})
	c := fakeClient(t, srv.URL, client.Options{})
	st, err := c.Status(context.Background())
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 503 || st.Mode != "degraded" || !strings.Contains(e.Message, "fuse_mount: error: not mounted") {
		t.Fatalf("status: %+v %v", st, err)
	}
	if _, err := c.Ready(context.Background()); !errors.As(err, &e) || e.Status != 503 || e.RetryAfter != time.Second || !strings.Contains(e.Message, "connection limit") {
		t.Fatalf("ready: %v", err)
	}
}
