package shadow

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Event types of the shadow projection. Other event types pass through
// Apply unchanged except for the recent-events ring.
const (
	TypeFileModified = "file_modified"
	TypeFileDeleted  = "file_deleted"
)

// FileModified is the Data of a file_modified event: the complete new
// content of one project file. SHA256 and Size are redundant with Content
// on purpose: they let readers of the log (and events/ in the FUSE view)
// identify a version without decoding it, and Apply checks they agree.
type FileModified struct {
	Path    string `json:"path"`
	Content []byte `json:"content"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
}

// FileDeleted is the Data of a file_deleted event.
type FileDeleted struct {
	Path string `json:"path"`
}

// NewFileModified builds the payload of a file_modified event, cleaning the
// path (an error wraps ErrInvalidPath) and computing hash and size, so the
// HTTP layer never builds an event Apply would reject for its shape.
func NewFileModified(p string, content []byte) (FileModified, error) {
	c, err := CleanPath(p)
	if err != nil {
		return FileModified{}, err
	}
	sum := sha256.Sum256(content)
	return FileModified{Path: c, Content: content, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))}, nil
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

// decodeModified parses and checks a file_modified payload.
func decodeModified(data json.RawMessage) (FileModified, [32]byte, error) {
	var fm FileModified
	if err := json.Unmarshal(data, &fm); err != nil {
		return fm, [32]byte{}, fmt.Errorf("file_modified payload: %w", err)
	}
	if err := checkCanonical(fm.Path); err != nil {
		return fm, [32]byte{}, err
	}
	if fm.Size != int64(len(fm.Content)) {
		return fm, [32]byte{}, fmt.Errorf("file_modified %q: size %d but content has %d bytes", fm.Path, fm.Size, len(fm.Content))
	}
	sum := sha256.Sum256(fm.Content)
	if fm.SHA256 != hex.EncodeToString(sum[:]) {
		return fm, [32]byte{}, fmt.Errorf("file_modified %q: sha256 %q does not match the content", fm.Path, fm.SHA256)
	}
	return fm, sum, nil
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

// eventJSON renders an event for the FUSE view's events/ directory as one
// line of JSON, so grep prints whole events. Apply has already replaced the
// content of shadow events by their path, hash and size, which keeps the
// ring's memory bounded by the number of events, not by file sizes.
func eventJSON(ev store.Event) []byte {
	if !json.Valid(ev.Data) {
		ev.Data = nil
	}
	if len(ev.Metadata) > 0 && !json.Valid(ev.Metadata) {
		ev.Metadata = nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		b = fmt.Appendf(nil, `{"sequence":%d,"error":%q}`, ev.Sequence, err.Error())
	}
	return append(b, '\n')
}

// summary is what events/ shows of a file_modified event.
func summary(fm FileModified) json.RawMessage {
	b, _ := json.Marshal(struct {
		Path   string `json:"path"`
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}{fm.Path, fm.SHA256, fm.Size})
	return b
}
