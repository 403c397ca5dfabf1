package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Appender is the part of the event store the manager needs: sessions are
// created and refreshed by appending events.
type Appender interface {
	Append(ctx context.Context, events ...store.Event) ([]store.Event, error)
}

// Errors of authentication. All of them mean 401 to a client.
var (
	ErrWrongKey       = errors.New("agent key does not match the agent id")
	ErrNoToken        = errors.New("missing bearer token: send Authorization: Bearer <session_token>")
	ErrBadSignature   = errors.New("session token signature is invalid")
	ErrUnknownSession = errors.New("session does not exist or was evicted; create a new one")
	ErrExpired        = errors.New("session expired after an hour idle; create a new one")
)

// Manager creates sessions and authenticates requests.
type Manager struct {
	secret   []byte
	sessions *Sessions
	app      Appender
	now      func() time.Time
	// RefreshEvery is how often a session's sliding expiry is written to
	// the log; between writes it slides in memory. A restart may therefore
	// forget up to this much of a session's idle time.
	RefreshEvery time.Duration

	mu         sync.Mutex
	refreshing map[string]bool
}

// NewManager returns a manager over the sessions projection. now may be nil
// (time.Now); tests pass a clock to exercise expiry.
func NewManager(secret []byte, sessions *Sessions, app Appender, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	return &Manager{
		secret: secret, sessions: sessions, app: app, now: now,
		RefreshEvery: time.Minute, refreshing: map[string]bool{},
	}
}

// Sessions is the projection the manager reads.
func (m *Manager) Sessions() *Sessions { return m.sessions }

// NewSession is what /session/create returns.
type NewSession struct {
	SessionID string    `json:"session_id"`
	Token     string    `json:"session_token"`
	ExpiresAt time.Time `json:"expires_at"`
	AgentID   string    `json:"agent_id"`
	Admin     bool      `json:"admin,omitempty"`
}

// CreateSession checks agentID's key and records a new session durably.
// A fourth session of the agent evicts its oldest.
func (m *Manager) CreateSession(ctx context.Context, agentID, key string) (NewSession, error) {
	if err := ValidAgentID(agentID); err != nil {
		return NewSession{}, err
	}
	ok, admin := CheckAgentKey(m.secret, agentID, key)
	if !ok {
		return NewSession{}, ErrWrongKey
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return NewSession{}, err
	}
	sid := hex.EncodeToString(raw[:])
	now := m.now()
	data, _ := json.Marshal(sessionCreated{SessionID: sid, AgentID: agentID, Admin: admin, IssuedAt: now.Unix()})
	_, err := m.app.Append(ctx, store.Event{
		Type: EventSessionCreated, AggregateID: sid, AggregateType: "session", AgentID: agentID, Data: data,
	})
	if err != nil {
		return NewSession{}, err
	}
	tok := MintToken(m.secret, sid, agentID, now.Unix())
	return NewSession{
		SessionID: sid, Token: tok.String(), ExpiresAt: now.Add(SessionTTL).UTC().Truncate(time.Second),
		AgentID: agentID, Admin: admin,
	}, nil
}

// check verifies a token against the secret and the live sessions without
// touching the session.
func (m *Manager) check(token string) (Identity, SessionRecord, error) {
	t, err := ParseToken(token)
	if err != nil {
		return Identity{}, SessionRecord{}, err
	}
	if !t.Verify(m.secret) {
		return Identity{}, SessionRecord{}, ErrBadSignature
	}
	r, seen, ok := m.sessions.Get(t.SessionID)
	if !ok || r.AgentID != t.AgentID || r.Issued != t.Issued {
		return Identity{}, SessionRecord{}, ErrUnknownSession
	}
	if m.now().Sub(seen) > SessionTTL {
		return Identity{}, SessionRecord{}, ErrExpired
	}
	return Identity{AgentID: r.AgentID, Admin: r.Admin, SessionID: r.ID}, r, nil
}

// Valid reports whether token is a live session of agentID (for
// /session/validate); it does not extend the session.
func (m *Manager) Valid(token, agentID string) bool {
	id, _, err := m.check(token)
	return err == nil && id.AgentID == agentID
}

// Check verifies token as Authenticate does (signature, live session,
// not expired) without sliding the session's expiry. A long-lived
// response such as the SSE stream calls it before each delivery, so the
// token is verified on every use and an evicted or expired session stops
// receiving; holding a stream open does not keep a session alive.
func (m *Manager) Check(token string) error {
	_, _, err := m.check(token)
	return err
}

// Authenticate verifies a bearer token and slides the session's expiry.
func (m *Manager) Authenticate(ctx context.Context, token string) (Identity, error) {
	id, r, err := m.check(token)
	if err != nil {
		return Identity{}, err
	}
	now := m.now()
	m.sessions.touch(id.SessionID, now)
	if now.Sub(r.LastSeen) >= m.RefreshEvery {
		m.persistRefresh(ctx, id, now)
	}
	return id, nil
}

// persistRefresh writes a session_refreshed event, once at a time per
// session. A failure only shortens the session after a restart, so it does
// not fail the request.
func (m *Manager) persistRefresh(ctx context.Context, id Identity, at time.Time) {
	m.mu.Lock()
	if m.refreshing[id.SessionID] {
		m.mu.Unlock()
		return
	}
	m.refreshing[id.SessionID] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.refreshing, id.SessionID)
		m.mu.Unlock()
	}()
	data, _ := json.Marshal(sessionRefreshed{SessionID: id.SessionID, At: at.UTC()})
	m.app.Append(context.WithoutCancel(ctx), store.Event{
		Type: EventSessionRefreshed, AggregateID: id.SessionID, AggregateType: "session", AgentID: id.AgentID, Data: data,
	})
}

// BearerToken extracts the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", ErrNoToken
	}
	return strings.TrimSpace(tok), nil
}

// Middleware returns a wrapper that admits only requests with a valid
// bearer token and stores their Identity in the context (FromContext).
// fail writes the 401 answer, so the HTTP layer keeps one error format.
func (m *Manager) Middleware(fail func(w http.ResponseWriter, r *http.Request, status int, msg string)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := BearerToken(r)
			if err == nil {
				var id Identity
				id, err = m.Authenticate(r.Context(), tok)
				if err == nil {
					next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), id)))
					return
				}
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="lighthouse-bridge"`)
			fail(w, r, http.StatusUnauthorized, err.Error())
		})
	}
}
