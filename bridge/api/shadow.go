package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// ShadowAggregateType is the aggregate_type of shadow events; their
// aggregate_id is the cleaned path, so GET /event/query?aggregate_id=PATH
// lists a file's history.
const ShadowAggregateType = shadow.AggregateType

// Bounds of the shadow upload path: the contents of PUTs being received
// or waiting for their commit are held in memory, at most
// shadowUploadBudget bytes of them at once (at least twice the largest
// file); a PUT waits up to shadowUploadWait for room, then gets 503.
const (
	minShadowUploadBudget = 64 << 20
	shadowUploadWait      = 10 * time.Second
)

func shadowUploadBudget(maxFile int64) int64 { return max(minShadowUploadBudget, 2*maxFile) }

// Headers of GET and HEAD /shadow/{path}, besides ETag (the content's
// quoted SHA-256) and Content-Length: the sequence of the event that
// wrote the version read, and the sequence of the state it was read from.
const (
	HeaderSequence     = "X-Lighthouse-Sequence"
	HeaderViewSequence = "X-Lighthouse-View-Sequence"
)

// ShadowWrite is the answer to PUT and DELETE /shadow/{path}.
type ShadowWrite struct {
	Path     string `json:"path"`
	Sequence uint64 `json:"sequence"`
	EventID  string `json:"event_id"`
	Status   string `json:"status"` // "stored" or "deleted"
	Size     int64  `json:"size,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
}

// ShadowFile is one file in the answer to GET /shadow/?list.
type ShadowFile struct {
	Path     string    `json:"path"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"`
	Sequence uint64    `json:"sequence"` // the event that wrote this version
	Modified time.Time `json:"modified"`
}

// ShadowList is the answer to GET /shadow/{dir}?list.
type ShadowList struct {
	Sequence uint64       `json:"sequence"` // the state listed: every event up to it
	Prefix   string       `json:"prefix,omitempty"`
	Files    []ShadowFile `json:"files"`
}

// ShadowPart is the shadow-file routes over p, which must be fed by the
// store (the Bridge registers it as a projection):
//
//	PUT    /shadow/{path...}           body = the file's complete content
//	DELETE /shadow/{path...}
//	GET    /shadow/{path...}[?at=SEQ]  the content, latest or as of SEQ
//	GET    /shadow/[dir]?list[&at=SEQ] JSON listing of the files under dir
//
//	HEAD   /shadow/{path...}[?at=SEQ]  the headers of the GET (size, ETag, sequences)
//
// Each change is one event made durable before the answer; every agent
// reads them, as every agent reads the files. A PUT's body is bounded by
// the largest shadow file (LIGHTHOUSE_SHADOW_MAX_FILE_BYTES: 413, before
// reading when the announced length says so), charged to the bytes in
// flight as it arrives, and waits for room in the shadow upload budget.
// Request paths that the router would rewrite ("..", "./", "//") are
// refused with 400 rather than redirected, so a confined path is never
// silently changed. With a nil p it still describes the routes (with the
// default file limit).
func ShadowPart(s *Server, p *shadow.Projection) Part {
	maxFile := int64(shadow.DefaultMaxFileBytes)
	if p != nil {
		maxFile = p.MaxFileBytes()
	}
	h := &shadowRoutes{s: s, p: p, uploads: semaphore.NewWeighted(shadowUploadBudget(maxFile))}
	return Part{
		Name: "shadow",
		Routes: []Route{
			{Method: http.MethodPut, Path: "/shadow/{path...}", Access: Agent, Handler: h.put, CleanPath: true,
				RawBody: true, MaxBody: maxFile, MaxBodyFrom: "the largest shadow file, " + config.EnvShadowMaxFileBytes,
				Response: TypeOf[ShadowWrite](), Writes: []EventType{publicType(shadow.TypeFileModified)},
				Doc: "record the new content of a project file"},
			{Method: http.MethodDelete, Path: "/shadow/{path...}", Access: Agent, Handler: h.delete, CleanPath: true,
				Response: TypeOf[ShadowWrite](), Writes: []EventType{publicType(shadow.TypeFileDeleted)},
				Doc: "record the deletion of a project file"},
			{Method: http.MethodGet, Path: "/shadow/{path...}", Access: Agent, Handler: h.get, CleanPath: true,
				Params: []string{"at", "list"}, Produces: "application/octet-stream", Response: TypeOf[ShadowList](),
				Doc: "a file's content (latest or ?at=SEQ; Range, If-Range, If-None-Match), or with ?list the JSON listing of a directory"},
			{Method: http.MethodHead, Path: "/shadow/{path...}", Access: Agent, Handler: h.get, CleanPath: true,
				Params: []string{"at", "list"}, Produces: "application/octet-stream",
				Doc: "the headers GET answers for a file (Content-Length, ETag, X-Lighthouse-Sequence), without its content"},
		},
	}
}

// EnableShadow serves ShadowPart(s, p).
func (s *Server) EnableShadow(p *shadow.Projection) { s.Add(ShadowPart(s, p)) }

type shadowRoutes struct {
	s       *Server
	p       *shadow.Projection
	uploads *semaphore.Weighted // bytes of PUT content held in memory
	wait    time.Duration       // longest wait for room in uploads; 0: shadowUploadWait
}

// shadowPath cleans the request's file path, mapping every rule to 400.
// A trailing slash names a directory, which only ?list reads: a file
// route given one is refused, as the router's other unclean paths are,
// rather than acting on the file the slash was stripped from.
func shadowPath(r *http.Request) (string, error) {
	raw := r.PathValue("path")
	if strings.HasSuffix(raw, "/") {
		return "", Errorf(http.StatusBadRequest, "%v %q: a file path must not end in \"/\" (to list a directory, GET /shadow/%s?list)", shadow.ErrInvalidPath, raw, raw)
	}
	c, err := shadow.CleanPath(raw)
	if err != nil {
		return "", Errorf(http.StatusBadRequest, "%v", err)
	}
	return c, nil
}

func (h *shadowRoutes) put(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id, err := Caller(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	p, err := shadowPath(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	limit := h.p.MaxFileBytes()
	tooLarge := func() {
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("shadow file %q is larger than %d bytes, the largest this bridge accepts (%s)", p, limit, config.EnvShadowMaxFileBytes))
	}
	if r.ContentLength > limit { // the row refuses it first; this handler may run without one
		tooLarge()
		return
	}
	// Refuse a conflicting path, or one too deep, before receiving any
	// content (the room for the content is checked once it is known).
	if err := h.p.CheckWrite(p); err != nil {
		WriteError(w, http.StatusConflict, err.Error())
		return
	}
	if err := h.p.CheckRoom(id.AgentID, p, false, [32]byte{}, 0); errors.Is(err, shadow.ErrTooDeep) {
		writeRoomErr(w, p, err)
		return
	}
	release, err := h.reserve(r.Context(), r.ContentLength, limit)
	if err != nil {
		if r.Context().Err() == nil {
			w.Header().Set("Retry-After", "1")
			WriteError(w, http.StatusServiceUnavailable, err.Error())
		}
		return
	}
	defer release()
	// ReadBody: the buffer grows with the bytes received, each charged to
	// the bytes in flight (503 with Retry-After when they are spent).
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	content, err := ReadBody(w, r)
	var ae *Error
	if errors.As(err, &ae) && ae.Status == http.StatusRequestEntityTooLarge {
		tooLarge()
		return
	}
	if err != nil {
		WriteErr(w, err)
		return
	}
	ev, err := shadow.ModifiedEvent(p, id.AgentID, content)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.p.CheckRoom(id.AgentID, p, false, ev.Blobs[0].Sum(), int64(len(content))); err != nil {
		writeRoomErr(w, p, err)
		return
	}
	stored, ok := h.append(w, r, ev)
	if !ok {
		return
	}
	h.s.metrics.AppendDuration.Observe(time.Since(start).Seconds())
	seq := stored.Sequence
	// CheckWrite and Append are not one step: a concurrent write may have
	// made p conflict in between. The event is then stored but changes no
	// file; say so rather than claim the content was recorded.
	if v, err := h.p.At(seq); err == nil {
		if e, ok := v.Stat(p); !ok || e.Kind != shadow.KindFile || e.Seq != seq {
			WriteError(w, http.StatusConflict, fmt.Sprintf("a concurrent write made %q conflict: event %d was logged but changed no file", p, seq))
			return
		}
	}
	sum := ev.Blobs[0].Sum() // ModifiedEvent's one blob: the content
	WriteJSON(w, http.StatusOK, ShadowWrite{Path: p, Sequence: seq, EventID: stored.ID, Status: "stored", Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:])})
}

// reserve takes room for a PUT's content in the upload budget: the
// announced length, or the largest file when the length is unknown. It
// waits at most shadowUploadWait.
func (h *shadowRoutes) reserve(ctx context.Context, announced, limit int64) (func(), error) {
	n := limit
	if announced >= 0 {
		n = max(announced, 1)
	}
	wait := h.wait
	if wait <= 0 {
		wait = shadowUploadWait
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := h.uploads.Acquire(wctx, n); err != nil {
		return nil, fmt.Errorf("too many shadow uploads in progress: the bridge holds at most %d bytes of them in memory; retry shortly", shadowUploadBudget(limit))
	}
	return func() { h.uploads.Release(n) }, nil
}

func (h *shadowRoutes) delete(w http.ResponseWriter, r *http.Request) {
	id, err := Caller(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	p, err := shadowPath(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	if e, ok := h.p.Current().Stat(p); !ok || e.Kind != shadow.KindFile {
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no shadow file %q to delete", p))
		return
	}
	ev, err := shadow.DeletedEvent(p, id.AgentID)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.p.CheckRoom(id.AgentID, p, true, [32]byte{}, 0); err != nil {
		writeRoomErr(w, p, err)
		return
	}
	stored, ok := h.append(w, r, ev)
	if !ok {
		return
	}
	seq := stored.Sequence
	// As for PUT: a concurrent DELETE may have removed p first, making
	// this event a no-op.
	if prev, err := h.p.At(seq - 1); err == nil {
		if e, ok := prev.Stat(p); !ok || e.Kind != shadow.KindFile {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("%q was deleted by a concurrent request before event %d, which changed nothing", p, seq))
			return
		}
	}
	WriteJSON(w, http.StatusOK, ShadowWrite{Path: p, Sequence: seq, EventID: stored.ID, Status: "deleted"})
}

// append stores one shadow event (with its content's blob) and returns it
// once durable. On failure it has answered the request (nothing, if the
// client is gone): 507 when the new content would pass the total shadow
// limit, 503 when the store fails.
func (h *shadowRoutes) append(w http.ResponseWriter, r *http.Request, ev store.Event) (store.Event, bool) {
	evs, err := h.s.store.Append(r.Context(), ev)
	var full *store.BlobSpaceError
	switch {
	case errors.As(err, &full):
		WriteError(w, http.StatusInsufficientStorage, fmt.Sprintf(
			"the shadow is full: it holds %d bytes of distinct content (every version ever stored; history keeps them all), this version would add %d, the limit is %d (%s); nothing was stored. Content already stored is still accepted; an operator can raise the limit",
			full.Used, full.Adding, full.Limit, config.EnvShadowMaxTotalBytes))
		return store.Event{}, false
	case err != nil:
		if r.Context().Err() == nil {
			h.s.storeFailure(w, err)
		}
		return store.Event{}, false
	}
	return evs[0], true
}

// view is the state a GET reads: the latest, or ?at=SEQ.
func (h *shadowRoutes) view(r *http.Request) (shadow.View, error) {
	q := r.URL.Query() // its row admits at and list, each once
	if !q.Has("at") {
		return h.p.Current(), nil
	}
	seq, err := strconv.ParseUint(q.Get("at"), 10, 64)
	if err != nil {
		return shadow.View{}, Errorf(http.StatusBadRequest, "at=%q must be an event sequence (a non-negative integer)", q.Get("at"))
	}
	v, err := h.p.At(seq)
	if errors.Is(err, shadow.ErrFuture) {
		return shadow.View{}, Errorf(http.StatusBadRequest, "at=%d is after the last applied event %d", seq, h.p.LastSeq())
	}
	return v, err
}

func (h *shadowRoutes) get(w http.ResponseWriter, r *http.Request) {
	v, err := h.view(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	raw := r.PathValue("path")
	if r.URL.Query().Has("list") {
		h.list(w, v, raw)
		return
	}
	if raw == "" {
		WriteError(w, http.StatusBadRequest, "no path: GET /shadow/{path} reads a file, GET /shadow/?list lists them")
		return
	}
	p, err := shadowPath(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	f, err := v.Open(p)
	switch {
	case errors.Is(err, shadow.ErrNotFound):
		if e, isDir := v.Stat(p); isDir && e.Kind == shadow.KindDir {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("%q is a directory as of sequence %d; list it with GET /shadow/%s?list", p, v.Seq(), p))
			return
		}
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no shadow file %q as of sequence %d", p, v.Seq()))
		return
	case err != nil:
		h.s.log.Error("shadow content unreadable", "path", p, "error", err)
		WriteError(w, http.StatusInternalServerError, err.Error()+"; the event store is damaged: restore it from a backup (GET /admin/backup)")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", `"`+hex.EncodeToString(f.SHA256[:])+`"`)
	hd.Set(HeaderSequence, strconv.FormatUint(f.Seq, 10))
	hd.Set(HeaderViewSequence, strconv.FormatUint(v.Seq(), 10))
	// Streamed from the store in small reads, with Range, If-Range,
	// If-None-Match and HEAD handled by the standard library.
	http.ServeContent(w, r, "", f.ModTime, io.NewSectionReader(f, 0, f.Size))
}

func (h *shadowRoutes) list(w http.ResponseWriter, v shadow.View, raw string) {
	prefix := ""
	if strings.Trim(raw, "/") != "" {
		c, err := shadow.CleanPath(raw)
		if err != nil {
			WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		e, ok := v.Stat(c)
		if !ok || e.Kind != shadow.KindDir {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("no shadow directory %q as of sequence %d", c, v.Seq()))
			return
		}
		prefix = c + "/"
	}
	writeList(w, h.p, v, prefix)
}

// listPart is how many files a listing gathers under the projection's
// read lock at a time.
const listPart = 1000

// writeList writes the ShadowList of the files under prefix as WriteJSON
// would, byte for byte, but in parts of listPart files, each gathered,
// encoded and written before the next: a listing of a large project
// holds one part in memory, not the whole answer, and never holds the
// projection's lock while the client reads. The parts are all read from
// the view's one sequence.
func writeList(w http.ResponseWriter, p *shadow.Projection, v shadow.View, prefix string) {
	seq := v.Seq()
	if v.Live() {
		if at, err := p.At(seq); err == nil {
			v = at
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	var buf bytes.Buffer
	enc := newEncoder(&buf)
	fmt.Fprintf(&buf, `{"sequence":%d`, seq)
	if prefix != "" {
		buf.WriteString(`,"prefix":`)
		enc.Encode(prefix)
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteString(`,"files":[`)
	first, after := true, ""
	for {
		var part []ShadowFile
		last, more := v.WalkAfter(after, listPart, func(f shadow.File) {
			if strings.HasPrefix(f.Path, prefix) {
				part = append(part, ShadowFile{Path: f.Path, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256[:]), Sequence: f.Seq, Modified: f.ModTime.UTC()})
			}
		})
		for i := range part {
			if !first {
				buf.WriteByte(',')
			}
			first = false
			enc.Encode(&part[i])
			buf.Truncate(buf.Len() - 1)
		}
		if _, err := w.Write(buf.Bytes()); err != nil {
			return
		}
		buf.Reset()
		if !more || last == "" {
			break
		}
		after = last
	}
	buf.WriteString("]}\n")
	w.Write(buf.Bytes())
}

// writeRoomErr answers a change CheckRoom refused: 400 for a path too
// deep, 507 for a full index or an agent's spent share, each naming the
// variable that sets the bound. Nothing was stored.
func writeRoomErr(w http.ResponseWriter, p string, err error) {
	var re *shadow.RoomError
	if !errors.As(err, &re) {
		WriteErr(w, err)
		return
	}
	switch {
	case errors.Is(err, shadow.ErrTooDeep):
		WriteError(w, http.StatusBadRequest, fmt.Sprintf("shadow path %q is %d directories deep; at most %d are accepted (%s)",
			p, re.Adding, re.Limit, config.EnvShadowMaxPathDepth))
	case errors.Is(err, shadow.ErrIndexFull):
		WriteError(w, http.StatusInsufficientStorage, fmt.Sprintf(
			"the shadow's index is full: the bridge keeps every path, version and directory change in memory for history/, about %d bytes now; this change adds %d and the limit is %d (%s). Nothing was stored; an operator can raise the limit (within the memory limit)",
			re.Used, re.Adding, re.Limit, config.EnvShadowMaxIndexBytes))
	default:
		what := "of the shadow's index (" + config.EnvShadowMaxIndexBytes + ")"
		if re.What == "agent content" {
			what = "of the distinct shadow content (" + config.EnvShadowMaxTotalBytes + ")"
		}
		WriteError(w, http.StatusInsufficientStorage, fmt.Sprintf(
			"agent %q has used its share %s: its changes hold %d bytes, this one adds %d, one agent may hold %d (%s percent). Nothing was stored; history keeps what is stored for good, so an operator must raise the limits",
			re.Agent, what, re.Used, re.Adding, re.Limit, config.EnvShadowAgentShare))
	}
}
