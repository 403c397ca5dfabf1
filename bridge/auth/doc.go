// Package auth is the Bridge's agent authentication: agent keys derived
// from the secret, session tokens whose HMAC is checked on every request,
// the session projection (rebuilt from the event log, so a restart keeps
// sessions) and the HTTP middleware that binds a verified identity to the
// request context.
package auth
