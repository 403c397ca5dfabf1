package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
)

// MaxBodyBytes is the largest request body an authenticated route accepts
// (the contract's 1 MiB per event) unless its row says otherwise; larger
// bodies get 413 before anything is stored.
const MaxBodyBytes = 1 << 20

// Error is a client-facing failure with its HTTP status. Handlers return
// it from helpers and write it with WriteError.
type Error struct {
	Status  int
	Message string
	// RetryAfter, when positive, is sent as the Retry-After header (in
	// whole seconds, rounded up) with a 429 or 503.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an Error.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// ErrorResponse is the JSON shape of every error answer (and of the
// final session_ended event of a stream).
type ErrorResponse struct {
	Error  string `json:"error"`  // machine-readable: the status text in snake_case
	Detail string `json:"detail"` // what went wrong and what to do
	Status int    `json:"status"`
}

// WriteJSON writes v as the JSON body with status. It does not escape
// '<', '>' and '&' for HTML: the answer is application/json with nosniff,
// never HTML, and the escapes would make a client's stored bytes up to
// six times larger in every answer that carries them.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	newEncoder(w).Encode(v)
}

// newEncoder is the JSON encoder of every answer (WriteJSON).
func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// WriteError writes the standard JSON error for status.
func WriteError(w http.ResponseWriter, status int, detail string) {
	WriteJSON(w, status, NewErrorResponse(status, detail))
}

// NewErrorResponse is the error answer for status: its machine-readable
// code is the status text in snake_case ("error" for a status without
// one).
func NewErrorResponse(status int, detail string) ErrorResponse {
	code := strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	if code == "" {
		code = "error"
	}
	return ErrorResponse{Error: code, Detail: detail, Status: status}
}

// WriteErr writes err: an *Error with its status, anything else as 500
// (server faults only; client mistakes are always an *Error).
func WriteErr(w http.ResponseWriter, err error) {
	var e *Error
	if errors.As(err, &e) {
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
		WriteError(w, e.Status, e.Message)
		return
	}
	WriteError(w, http.StatusInternalServerError, "internal error: "+err.Error())
}

// DecodeJSON reads r's body (ReadBody: bounded by its route's row) into
// v strictly: the body must be one JSON object, with no unknown fields,
// right types and nothing after it. Every failure is a 4xx *Error naming
// the problem, or the 503 of a spent body budget.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := ReadBody(w, r)
	if err != nil {
		return err
	}
	return DecodeBytes(body, v)
}

// DecodeBytes is DecodeJSON's decoder over a body already read.
func DecodeBytes(body []byte, v any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return Errorf(http.StatusBadRequest, "request body is empty: expected a JSON object")
	}
	if trimmed[0] != '{' {
		return Errorf(http.StatusBadRequest, "request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return Errorf(http.StatusBadRequest, "malformed JSON at byte %d: %v", se.Offset, err)
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "(body)"
			}
			return Errorf(http.StatusBadRequest, "field %s must be %s, got JSON %s", field, jsonKind(te.Type.Kind().String()), te.Value)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return Errorf(http.StatusBadRequest, "malformed JSON: body ends early")
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return Errorf(http.StatusBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return Errorf(http.StatusBadRequest, "invalid JSON body: %v", err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(http.StatusBadRequest, "request body has data after the JSON object")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	}
	return "of type " + goKind
}

// Caller returns the verified identity of an authenticated route.
func Caller(r *http.Request) (auth.Identity, error) {
	id, ok := auth.FromContext(r.Context())
	if !ok {
		return auth.Identity{}, Errorf(http.StatusUnauthorized, "authentication required")
	}
	return id, nil
}

// CheckAgent enforces that a body's agent field, when given, names the
// caller: identity comes from the token, never from the body.
func CheckAgent(r *http.Request, claimed string) (auth.Identity, error) {
	id, err := Caller(r)
	if err != nil {
		return id, err
	}
	if claimed != "" && claimed != id.AgentID {
		return id, Errorf(http.StatusForbidden, "agent %q may not act as agent %q: the token's agent is the identity", id.AgentID, claimed)
	}
	return id, nil
}
