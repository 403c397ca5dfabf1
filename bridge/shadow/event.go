package shadow

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Event types of the shadow projection. Other event types pass through
// Apply unchanged except for the recent-events ring.
const (
	TypeFileModified = "file_modified"
	TypeFileDeleted  = "file_deleted"
)

// AggregateType is the aggregate_type of shadow events; their
// aggregate_id is the cleaned path, so GET /event/query?aggregate_id=PATH
// lists a file's history.
const AggregateType = "shadow_file"

// FileModified is the Data of a file_modified event: one new version of
// a project file, by reference. The content itself is a blob of the event
// store (store.Blob), keyed by SHA256 and written in the same transaction
// as the event, so the log stays small, identical contents are stored
// once, and the event still identifies the version exactly.
//
// Events written before content moved to blobs carry the content inline
// as well ("content", base64); Apply still reads them (see MigrateInline).
type FileModified struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// FileDeleted is the Data of a file_deleted event.
type FileDeleted struct {
	Path string `json:"path"`
}

// NewFileModified builds the payload of a file_modified event and the
// blob it refers to, cleaning the path (an error wraps ErrInvalidPath),
// so the HTTP layer never builds an event Apply would reject for its
// shape. The blob keeps content: the caller must not change it until the
// append returns.
func NewFileModified(p string, content []byte) (FileModified, store.Blob, error) {
	c, err := CleanPath(p)
	if err != nil {
		return FileModified{}, store.Blob{}, err
	}
	b := store.NewBlob(content)
	sum := b.Sum()
	return FileModified{Path: c, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))}, b, nil
}

// ModifiedEvent is the file_modified event of agent for p with content:
// the payload in Data and the content as its blob.
func ModifiedEvent(p, agent string, content []byte) (store.Event, error) {
	fm, blob, err := NewFileModified(p, content)
	if err != nil {
		return store.Event{}, err
	}
	data, err := json.Marshal(fm)
	if err != nil {
		return store.Event{}, err
	}
	return store.Event{Type: TypeFileModified, AggregateID: fm.Path, AggregateType: AggregateType, AgentID: agent,
		Data: data, Blobs: []store.Blob{blob}}, nil
}

// NewFileDeleted builds the payload of a file_deleted event with a cleaned
// path.
func NewFileDeleted(p string) (FileDeleted, error) {
	c, err := CleanPath(p)
	if err != nil {
		return FileDeleted{}, err
	}
	return FileDeleted{Path: c}, nil
}

// DeletedEvent is the file_deleted event of agent for p.
func DeletedEvent(p, agent string) (store.Event, error) {
	fd, err := NewFileDeleted(p)
	if err != nil {
		return store.Event{}, err
	}
	data, err := json.Marshal(fd)
	if err != nil {
		return store.Event{}, err
	}
	return store.Event{Type: TypeFileDeleted, AggregateID: fd.Path, AggregateType: AggregateType, AgentID: agent, Data: data}, nil
}

// modifiedPayload reads both shapes of file_modified: by reference, and
// the inline content of events written before blobs.
type modifiedPayload struct {
	FileModified
	Content json.RawMessage `json:"content"`
}

// decodeModified parses and checks a file_modified payload. inline is the
// content of an old event that carries it (nil for a reference).
func decodeModified(data json.RawMessage) (fm FileModified, sum [32]byte, inline []byte, err error) {
	var mp modifiedPayload
	if err := json.Unmarshal(data, &mp); err != nil {
		return fm, sum, nil, fmt.Errorf("file_modified payload: %w", err)
	}
	fm = mp.FileModified
	if err := checkCanonical(fm.Path); err != nil {
		return fm, sum, nil, err
	}
	if fm.Size < 0 || fm.Size > store.MaxBlobLen {
		return fm, sum, nil, fmt.Errorf("file_modified %q: size %d out of range", fm.Path, fm.Size)
	}
	if len(fm.SHA256) != 2*len(sum) || !isLowerHex(fm.SHA256) {
		return fm, sum, nil, fmt.Errorf("file_modified %q: sha256 %q is not 64 lower-case hex digits", fm.Path, fm.SHA256)
	}
	hex.Decode(sum[:], []byte(fm.SHA256))
	if len(mp.Content) == 0 {
		return fm, sum, nil, nil
	}
	// An event of an older version: the content is inline.
	var content []byte
	if err := json.Unmarshal(mp.Content, &content); err != nil {
		return fm, sum, nil, fmt.Errorf("file_modified %q: content: %w", fm.Path, err)
	}
	if fm.Size != int64(len(content)) {
		return fm, sum, nil, fmt.Errorf("file_modified %q: size %d but content has %d bytes", fm.Path, fm.Size, len(content))
	}
	if store.NewBlob(content).Sum() != sum {
		return fm, sum, nil, fmt.Errorf("file_modified %q: sha256 %q does not match the content", fm.Path, fm.SHA256)
	}
	if content == nil {
		content = []byte{}
	}
	return fm, sum, content, nil
}

// BlobRefs names the content a stored event refers to, for the offline
// check of an event store (store.CheckOptions.BlobRefs): the content of
// a file_modified event, marked Inline for an event of an older version
// that carries it (MigrateInline makes its blob at the next start);
// nothing for other types. An error says why the payload is unreadable.
func BlobRefs(e *store.Event) ([]store.BlobRef, error) {
	if e.Type != TypeFileModified {
		return nil, nil
	}
	_, sum, inline, err := decodeModified(e.Data)
	if err != nil {
		return nil, err
	}
	return []store.BlobRef{{Sum: sum, Inline: inline != nil}}, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func decodeDeleted(data json.RawMessage) (FileDeleted, error) {
	var fd FileDeleted
	if err := json.Unmarshal(data, &fd); err != nil {
		return fd, fmt.Errorf("file_deleted payload: %w", err)
	}
	return fd, checkCanonical(fd.Path)
}

// checkCanonical insists that a path in a stored event is already clean:
// the projection never guesses what a malformed event meant.
func checkCanonical(p string) error {
	c, err := CleanPath(p)
	if err != nil {
		return err
	}
	if c != p {
		return fmt.Errorf("%w %q: not canonical (want %q)", ErrInvalidPath, p, c)
	}
	return nil
}

// errBlobSize reports a version whose size disagrees with an earlier
// version of the same content.
var errBlobSize = errors.New("size disagrees with an earlier version of the same content")

// eventJSON renders an event for the FUSE view's events/ directory as one
// line of JSON, so grep prints whole events. Apply has already replaced the
// data of shadow events by their path, hash and size (old events carried
// the content), which keeps the ring's memory bounded by the number of
// events, not by file sizes.
func eventJSON(ev store.Event) []byte {
	if !json.Valid(ev.Data) {
		ev.Data = nil
	}
	if len(ev.Metadata) > 0 && !json.Valid(ev.Metadata) {
		ev.Metadata = nil
	}
	// Not escaped for HTML (each '<' would take six bytes); Encode ends
	// the line.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return fmt.Appendf(nil, "{\"sequence\":%d,\"error\":%q}\n", ev.Sequence, err.Error())
	}
	return buf.Bytes()
}

// summary is what events/ shows of a file_modified event.
func summary(fm FileModified) json.RawMessage {
	b, _ := json.Marshal(fm)
	return b
}
