package hostenv

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoad(t *testing.T) {
	key := strings.Repeat("0a", 32)
	c, err := Load(env(map[string]string{EnvBridgeURL: "http://127.0.0.1:8765", EnvAgentID: "builder-1", EnvAgentKey: key, EnvTimeout: "5s"}))
	if err != nil || c.Timeout != 5*time.Second || c.ValidateTimeout != DefaultValidateTimeout || c.AgentKey != key {
		t.Fatalf("%+v %v", c, err)
	}
	// Every problem at once, each naming its variable.
	_, err = Load(env(map[string]string{EnvBridgeURL: "ftp://x", EnvAgentID: "a:b", EnvAgentKey: "k", EnvTimeout: "1h", EnvValidateTimeout: "-1s"}))
	for _, v := range []string{EnvBridgeURL, EnvAgentID, EnvAgentKey, EnvTimeout, EnvValidateTimeout} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("error %v does not name %s", err, v)
		}
	}
	_, err = Load(env(nil))
	for _, v := range []string{EnvBridgeURL + " is required", EnvAgentID + " is required", EnvAgentKey + " is required"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("error %v does not say %s", err, v)
		}
	}
}
