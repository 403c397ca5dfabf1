// Package mcpserver is the MCP server an agent runs on its host
// (lighthouse-mcp): it gives the agent the Bridge's routes as MCP tools,
// with typed inputs and outputs whose JSON Schemas the SDK derives from
// the Go types (descriptions from their jsonschema tags), and the shadow
// files as MCP resources. Every tool calls the Bridge through
// bridge/client, so every call is bounded in time and size; a refusal of
// the Bridge becomes a tool error (IsError) carrying its status and
// message.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/lighthouse-project/lighthouse/bridge/client"
)

// Options configure New.
type Options struct {
	// Client talks to the Bridge. Nil with ConfigErr set: every tool and
	// resource answers ConfigErr.
	Client *client.Client
	// ConfigErr is why there is no client (a missing or invalid variable).
	ConfigErr error
	// Version is reported to the MCP client.
	Version string
	// MaxReadBytes bounds what one shadow read returns (default 1 MiB):
	// a larger file is read in ranges (offset, length).
	MaxReadBytes int64
}

// DefaultMaxReadBytes is Options.MaxReadBytes's default.
const DefaultMaxReadBytes = 1 << 20

// instructions tell the agent what the server is for.
const instructions = `Lighthouse: the coordination Bridge of this project's agents. Record what you
do (event_store), read what others did (event_query), keep the shadow of the
project's files current (shadow_write after you change a file; experts read it),
ask the Bridge before running a command (validate_command), and work with other
agents: experts (expert_register, delegate, delegation_list, delegation_complete),
tasks (task_dispatch, task_list, task_complete), questions (elicitation_create,
elicitation_list, elicitation_answer) and collaborations. Shadow files are also
resources: lighthouse://shadow/{path} (latest) and
lighthouse://history/{sequence}/{path} (as of an event).`

// New returns the server with every tool and resource.
func New(o Options) *mcp.Server {
	if o.MaxReadBytes <= 0 {
		o.MaxReadBytes = DefaultMaxReadBytes
	}
	if o.Version == "" {
		o.Version = "devel"
	}
	s := mcp.NewServer(&mcp.Implementation{Name: "lighthouse-mcp", Title: "Lighthouse Bridge", Version: o.Version},
		&mcp.ServerOptions{Instructions: instructions})
	h := &handlers{o: o}
	for _, t := range h.tools() {
		t.add(s, h)
	}
	h.addResources(s)
	return s
}

type handlers struct{ o Options }

// bridge is the client, or the configuration error.
func (h *handlers) bridge() (*client.Client, error) {
	if h.o.Client == nil {
		err := h.o.ConfigErr
		if err == nil {
			err = errors.New("no bridge client")
		}
		return nil, fmt.Errorf("lighthouse-mcp is not configured: %w", err)
	}
	return h.o.Client, nil
}

// tool is one MCP tool: its name, what it does, and its handler.
type tool struct {
	add func(*mcp.Server, *handlers)
}

// schemaOptions derive the JSON Schemas: a json.RawMessage (a JSON value
// of any shape) is any JSON value, not the array of bytes its Go type
// would say.
var schemaOptions = &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
	reflect.TypeFor[json.RawMessage](): {},
}}

// typed makes a tool from a function of a typed input to a typed output.
// Its schemas are derived from In and Out; a read-only tool says so.
func typed[In, Out any](name, desc string, readOnly bool, f func(context.Context, *client.Client, In) (Out, error)) tool {
	return tool{add: func(s *mcp.Server, h *handlers) {
		in, err := jsonschema.For[In](schemaOptions)
		if err != nil {
			panic(fmt.Sprintf("tool %s: input schema: %v", name, err))
		}
		out, err := jsonschema.For[Out](schemaOptions)
		if err != nil {
			panic(fmt.Sprintf("tool %s: output schema: %v", name, err))
		}
		ann := &mcp.ToolAnnotations{ReadOnlyHint: readOnly, OpenWorldHint: ptr(false)}
		if !readOnly {
			ann.DestructiveHint = ptr(strings.Contains(name, "delete"))
		}
		mcp.AddTool(s, &mcp.Tool{Name: name, Description: desc, InputSchema: in, OutputSchema: out, Annotations: ann},
			func(ctx context.Context, _ *mcp.CallToolRequest, arg In) (*mcp.CallToolResult, Out, error) {
				var zero Out
				c, err := h.bridge()
				if err != nil {
					return nil, zero, err
				}
				res, err := f(ctx, c, arg)
				if err != nil {
					return nil, zero, toolError(err)
				}
				return nil, res, nil
			})
	}}
}

func ptr[T any](v T) *T { return &v }

// toolError says what went wrong in words an agent can act on: the
// Bridge's status and message, or why it could not be reached.
func toolError(err error) error {
	var e *client.Error
	var te *client.TransportError
	switch {
	case errors.As(err, &e):
		msg := fmt.Sprintf("the Bridge refused: %d %s", e.Status, statusText(e.Status))
		if e.Code != "" {
			msg += " (" + e.Code + ")"
		}
		msg += ": " + e.Message
		if e.RetryAfter > 0 {
			msg += fmt.Sprintf("; retry after %s", e.RetryAfter)
		}
		return errors.New(msg)
	case errors.As(err, &te):
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("the Bridge did not answer in time (%s %s): %w", te.Method, te.Path, err)
		}
		return fmt.Errorf("the Bridge cannot be reached (%s %s): %w", te.Method, te.Path, err)
	}
	return err
}

func statusText(code int) string {
	if t := httpStatusText(code); t != "" {
		return t
	}
	return "status"
}

// sinceTime parses an optional RFC 3339 time of a tool input.
func sinceTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s must be an RFC 3339 time like 2026-12-01T10:00:00Z, got %q", name, s)
	}
	return t, nil
}
