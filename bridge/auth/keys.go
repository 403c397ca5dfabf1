package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// MaxAgentIDLen bounds agent ids, which travel inside every token.
const MaxAgentIDLen = 128

// ErrBadAgentID is returned for an agent id that cannot be used.
var ErrBadAgentID = errors.New("agent id must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit")

// ValidAgentID checks an agent id. The alphabet excludes ':' so an id can
// never shift the fields of a token or collide with an admin key's input.
func ValidAgentID(id string) error {
	if len(id) == 0 || len(id) > MaxAgentIDLen {
		return ErrBadAgentID
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '.' && c != '_' && c != '-') {
			return ErrBadAgentID
		}
	}
	return nil
}

// AgentKey is the key an operator hands to agent id:
// HMAC-SHA256(secret, id), or HMAC-SHA256(secret, "admin:"+id) for an
// admin, hex encoded. Only the holder of the secret can mint one.
func AgentKey(secret []byte, id string, admin bool) (string, error) {
	if err := ValidAgentID(id); err != nil {
		return "", err
	}
	if len(secret) == 0 {
		return "", errors.New("no secret")
	}
	msg := id
	if admin {
		msg = "admin:" + id
	}
	return hex.EncodeToString(mac(secret, msg)), nil
}

// CheckAgentKey reports whether key is agent id's key and whether it is an
// admin key. The comparison is constant-time.
func CheckAgentKey(secret []byte, id, key string) (ok, admin bool) {
	if ValidAgentID(id) != nil {
		return false, false
	}
	got, err := hex.DecodeString(key)
	if err != nil {
		return false, false
	}
	if hmac.Equal(got, mac(secret, id)) {
		return true, false
	}
	if hmac.Equal(got, mac(secret, "admin:"+id)) {
		return true, true
	}
	return false, false
}

func mac(secret []byte, msg string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
