package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/server/servertest"
)

func event(n int) api.EventStoreRequest {
	return api.EventStoreRequest{EventType: "probe", Data: json.RawMessage(fmt.Sprint(n))}
}

// TestExpiredAndEvictedSessionsAreRenewed: a session that expired (an
// hour idle) or was evicted (a fourth session of the agent) is replaced
// by a new one, and the call that met the 401 succeeds.
func TestExpiredAndEvictedSessionsAreRenewed(t *testing.T) {
	clock := servertest.NewClock()
	br := servertest.Start(t, servertest.Options{Clock: clock})
	c := br.Client("alice", false)
	ctx := context.Background()
	if _, err := c.StoreEvent(ctx, event(1)); err != nil {
		t.Fatal(err)
	}
	first := c.Token()
	clock.Add(2 * time.Hour)
	if _, err := c.StoreEvent(ctx, event(2)); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	second := c.Token()
	if second == first {
		t.Fatal("the expired session was kept")
	}
	for range 3 { // three newer sessions evict the client's
		if _, err := br.Client("alice", false).CreateSession(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.StoreEvent(ctx, event(3)); err != nil {
		t.Fatalf("after eviction: %v", err)
	}
	if c.Token() == second {
		t.Fatal("the evicted session was kept")
	}
	q, err := c.QueryEvents(ctx, api.EventQuery{EventType: "probe"})
	if err != nil || q.Count != 3 {
		t.Fatalf("each call stored once: %+v %v", q, err)
	}
}

// TestConcurrentCallsRenewOnce: calls meeting the same expired session
// at once create one new session between them, not one each.
func TestConcurrentCallsRenewOnce(t *testing.T) {
	clock := servertest.NewClock()
	br := servertest.Start(t, servertest.Options{Clock: clock})
	c := br.Client("alice", false)
	ctx := context.Background()
	if _, err := c.StoreEvent(ctx, event(0)); err != nil {
		t.Fatal(err)
	}
	clock.Add(2 * time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.StoreEvent(ctx, event(i+1))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	q, err := c.QueryEvents(ctx, api.EventQuery{EventType: auth.EventSessionCreated})
	if err != nil || q.Count != 2 {
		t.Fatalf("sessions created: %d (want the first and one renewal) %v", q.Count, err)
	}
}

// fakeBridge answers /session/create with a well-formed session and
// every other request with what answer says, counting the requests.
func fakeBridge(t *testing.T, answer http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if r.URL.Path == "/session/create" {
			tok := auth.MintToken([]byte("x"), strings.Repeat("a", 32), "alice", time.Now().Unix())
			api.WriteJSON(w, 200, auth.NewSession{SessionID: tok.SessionID, Token: tok.String(), AgentID: "alice"})
			return
		}
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func fakeClient(t *testing.T, url string, o client.Options) *client.Client {
	t.Helper()
	o.BaseURL = url
	if o.AgentID == "" {
		o.AgentID, o.AgentKey = "alice", strings.Repeat("ab", 32)
	}
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRenewalIsTriedOnce: a Bridge that refuses every session gets one
// renewal, then the 401 is the caller's error.
func TestRenewalIsTriedOnce(t *testing.T) {
	srv, n := fakeBridge(t, func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, http.StatusUnauthorized, "session expired")
	})
	c := fakeClient(t, srv.URL, client.Options{})
	_, err := c.StoreEvent(context.Background(), event(1))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 401 || e.Message != "session expired" || e.Code != "unauthorized" {
		t.Fatalf("err %v", err)
	}
	if got := n.Load(); got != 4 { // create, call, create, call
		t.Fatalf("%d requests, want 4", got)
	}
}

// TestWrongKeyIsAClearError: the Bridge's 401 for a wrong key, once.
func TestWrongKeyIsAClearError(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	c, err := client.New(client.Options{BaseURL: br.URL, AgentID: "alice", AgentKey: br.Key("mallory", false)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StoreEvent(context.Background(), event(1))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 401 || !strings.Contains(e.Message, `agent_key is not the key of agent "alice"`) {
		t.Fatalf("err %v", err)
	}
	// Without credentials a route that needs a session sends nothing.
	anon, _ := client.New(client.Options{BaseURL: br.URL})
	if _, err := anon.StoreEvent(context.Background(), event(1)); !errors.Is(err, client.ErrNoCredentials) {
		t.Fatalf("no credentials: %v", err)
	}
}

// TestErrorsCarryTheBridgesAnswer: status, code, message and
// Retry-After of a refusal, from the real Bridge and from a fake one.
func TestErrorsCarryTheBridgesAnswer(t *testing.T) {
	br := servertest.Start(t, servertest.Options{})
	c := br.Client("alice", false)
	_, err := c.StoreEvent(context.Background(), api.EventStoreRequest{EventType: "probe", AgentID: "bob", Data: json.RawMessage(`1`)})
	var e *client.Error
	if !errors.As(err, &e) || e.Status != 403 || e.Code != "forbidden" || !strings.Contains(e.Message, `may not act as agent "bob"`) ||
		e.Method != "POST" || e.Path != "/event/store" {
		t.Fatalf("forged agent: %#v", err)
	}
	if _, err := c.Task(context.Background(), "nope"); !errors.As(err, &e) || e.Status != 404 {
		t.Fatalf("unknown task: %v", err)
	}
	srv, _ := fakeBridge(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		api.WriteError(w, http.StatusTooManyRequests, "slow down\x1b[31m\nplease")
	})
	_, err = fakeClient(t, srv.URL, client.Options{}).Experts(context.Background())
	if !errors.As(err, &e) || e.Status != 429 || e.RetryAfter != 7*time.Second || !e.Temporary() {
		t.Fatalf("429: %#v", err)
	}
	if strings.ContainsAny(e.Message, "\x1b\n") || !strings.Contains(e.Error(), "slow down") {
		t.Fatalf("the message keeps control characters: %q", e.Message)
	}
}
