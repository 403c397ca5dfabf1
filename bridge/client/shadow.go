package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// At is a sequence for ShadowRead.At: the state as of that event.
func At(seq uint64) *uint64 { return &seq }

// ShadowRead says which version of a shadow file to read and which part.
type ShadowRead struct {
	// At reads the file as of that event; nil reads the latest.
	At *uint64
	// Offset and Length ask for a byte range (a Range request); Length 0
	// reads to the end.
	Offset, Length int64
}

// ShadowContent is a shadow file read with GetShadow.
type ShadowContent struct {
	Path    string
	Content []byte
	// Offset is where Content starts in the file; Size the whole file's size.
	Offset, Size int64
	SHA256       string // hex, of the whole file
	// Sequence is the event that wrote this version; ViewSequence the
	// state it was read from (the latest, or ShadowRead.At).
	Sequence, ViewSequence uint64
	Modified               time.Time
}

// ShadowInfo is what StatShadow learns of a file without its content.
type ShadowInfo struct {
	Path                   string
	Size                   int64
	SHA256                 string
	Sequence, ViewSequence uint64
	Modified               time.Time
}

// shadowURLPath is /shadow/ followed by p with each segment escaped:
// what the agent named is what the Bridge judges ("..", a leading or
// doubled slash are sent as they are and refused there with 400).
func shadowURLPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "/shadow/" + strings.Join(segs, "/")
}

func filePath(p string) error {
	if p == "" {
		return fmt.Errorf("%w: the path is empty", shadow.ErrInvalidPath)
	}
	return nil
}

// PutShadow is PUT /shadow/{path}: the file's new, complete content.
func (c *Client) PutShadow(ctx context.Context, path string, content []byte) (api.ShadowWrite, error) {
	if err := filePath(path); err != nil {
		return api.ShadowWrite{}, err
	}
	if content == nil {
		content = []byte{}
	}
	var out api.ShadowWrite
	r := request{method: http.MethodPut, path: shadowURLPath(path), auth: true, body: content, ctype: "application/octet-stream"}
	err := c.doJSON(ctx, r, nil, &out)
	return out, err
}

// DeleteShadow is DELETE /shadow/{path}.
func (c *Client) DeleteShadow(ctx context.Context, path string) (api.ShadowWrite, error) {
	if err := filePath(path); err != nil {
		return api.ShadowWrite{}, err
	}
	var out api.ShadowWrite
	err := c.doJSON(ctx, request{method: http.MethodDelete, path: shadowURLPath(path), auth: true}, nil, &out)
	return out, err
}

// ListShadow is GET /shadow/{dir}?list: the files under dir ("" for
// all), latest or as of at.
func (c *Client) ListShadow(ctx context.Context, dir string, at *uint64) (api.ShadowList, error) {
	q := url.Values{"list": {""}}
	if at != nil {
		q.Set("at", strconv.FormatUint(*at, 10))
	}
	p := "/shadow/"
	if d := strings.TrimSuffix(dir, "/"); d != "" {
		p = shadowURLPath(d) + "/"
	}
	var out api.ShadowList
	err := c.doJSON(ctx, request{method: http.MethodGet, path: p, query: q, auth: true}, nil, &out)
	return out, err
}

// GetShadow is GET /shadow/{path}: the file's content (or the range
// asked for), at most Options.MaxFileBytes of it.
func (c *Client) GetShadow(ctx context.Context, path string, rd ShadowRead) (ShadowContent, error) {
	if err := filePath(path); err != nil {
		return ShadowContent{}, err
	}
	if rd.Offset < 0 || rd.Length < 0 {
		return ShadowContent{}, errors.New("a shadow range's offset and length must not be negative")
	}
	r := request{method: http.MethodGet, path: shadowURLPath(path), query: atQuery(rd.At), auth: true}
	ranged := rd.Offset > 0 || rd.Length > 0
	if ranged {
		spec := fmt.Sprintf("bytes=%d-", rd.Offset)
		if rd.Length > 0 {
			if rd.Offset > (1<<63-1)-rd.Length {
				return ShadowContent{}, errors.New("a shadow range past the largest file")
			}
			spec += strconv.FormatInt(rd.Offset+rd.Length-1, 10)
		}
		r.header = http.Header{"Range": {spec}}
	}
	resp, cancel, err := c.send(ctx, r)
	if err != nil {
		return ShadowContent{}, err
	}
	defer cancel()
	defer resp.Body.Close()
	info, err := shadowInfo(path, resp.Header)
	if err != nil {
		return ShadowContent{}, fmt.Errorf("lighthouse bridge: GET %s: %w", r.path, err)
	}
	out := ShadowContent{Path: info.Path, Size: info.Size, SHA256: info.SHA256, Sequence: info.Sequence,
		ViewSequence: info.ViewSequence, Modified: info.Modified}
	want := resp.ContentLength
	if resp.StatusCode == http.StatusPartialContent {
		first, last, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err == nil && (!ranged || first != rd.Offset || want >= 0 && want != last-first+1) {
			err = fmt.Errorf("a range %d-%d of %d bytes, announced as %d bytes, for the range asked from %d", first, last, total, want, rd.Offset)
		}
		if err != nil {
			return ShadowContent{}, fmt.Errorf("lighthouse bridge: GET %s: %w", r.path, err)
		}
		out.Offset, out.Size = first, total
	} else if resp.StatusCode != http.StatusOK {
		return ShadowContent{}, &Error{Method: r.method, Path: r.path, Status: resp.StatusCode, Message: "unexpected answer to a read"}
	} else {
		out.Size = want
	}
	if want > c.o.MaxFileBytes {
		return ShadowContent{}, fmt.Errorf("lighthouse bridge: GET %s: %w (%d bytes; Options.MaxFileBytes is %d: read it in ranges)", r.path, ErrResponseTooLarge, want, c.o.MaxFileBytes)
	}
	b, err := readAtMost(resp.Body, c.o.MaxFileBytes)
	if err != nil {
		return ShadowContent{}, fmt.Errorf("lighthouse bridge: GET %s: %w", r.path, err)
	}
	if want >= 0 && int64(len(b)) != want {
		return ShadowContent{}, fmt.Errorf("lighthouse bridge: GET %s: %d bytes of %d", r.path, len(b), want)
	}
	if resp.StatusCode == http.StatusOK {
		out.Size = int64(len(b))
	}
	out.Content = b
	return out, nil
}

// StatShadow is HEAD /shadow/{path}: the file's size, hash and sequences.
func (c *Client) StatShadow(ctx context.Context, path string, at *uint64) (ShadowInfo, error) {
	if err := filePath(path); err != nil {
		return ShadowInfo{}, err
	}
	r := request{method: http.MethodHead, path: shadowURLPath(path), query: atQuery(at), auth: true}
	resp, cancel, err := c.send(ctx, r)
	if err != nil {
		return ShadowInfo{}, err
	}
	defer cancel()
	resp.Body.Close()
	info, err := shadowInfo(path, resp.Header)
	if err != nil {
		return ShadowInfo{}, fmt.Errorf("lighthouse bridge: HEAD %s: %w", r.path, err)
	}
	info.Size = resp.ContentLength
	return info, nil
}

func atQuery(at *uint64) url.Values {
	if at == nil {
		return nil
	}
	return url.Values{"at": {strconv.FormatUint(*at, 10)}}
}

// shadowInfo reads the headers of a shadow read.
func shadowInfo(path string, h http.Header) (ShadowInfo, error) {
	info := ShadowInfo{Path: path}
	var err error
	if info.Sequence, err = strconv.ParseUint(h.Get(api.HeaderSequence), 10, 64); err != nil {
		return info, fmt.Errorf("no valid %s header", api.HeaderSequence)
	}
	if info.ViewSequence, err = strconv.ParseUint(h.Get(api.HeaderViewSequence), 10, 64); err != nil {
		return info, fmt.Errorf("no valid %s header", api.HeaderViewSequence)
	}
	etag := h.Get("ETag")
	if len(etag) != 66 || etag[0] != '"' || etag[65] != '"' || !isHex(etag[1:65]) {
		return info, fmt.Errorf("ETag %q is not a quoted SHA-256", clean(etag, 80))
	}
	info.SHA256 = etag[1:65]
	if lm := h.Get("Last-Modified"); lm != "" {
		info.Modified, _ = http.ParseTime(lm)
	}
	return info, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// parseContentRange reads "bytes FIRST-LAST/TOTAL" (RFC 9110 14.4), the
// only form a 206 of one range carries.
func parseContentRange(v string) (first, last, total int64, err error) {
	bad := fmt.Errorf("Content-Range %q is not bytes FIRST-LAST/TOTAL", clean(v, 80))
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, 0, 0, bad
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, bad
	}
	f, l, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, bad
	}
	num := func(s string) (int64, bool) {
		if s == "" || len(s) > 19 {
			return 0, false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil
	}
	var ok1, ok2, ok3 bool
	first, ok1 = num(f)
	last, ok2 = num(l)
	total, ok3 = num(tot)
	if !ok1 || !ok2 || !ok3 || first > last || last >= total {
		return 0, 0, 0, bad
	}
	return first, last, total, nil
}

// ShadowVersion is one event of a shadow file's history.
type ShadowVersion struct {
	Sequence  uint64    `json:"sequence"`
	EventID   string    `json:"event_id"`
	Type      string    `json:"event_type"` // file_modified or file_deleted
	AgentID   string    `json:"agent_id"`
	Timestamp time.Time `json:"timestamp"`
	SHA256    string    `json:"sha256,omitempty"` // file_modified only
	Size      int64     `json:"size,omitempty"`
}

// ShadowHistory is a page of a file's history.
type ShadowHistory struct {
	Path     string          `json:"path"`
	Versions []ShadowVersion `json:"versions"`
	// NextSince continues the history (as since) when More is true.
	NextSince uint64 `json:"next_since,omitempty"`
	More      bool   `json:"more,omitempty"`
}

// ShadowHistory lists the events that changed path after since, oldest
// first, at most limit (1..1000; 0 is 100) of the events the query pages
// through: GET /event/query?aggregate_id=PATH, which is how the Bridge
// indexes shadow events (api.ShadowAggregateType).
func (c *Client) ShadowHistory(ctx context.Context, path string, since uint64, limit int) (ShadowHistory, error) {
	p, err := shadow.CleanPath(path)
	if err != nil {
		return ShadowHistory{}, err
	}
	res, err := c.QueryEvents(ctx, api.EventQuery{AggregateID: p, Since: since, Limit: limit})
	if err != nil {
		return ShadowHistory{}, err
	}
	h := ShadowHistory{Path: p, Versions: []ShadowVersion{}}
	for _, e := range res.Events {
		if e.AggregateType != api.ShadowAggregateType || e.AggregateID != p {
			continue // another aggregate of the same id
		}
		v := ShadowVersion{Sequence: e.Sequence, EventID: e.ID, Type: e.Type, AgentID: e.AgentID, Timestamp: e.Timestamp}
		switch e.Type {
		case shadow.TypeFileModified:
			var fm shadow.FileModified
			if err := json.Unmarshal(e.Data, &fm); err != nil {
				return h, fmt.Errorf("lighthouse bridge: event %d: %w", e.Sequence, err)
			}
			v.SHA256, v.Size = fm.SHA256, fm.Size
		case shadow.TypeFileDeleted:
		default:
			continue
		}
		h.Versions = append(h.Versions, v)
	}
	n := limit
	if n == 0 {
		n = api.DefaultQueryLimit
	}
	if len(res.Events) > 0 && (res.Truncated || len(res.Events) >= n) {
		h.More, h.NextSince = true, res.Events[len(res.Events)-1].Sequence
	}
	return h, nil
}
