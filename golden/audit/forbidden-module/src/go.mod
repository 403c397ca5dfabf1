// A stand-in for a bridge binary that links an MCP server module: built
// by golden/audit_test.go into a temporary folder and audited with
// --binary. The module is a local replacement, so no network is needed.
module github.com/lighthouse-project/lighthouse-bridge-legacy

go 1.26

require github.com/modelcontextprotocol/go-sdk v0.3.0

replace github.com/modelcontextprotocol/go-sdk => ./mcp
