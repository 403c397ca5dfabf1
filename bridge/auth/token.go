package auth

import (
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Token is a parsed session token:
// "<32 hex session id>:<agent id>:<unix time>:<hex HMAC>", where the HMAC
// (SHA-256, keyed with the secret) covers the first three fields.
type Token struct {
	SessionID string
	AgentID   string
	Issued    int64 // unix seconds
	MAC       []byte
}

// ErrMalformedToken is returned by ParseToken for anything that is not a
// well-formed token; it says nothing about which part was wrong.
var ErrMalformedToken = errors.New("malformed session token")

// ParseToken splits a token into its fields without trusting it: call
// Verify before using any field.
func ParseToken(s string) (Token, error) {
	if len(s) > 512 {
		return Token{}, ErrMalformedToken
	}
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return Token{}, ErrMalformedToken
	}
	sid, agent, ts, m := parts[0], parts[1], parts[2], parts[3]
	if !isLowerHex(sid, 32) || ValidAgentID(agent) != nil || !isLowerHex(m, 64) {
		return Token{}, ErrMalformedToken
	}
	if ts == "" || ts[0] == '0' || ts[0] == '+' || ts[0] == '-' {
		return Token{}, ErrMalformedToken
	}
	issued, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || issued <= 0 {
		return Token{}, ErrMalformedToken
	}
	mac, _ := hex.DecodeString(m)
	return Token{SessionID: sid, AgentID: agent, Issued: issued, MAC: mac}, nil
}

// Verify reports, in constant time, whether the token's HMAC is the
// secret's over its fields.
func (t Token) Verify(secret []byte) bool {
	return hmac.Equal(t.MAC, mac(secret, t.payload()))
}

// String is the token's wire form.
func (t Token) String() string {
	return t.payload() + ":" + hex.EncodeToString(t.MAC)
}

func (t Token) payload() string {
	return t.SessionID + ":" + t.AgentID + ":" + strconv.FormatInt(t.Issued, 10)
}

// MintToken signs a token for a session.
func MintToken(secret []byte, sessionID, agentID string, issued int64) Token {
	t := Token{SessionID: sessionID, AgentID: agentID, Issued: issued}
	t.MAC = mac(secret, t.payload())
	return t
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
