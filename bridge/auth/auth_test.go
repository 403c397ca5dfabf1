package auth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func TestAgentKeys(t *testing.T) {
	k, err := AgentKey(secret, "builder-1", false)
	if err != nil {
		t.Fatal(err)
	}
	ak, _ := AgentKey(secret, "builder-1", true)
	if k == ak || len(k) != 64 {
		t.Fatalf("keys %q %q", k, ak)
	}
	if ok, admin := CheckAgentKey(secret, "builder-1", k); !ok || admin {
		t.Fatal("own key rejected or admin")
	}
	if ok, admin := CheckAgentKey(secret, "builder-1", ak); !ok || !admin {
		t.Fatal("admin key not recognised")
	}
	if ok, _ := CheckAgentKey(secret, "builder-2", k); ok {
		t.Fatal("another agent's key accepted")
	}
	if ok, _ := CheckAgentKey([]byte("another-secret-another-secret-xx"), "builder-1", k); ok {
		t.Fatal("key from another secret accepted")
	}
	for _, bad := range []string{"", "a:b", "-x", "a b", strings.Repeat("a", 129), "é"} {
		if _, err := AgentKey(secret, bad, false); err == nil {
			t.Errorf("agent id %q accepted", bad)
		}
	}
}

func TestTokenRoundTripAndTamper(t *testing.T) {
	tok := MintToken(secret, strings.Repeat("ab", 16), "agent.x", 1700000000)
	p, err := ParseToken(tok.String())
	if err != nil {
		t.Fatal(err)
	}
	if !p.Verify(secret) || p.AgentID != "agent.x" || p.Issued != 1700000000 {
		t.Fatalf("round trip: %+v", p)
	}
	s := tok.String()
	for _, forged := range []string{
		strings.Replace(s, "agent.x", "agent.y", 1),
		strings.Replace(s, "1700000000", "1700000001", 1),
		s[:len(s)-1] + map[bool]string{true: "1", false: "0"}[s[len(s)-1] == '0'],
	} {
		p, err := ParseToken(forged)
		if err != nil {
			t.Fatalf("%q: %v", forged, err)
		}
		if p.Verify(secret) {
			t.Errorf("forged token %q verifies", forged)
		}
	}
	for _, bad := range []string{"", "a:b:c", s + ":x", "ABAB" + s[4:], strings.Replace(s, "1700000000", "-1", 1), strings.Replace(s, "1700000000", "017", 1)} {
		if _, err := ParseToken(bad); err == nil {
			t.Errorf("malformed %q parsed", bad)
		}
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func setup(t *testing.T, dir string, c *clock) (*Manager, *store.Store) {
	t.Helper()
	st, err := store.Open(dir, store.Options{Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ss := NewSessions()
	if err := st.Attach(0, ss); err != nil {
		t.Fatal(err)
	}
	return NewManager(secret, ss, st, c.now), st
}

func TestSessionLifecycle(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m, _ := setup(t, t.TempDir(), c)
	ctx := context.Background()
	key, _ := AgentKey(secret, "alice", false)
	if _, err := m.CreateSession(ctx, "alice", "00"+key[2:]); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("wrong key: %v", err)
	}
	s, err := m.CreateSession(ctx, "alice", key)
	if err != nil {
		t.Fatal(err)
	}
	if !s.ExpiresAt.Equal(c.now().Add(time.Hour)) {
		t.Fatalf("expires_at %v", s.ExpiresAt)
	}
	id, err := m.Authenticate(ctx, s.Token)
	if err != nil || id.AgentID != "alice" || id.Admin {
		t.Fatalf("authenticate: %+v %v", id, err)
	}
	// Sliding: 50 minutes idle, use, 50 minutes more is still alive.
	c.add(50 * time.Minute)
	if _, err := m.Authenticate(ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	c.add(50 * time.Minute)
	if !m.Valid(s.Token, "alice") {
		t.Fatal("session expired despite use")
	}
	if m.Valid(s.Token, "bob") {
		t.Fatal("token valid for another agent")
	}
	// Check verifies without sliding: 40 more minutes of checks only (an
	// open event stream) and the session has been idle over an hour.
	c.add(5 * time.Minute)
	if err := m.Check(s.Token); err != nil {
		t.Fatalf("check of a live session: %v", err)
	}
	if err := m.Check(s.Token + "0"); err == nil {
		t.Fatal("check accepted a tampered token")
	}
	c.add(35 * time.Minute)
	if err := m.Check(s.Token); !errors.Is(err, ErrExpired) {
		t.Fatalf("check after 90 minutes without a request: %v", err)
	}
	c.add(61 * time.Minute)
	if _, err := m.Authenticate(ctx, s.Token); !errors.Is(err, ErrExpired) {
		t.Fatalf("after 61 idle minutes: %v", err)
	}
}

func TestFourthSessionEvictsOldestAndRestartKeepsSessions(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	m, st := setup(t, dir, c)
	ctx := context.Background()
	key, _ := AgentKey(secret, "bob", true)
	var toks []string
	for i := 0; i < 4; i++ {
		s, err := m.CreateSession(ctx, "bob", key)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Admin {
			t.Fatal("admin key gave a non-admin session")
		}
		toks = append(toks, s.Token)
	}
	if _, err := m.Authenticate(ctx, toks[0]); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("oldest session still valid: %v", err)
	}
	c.add(30 * time.Minute)
	if _, err := m.Authenticate(ctx, toks[3]); err != nil {
		t.Fatal(err)
	}
	st.Close()

	c.add(45 * time.Minute) // 75 min after creation, 45 after toks[3]'s last use
	m2, _ := setup(t, dir, c)
	if id, err := m2.Authenticate(ctx, toks[3]); err != nil || !id.Admin || id.AgentID != "bob" {
		t.Fatalf("session lost across restart: %+v %v", id, err)
	}
	for _, tok := range toks[1:3] {
		if _, err := m2.Authenticate(ctx, tok); !errors.Is(err, ErrExpired) {
			t.Fatalf("unused session after 75 min: %v", err)
		}
	}
	if _, err := m2.Authenticate(ctx, toks[0]); !errors.Is(err, ErrUnknownSession) {
		t.Fatalf("evicted session back after restart: %v", err)
	}
	if n, agents := m2.Sessions().Active(c.now()); n != 1 || agents != 1 {
		t.Fatalf("Active = %d sessions, %d agents", n, agents)
	}
	ss := NewSessions()
	ss.Restore(m2.Sessions().State())
	if len(ss.State()) != 3 {
		t.Fatalf("State/Restore round trip: %+v", ss.State())
	}
}

func TestTokenFromAnotherSecretRejected(t *testing.T) {
	c := &clock{t: time.Now()}
	m, _ := setup(t, t.TempDir(), c)
	key, _ := AgentKey(secret, "alice", false)
	s, err := m.CreateSession(context.Background(), "alice", key)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := ParseToken(s.Token)
	forged := MintToken([]byte("some-other-secret-some-other-secret"), p.SessionID, "alice", p.Issued)
	if _, err := m.Authenticate(context.Background(), forged.String()); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged: %v", err)
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add(MintToken(secret, strings.Repeat("0f", 16), "agent-1", 1700000000).String())
	f.Add("")
	f.Add(":::")
	f.Add("00000000000000000000000000000000:a:1:" + strings.Repeat("0", 64))
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		// A parsed token re-serialises to its input and never verifies
		// unless it was minted with the secret.
		if tok.String() != s {
			t.Fatalf("round trip %q -> %q", s, tok.String())
		}
		if tok.Verify(secret) && MintToken(secret, tok.SessionID, tok.AgentID, tok.Issued).String() != s {
			t.Fatalf("verified a token the secret did not mint: %q", s)
		}
	})
}

// TestSessionsIgnoreEventsOfAnotherAgent: the projection only applies a
// session event appended under the agent it concerns, as the Manager
// writes them, so an event appended by another agent grants nothing.
func TestSessionsIgnoreEventsOfAnotherAgent(t *testing.T) {
	s := NewSessions()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	created := func(admin bool) json.RawMessage {
		b, _ := json.Marshal(sessionCreated{SessionID: "s1", AgentID: "builder", Admin: admin, IssuedAt: at.Unix()})
		return b
	}
	if err := s.Apply(store.Event{Sequence: 1, Type: EventSessionCreated, AgentID: "builder", Timestamp: at, Data: created(false)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Apply(store.Event{Sequence: 2, Type: EventSessionCreated, AgentID: "mallory", Timestamp: at, Data: created(true)}); err == nil {
		t.Error("session_created of builder appended by mallory was applied")
	}
	later, _ := json.Marshal(sessionRefreshed{SessionID: "s1", At: at.Add(time.Hour)})
	if err := s.Apply(store.Event{Sequence: 3, Type: EventSessionRefreshed, AgentID: "mallory", Timestamp: at, Data: later}); err == nil {
		t.Error("session_refreshed of builder's session appended by mallory was applied")
	}
	r, seen, ok := s.Get("s1")
	if !ok || r.Admin || !seen.Equal(at) {
		t.Fatalf("session after forged events: %+v seen %s ok %v; want builder's, not admin, last seen %s", r, seen, ok, at)
	}
	if err := s.Apply(store.Event{Sequence: 4, Type: EventSessionRefreshed, AgentID: "builder", Timestamp: at, Data: later}); err != nil {
		t.Fatal(err)
	}
	if _, seen, _ := s.Get("s1"); !seen.Equal(at.Add(time.Hour)) {
		t.Errorf("builder's own refresh not applied: last seen %s", seen)
	}
}
