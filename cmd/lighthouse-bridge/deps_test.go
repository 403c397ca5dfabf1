package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBridgeLinksNoHostSide: the Bridge's binary (the one the image
// holds) links neither the MCP SDK nor the host side that uses it
// (cmd/lighthouse-mcp/...): lighthouse-mcp runs on the agents' hosts, never in the
// image, and the spec forbids the SDK there (image.forbid.goModules).
func TestBridgeLinksNoHostSide(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 {
		t.Fatalf("go list gave %d packages", len(deps))
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/modelcontextprotocol/") || strings.HasPrefix(d, "github.com/lighthouse-project/lighthouse/cmd/lighthouse-mcp/internal/") {
			t.Errorf("lighthouse-bridge links %s", d)
		}
	}
}
