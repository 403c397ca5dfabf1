package auth

import "context"

// Identity is who a request comes from, as proven by its session token.
// Handlers take the agent from here, never from the request body.
type Identity struct {
	AgentID   string
	Admin     bool
	SessionID string
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the verified identity the auth middleware stored.
// ok is false on routes that are not authenticated.
func FromContext(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(ctxKey{}).(Identity)
	return id, ok
}
