// Command lighthouse-bridge-legacy is the seed's bridge in miniature: it
// links an MCP server nobody runs.
package main

import "github.com/modelcontextprotocol/go-sdk/mcp"

func main() { println(mcp.Name) }
