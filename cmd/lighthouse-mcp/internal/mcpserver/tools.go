package mcpserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
)

// Tool inputs. The outputs are the Bridge's own answer types (bridge/api,
// bridge/coord) except where an answer is not JSON (a shadow file).
type (
	EventStoreInput struct {
		EventType     string          `json:"event_type" jsonschema:"the event's type: a snake_case name of your own (the Bridge's own types are refused)"`
		Data          json.RawMessage `json:"data" jsonschema:"the event's data: any JSON value but null"`
		AggregateID   string          `json:"aggregate_id,omitempty" jsonschema:"what the event is about (an id of your choice), to query it back"`
		AggregateType string          `json:"aggregate_type,omitempty" jsonschema:"the kind of thing aggregate_id names"`
		Metadata      json.RawMessage `json:"metadata,omitempty" jsonschema:"a JSON object of metadata"`
	}
	EventQueryInput struct {
		EventType   string `json:"event_type,omitempty" jsonschema:"only events of this type"`
		AgentID     string `json:"agent_id,omitempty" jsonschema:"only events of this agent"`
		AggregateID string `json:"aggregate_id,omitempty" jsonschema:"only events of this aggregate (a shadow file's path lists its history)"`
		Since       uint64 `json:"since,omitempty" jsonschema:"only events after this sequence (to page: the last sequence of the previous answer)"`
		StartTime   string `json:"start_time,omitempty" jsonschema:"only events at or after this RFC 3339 time"`
		EndTime     string `json:"end_time,omitempty" jsonschema:"only events at or before this RFC 3339 time"`
		Limit       int    `json:"limit,omitempty" jsonschema:"at most this many events, 1 to 1000 (default 100)"`
	}
	ShadowReadInput struct {
		Path   string  `json:"path" jsonschema:"the file's path relative to the project root, like src/main.go"`
		At     *uint64 `json:"at,omitempty" jsonschema:"read the file as of this event sequence (default: the latest)"`
		Offset int64   `json:"offset,omitempty" jsonschema:"first byte to read (default 0)"`
		Length int64   `json:"length,omitempty" jsonschema:"bytes to read (default and at most the server's read limit, 1 MiB)"`
	}
	ShadowWriteInput struct {
		Path     string `json:"path" jsonschema:"the file's path relative to the project root, like src/main.go"`
		Content  string `json:"content" jsonschema:"the file's complete new content"`
		Encoding string `json:"encoding,omitempty" jsonschema:"how content is written: utf-8 (default) or base64 for binary files"`
	}
	ShadowPathInput struct {
		Path string `json:"path" jsonschema:"the file's path relative to the project root"`
	}
	ShadowListInput struct {
		Dir string  `json:"dir,omitempty" jsonschema:"list the files under this directory (default: every file)"`
		At  *uint64 `json:"at,omitempty" jsonschema:"list as of this event sequence (default: the latest)"`
	}
	ShadowHistoryInput struct {
		Path  string `json:"path" jsonschema:"the file's path relative to the project root"`
		Since uint64 `json:"since,omitempty" jsonschema:"only changes after this sequence (to page: next_since of the previous answer)"`
		Limit int    `json:"limit,omitempty" jsonschema:"events to page through, 1 to 1000 (default 100)"`
	}
	ValidateInput struct {
		ToolName  string          `json:"tool_name" jsonschema:"the tool the call is for, like Bash, Write or Edit"`
		ToolInput json.RawMessage `json:"tool_input" jsonschema:"the call's input, like {\"command\": \"make test\"} for Bash"`
	}
	RegisterInput struct {
		Capabilities []string `json:"capabilities" jsonschema:"what you review, like security or performance"`
	}
	DelegateInput struct {
		ToolName     string          `json:"tool_name" jsonschema:"the tool call to have an expert review"`
		ToolInput    json.RawMessage `json:"tool_input,omitempty" jsonschema:"its input"`
		TargetExpert string          `json:"target_expert,omitempty" jsonschema:"the expert's agent id (or give capabilities)"`
		Capabilities []string        `json:"capabilities,omitempty" jsonschema:"the capabilities the expert needs (when no target_expert)"`
	}
	IDInput struct {
		ID string `json:"id" jsonschema:"the id the Bridge gave it"`
	}
	CompleteInput struct {
		ID     string          `json:"id" jsonschema:"the delegation's or task's id"`
		Result json.RawMessage `json:"result" jsonschema:"your result: any JSON value"`
	}
	TaskInput struct {
		TargetAgent  string          `json:"target_agent,omitempty" jsonschema:"the agent to do it (or give capabilities)"`
		Capabilities []string        `json:"capabilities,omitempty" jsonschema:"the capabilities needed (when no target_agent)"`
		Description  string          `json:"description" jsonschema:"what to do"`
		Data         json.RawMessage `json:"data,omitempty" jsonschema:"any JSON the task needs"`
	}
	ElicitInput struct {
		ToAgent        string          `json:"to_agent" jsonschema:"the agent to ask"`
		Message        string          `json:"message" jsonschema:"the question"`
		Schema         json.RawMessage `json:"schema,omitempty" jsonschema:"a JSON Schema (object or boolean) of the answer's data"`
		TimeoutSeconds *float64        `json:"timeout_seconds,omitempty" jsonschema:"how long the question stays open"`
	}
	AnswerInput struct {
		ElicitationID string          `json:"elicitation_id" jsonschema:"the question's id"`
		ResponseType  string          `json:"response_type" jsonschema:"accept, decline, or cancel (cancel: only the asker)"`
		Data          json.RawMessage `json:"data,omitempty" jsonschema:"the answer's data (with accept)"`
	}
	CollaborationInput struct {
		Participants []string `json:"participants" jsonschema:"the other agents taking part"`
		Topic        string   `json:"topic" jsonschema:"what it is about"`
	}
	EndInput struct {
		ID      string `json:"id" jsonschema:"the collaboration's id"`
		Summary string `json:"summary,omitempty" jsonschema:"what was agreed"`
	}
	NoInput struct{}
)

// ShadowReadOutput is a shadow file's content, or a range of it.
type ShadowReadOutput struct {
	Path     string `json:"path" jsonschema:"the file's path"`
	Content  string `json:"content" jsonschema:"the bytes read, as text (encoding utf-8) or base64"`
	Encoding string `json:"encoding" jsonschema:"utf-8 or base64"`
	Offset   int64  `json:"offset" jsonschema:"where content starts in the file"`
	Size     int64  `json:"size" jsonschema:"the whole file's size in bytes"`
	// Truncated says the file goes on past content: read on from next_offset.
	Truncated    bool   `json:"truncated" jsonschema:"the file goes on past content: read on with offset next_offset"`
	NextOffset   int64  `json:"next_offset,omitempty" jsonschema:"the offset to read on from when truncated"`
	SHA256       string `json:"sha256" jsonschema:"hex SHA-256 of the whole file"`
	Sequence     uint64 `json:"sequence" jsonschema:"the event that wrote this version"`
	ViewSequence uint64 `json:"view_sequence" jsonschema:"the state read: the latest, or at"`
}

func (h *handlers) tools() []tool {
	return []tool{
		typed("event_store", "Record an event of your own in the Bridge's durable log (POST /event/store); it is stored when this returns.", false,
			func(ctx context.Context, c *client.Client, in EventStoreInput) (api.EventStoreResponse, error) {
				return c.StoreEvent(ctx, api.EventStoreRequest{EventType: in.EventType, Data: in.Data, AggregateID: in.AggregateID,
					AggregateType: in.AggregateType, Metadata: in.Metadata})
			}),
		typed("event_query", "Query the events you may read, by sequence (GET /event/query); a truncated answer goes on from next_since.", true,
			func(ctx context.Context, c *client.Client, in EventQueryInput) (api.EventQueryResponse, error) {
				start, err := sinceTime("start_time", in.StartTime)
				if err != nil {
					return api.EventQueryResponse{}, err
				}
				end, err := sinceTime("end_time", in.EndTime)
				if err != nil {
					return api.EventQueryResponse{}, err
				}
				return c.QueryEvents(ctx, api.EventQuery{EventType: in.EventType, AgentID: in.AgentID, AggregateID: in.AggregateID,
					Since: in.Since, StartTime: start, EndTime: end, Limit: in.Limit})
			}),
		typed("shadow_read", "Read a shadow file (the Bridge's copy of a project file), latest or as of an event, whole or a byte range (GET /shadow/{path}).", true,
			h.shadowRead),
		typed("shadow_write", "Record a project file's complete new content in the shadow (PUT /shadow/{path}): do it after you change a file, so experts see it.", false,
			func(ctx context.Context, c *client.Client, in ShadowWriteInput) (api.ShadowWrite, error) {
				var content []byte
				switch in.Encoding {
				case "", "utf-8":
					content = []byte(in.Content)
				case "base64":
					b, err := base64.StdEncoding.DecodeString(in.Content)
					if err != nil {
						return api.ShadowWrite{}, fmt.Errorf("content is not base64: %w", err)
					}
					content = b
				default:
					return api.ShadowWrite{}, fmt.Errorf("encoding must be utf-8 or base64, got %q", in.Encoding)
				}
				return c.PutShadow(ctx, in.Path, content)
			}),
		typed("shadow_delete", "Record that a project file was deleted (DELETE /shadow/{path}).", false,
			func(ctx context.Context, c *client.Client, in ShadowPathInput) (api.ShadowWrite, error) {
				return c.DeleteShadow(ctx, in.Path)
			}),
		typed("shadow_list", "List the shadow files (under a directory), latest or as of an event (GET /shadow/{dir}?list).", true,
			func(ctx context.Context, c *client.Client, in ShadowListInput) (api.ShadowList, error) {
				return c.ListShadow(ctx, in.Dir, in.At)
			}),
		typed("shadow_history", "List the changes of a shadow file, oldest first, each with its sequence (read one with shadow_read at).", true,
			func(ctx context.Context, c *client.Client, in ShadowHistoryInput) (client.ShadowHistory, error) {
				return c.ShadowHistory(ctx, in.Path, in.Since, in.Limit)
			}),
		typed("validate_command", "Ask the Bridge whether a tool call may run (POST /validate): approved, blocked or escalate, with its reasoning.", true,
			func(ctx context.Context, c *client.Client, in ValidateInput) (api.ValidateResponse, error) {
				return c.Validate(ctx, api.ValidateRequest{ToolName: in.ToolName, ToolInput: in.ToolInput})
			}),
		typed("expert_register", "Register yourself as an expert with capabilities (POST /expert/register); others then delegate reviews to you.", false,
			func(ctx context.Context, c *client.Client, in RegisterInput) (api.ExpertResponse, error) {
				return c.RegisterExpert(ctx, api.RegisterRequest{Capabilities: in.Capabilities})
			}),
		typed("expert_heartbeat", "Keep your expert registration available (POST /expert/heartbeat): experts silent for 5 minutes are unavailable.", false,
			func(ctx context.Context, c *client.Client, _ NoInput) (api.ExpertResponse, error) {
				return c.Heartbeat(ctx)
			}),
		typed("expert_list", "List the registered experts and their availability (GET /expert/list).", true,
			func(ctx context.Context, c *client.Client, _ NoInput) (api.ExpertListResponse, error) {
				return c.Experts(ctx)
			}),
		typed("delegate", "Delegate a tool call to an expert for review, by name or capability (POST /expert/delegate).", false,
			func(ctx context.Context, c *client.Client, in DelegateInput) (api.DelegateResponse, error) {
				return c.Delegate(ctx, api.DelegateRequest{ToolName: in.ToolName, ToolInput: in.ToolInput, TargetExpert: in.TargetExpert, Capabilities: in.Capabilities})
			}),
		typed("delegation_list", "List the delegations waiting for you as an expert (GET /expert/delegations).", true,
			func(ctx context.Context, c *client.Client, _ NoInput) (api.DelegationListResponse, error) {
				return c.Delegations(ctx)
			}),
		typed("delegation_get", "Read one delegation, as its requester or expert (GET /expert/delegations/{id}).", true,
			func(ctx context.Context, c *client.Client, in IDInput) (coord.Delegation, error) {
				return c.Delegation(ctx, in.ID)
			}),
		typed("delegation_complete", "Give your result of a delegation, as its expert (POST /expert/delegations/{id}/complete).", false,
			func(ctx context.Context, c *client.Client, in CompleteInput) (coord.Delegation, error) {
				return c.CompleteDelegation(ctx, in.ID, api.CompleteRequest{Result: in.Result})
			}),
		typed("task_dispatch", "Dispatch a task to an agent, by name or capability (POST /task/dispatch).", false,
			func(ctx context.Context, c *client.Client, in TaskInput) (api.TaskDispatchResponse, error) {
				return c.DispatchTask(ctx, api.TaskRequest{TargetAgent: in.TargetAgent, Capabilities: in.Capabilities, Description: in.Description, Data: in.Data})
			}),
		typed("task_list", "List the tasks dispatched to you and not completed (GET /task/pending).", true,
			func(ctx context.Context, c *client.Client, _ NoInput) (api.TaskListResponse, error) {
				return c.PendingTasks(ctx)
			}),
		typed("task_get", "Read one task, as its dispatcher or assignee (GET /task/{id}).", true,
			func(ctx context.Context, c *client.Client, in IDInput) (coord.Task, error) { return c.Task(ctx, in.ID) }),
		typed("task_complete", "Give your result of a task dispatched to you (POST /task/{id}/complete).", false,
			func(ctx context.Context, c *client.Client, in CompleteInput) (coord.Task, error) {
				return c.CompleteTask(ctx, in.ID, api.CompleteRequest{Result: in.Result})
			}),
		typed("elicitation_create", "Ask another agent a question (POST /elicitation/create); read the answer with elicitation_status.", false,
			func(ctx context.Context, c *client.Client, in ElicitInput) (api.ElicitResponse, error) {
				return c.CreateElicitation(ctx, api.ElicitRequest{ToAgent: in.ToAgent, Message: in.Message, Schema: in.Schema, TimeoutSeconds: in.TimeoutSeconds})
			}),
		typed("elicitation_list", "List the open questions to you (GET /elicitation/pending).", true,
			func(ctx context.Context, c *client.Client, _ NoInput) (api.ElicitationListResponse, error) {
				return c.PendingElicitations(ctx)
			}),
		typed("elicitation_answer", "Answer a question to you (accept or decline), or cancel one you asked (POST /elicitation/respond).", false,
			func(ctx context.Context, c *client.Client, in AnswerInput) (coord.Elicitation, error) {
				return c.RespondElicitation(ctx, api.RespondRequest{ElicitationID: in.ElicitationID, ResponseType: in.ResponseType, Data: in.Data})
			}),
		typed("elicitation_status", "Read one question and its answer, as its asker or addressee (GET /elicitation/status/{id}).", true,
			func(ctx context.Context, c *client.Client, in IDInput) (coord.Elicitation, error) {
				return c.ElicitationStatus(ctx, in.ID)
			}),
		typed("collaboration_start", "Start a collaboration with other agents on a topic (POST /collaboration/start).", false,
			func(ctx context.Context, c *client.Client, in CollaborationInput) (coord.Collaboration, error) {
				return c.StartCollaboration(ctx, api.CollaborationRequest{Participants: in.Participants, Topic: in.Topic})
			}),
		typed("collaboration_get", "Read one collaboration, as a participant (GET /collaboration/{id}).", true,
			func(ctx context.Context, c *client.Client, in IDInput) (coord.Collaboration, error) {
				return c.Collaboration(ctx, in.ID)
			}),
		typed("collaboration_end", "End a collaboration you take part in (POST /collaboration/{id}/end).", false,
			func(ctx context.Context, c *client.Client, in EndInput) (coord.Collaboration, error) {
				return c.EndCollaboration(ctx, in.ID, api.EndRequest{Summary: in.Summary})
			}),
		typed("bridge_status", "The Bridge's readiness: its components, active agents, pending validations, last sequence (GET /status).", true,
			func(ctx context.Context, c *client.Client, _ NoInput) (api.StatusResponse, error) {
				st, err := c.Status(ctx)
				var e *client.Error
				if errors.As(err, &e) && e.Status == 503 {
					return st, nil // not ready is an answer, not a failure
				}
				return st, err
			}),
	}
}

// shadowRead reads at most MaxReadBytes of a file, as text when the
// bytes are UTF-8 and base64 otherwise.
func (h *handlers) shadowRead(ctx context.Context, c *client.Client, in ShadowReadInput) (ShadowReadOutput, error) {
	if in.Offset < 0 || in.Length < 0 {
		return ShadowReadOutput{}, errors.New("offset and length must not be negative")
	}
	n := in.Length
	if n == 0 || n > h.o.MaxReadBytes {
		n = h.o.MaxReadBytes
	}
	sc, err := c.GetShadow(ctx, in.Path, client.ShadowRead{At: in.At, Offset: in.Offset, Length: n})
	if err != nil {
		var e *client.Error
		if errors.As(err, &e) && e.Status == 416 && in.Offset > 0 {
			return ShadowReadOutput{}, fmt.Errorf("offset %d is past the end of %s", in.Offset, in.Path)
		}
		return ShadowReadOutput{}, err
	}
	out := ShadowReadOutput{Path: sc.Path, Offset: sc.Offset, Size: sc.Size, SHA256: sc.SHA256, Sequence: sc.Sequence, ViewSequence: sc.ViewSequence}
	out.Content, out.Encoding = encode(sc.Content)
	if end := sc.Offset + int64(len(sc.Content)); end < sc.Size {
		out.Truncated, out.NextOffset = true, end
	}
	return out, nil
}

// encode is b as text when it is UTF-8 (a range may cut a character: it
// is then base64), else base64.
func encode(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), "utf-8"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}
