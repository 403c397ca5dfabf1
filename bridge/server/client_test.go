package server

import (
	"context"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/client"
)

// The tests talk to the Bridge through bridge/client wherever they use
// the API as a client would; the raw helpers (post, call, do) remain for
// what the API must refuse or answer at the HTTP level.

// tokenClient is a client holding tok alone: a 401 is final, never
// renewed behind the test's back.
func tokenClient(t testing.TB, url, tok string) *client.Client {
	t.Helper()
	c, err := client.New(client.Options{BaseURL: url, Token: tok, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// agentClient is a client of agent with its key (an admin's with admin).
func agentClient(t testing.TB, url, agent string, admin bool) *client.Client {
	t.Helper()
	key, err := auth.AgentKey(secret, agent, admin)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{BaseURL: url, AgentID: agent, AgentKey: key, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newSession creates a session of agent and returns its token.
func newSession(t testing.TB, url, agent string, admin bool) string {
	t.Helper()
	c := agentClient(t, url, agent, admin)
	defer c.CloseIdleConnections() // no connection of it left counted by the bridge
	ns, err := c.CreateSession(context.Background())
	if err != nil {
		t.Fatalf("session of %s: %v", agent, err)
	}
	return ns.Token
}
