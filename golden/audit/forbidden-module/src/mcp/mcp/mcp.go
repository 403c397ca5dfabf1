// Package mcp stands in for an MCP server SDK.
package mcp

// Name is referenced so the package is linked.
const Name = "mcp"
