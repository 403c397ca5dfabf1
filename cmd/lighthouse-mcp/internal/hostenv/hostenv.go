// Package hostenv reads the configuration of the host side (the MCP
// server lighthouse-mcp and its PreToolUse hook) from the environment an
// agent starts them with: which Bridge, as which agent, with which key,
// and how long to wait. It reads only through the getenv it is given.
package hostenv

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/client"
)

// The variables the host side reads.
const (
	// EnvBridgeURL is the Bridge's base URL, "http://127.0.0.1:8765".
	EnvBridgeURL = "LIGHTHOUSE_BRIDGE_URL"
	// EnvAgentID is the agent's id, as given to `lighthouse-bridge token --agent`.
	EnvAgentID = "LIGHTHOUSE_AGENT_ID"
	// EnvAgentKey is the key `lighthouse-bridge token --agent ID` printed
	// (64 hex digits).
	EnvAgentKey = "LIGHTHOUSE_AGENT_KEY"
	// EnvTimeout bounds each call to the Bridge (default 30s).
	EnvTimeout = "LIGHTHOUSE_BRIDGE_TIMEOUT"
	// EnvValidateTimeout bounds POST /validate, which may wait for an
	// expert (default 45s: the Bridge waits 30s for one).
	EnvValidateTimeout = "LIGHTHOUSE_VALIDATE_TIMEOUT"
	// EnvHookUnreachable is what the hook answers when the Bridge cannot
	// decide (no answer, 429, 502, 503, 504): deny (default), ask or allow.
	EnvHookUnreachable = "LIGHTHOUSE_HOOK_UNREACHABLE"
	// EnvHookSkipTools lists MCP tools the hook leaves to Claude Code's
	// own permission rules instead of asking the Bridge, separated by
	// commas: mcp__SERVER__TOOL, or mcp__SERVER__* for one server's tools.
	EnvHookSkipTools = "LIGHTHOUSE_HOOK_SKIP_TOOLS"
)

// Variables lists every variable the host side reads.
func Variables() []string {
	return []string{EnvAgentID, EnvAgentKey, EnvBridgeURL, EnvHookSkipTools, EnvHookUnreachable, EnvTimeout, EnvValidateTimeout}
}

// Bounds and defaults of the timeouts.
const (
	DefaultTimeout         = 30 * time.Second
	DefaultValidateTimeout = 45 * time.Second
	MinTimeout             = 100 * time.Millisecond
	MaxTimeout             = 10 * time.Minute
)

// Config is the host side's connection to the Bridge.
type Config struct {
	BridgeURL, AgentID, AgentKey string
	Timeout, ValidateTimeout     time.Duration
}

// Load reads the Bridge's URL, the agent and its key, and the timeouts.
// Every problem is reported, each naming its variable.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		BridgeURL: strings.TrimSpace(getenv(EnvBridgeURL)),
		AgentID:   strings.TrimSpace(getenv(EnvAgentID)),
		AgentKey:  strings.TrimSpace(getenv(EnvAgentKey)),
	}
	var errs []error
	switch _, err := client.ParseBaseURL(c.BridgeURL); {
	case c.BridgeURL == "":
		errs = append(errs, fmt.Errorf("%s is required: the Bridge's URL, like http://127.0.0.1:8765", EnvBridgeURL))
	case err != nil:
		errs = append(errs, fmt.Errorf("%s: %w", EnvBridgeURL, err))
	}
	switch {
	case c.AgentID == "":
		errs = append(errs, fmt.Errorf("%s is required: the agent's id, as given to lighthouse-bridge token --agent", EnvAgentID))
	case auth.ValidAgentID(c.AgentID) != nil:
		errs = append(errs, fmt.Errorf("%s %q: %w", EnvAgentID, c.AgentID, auth.ErrBadAgentID))
	}
	switch {
	case c.AgentKey == "":
		errs = append(errs, fmt.Errorf("%s is required: the key lighthouse-bridge token --agent ID prints", EnvAgentKey))
	case !isKey(c.AgentKey):
		errs = append(errs, fmt.Errorf("%s must be the 64 hex digits lighthouse-bridge token --agent ID prints (got %d characters)", EnvAgentKey, len(c.AgentKey)))
	}
	var err error
	if c.Timeout, err = duration(getenv, EnvTimeout, DefaultTimeout); err != nil {
		errs = append(errs, err)
	}
	if c.ValidateTimeout, err = duration(getenv, EnvValidateTimeout, DefaultValidateTimeout); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

func isKey(k string) bool {
	if len(k) != 64 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func duration(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < MinTimeout || d > MaxTimeout {
		return def, fmt.Errorf("%s must be a duration between %s and %s (like 30s; default %s), got %q", name, MinTimeout, MaxTimeout, def, v)
	}
	return d, nil
}

// Client is a client of the Bridge configured by c.
func (c Config) Client(userAgent string) (*client.Client, error) {
	return client.New(client.Options{BaseURL: c.BridgeURL, AgentID: c.AgentID, AgentKey: c.AgentKey,
		Timeout: c.Timeout, ValidateTimeout: c.ValidateTimeout, DialTimeout: min(c.Timeout, client.DefaultDialTimeout),
		UserAgent: userAgent})
}
