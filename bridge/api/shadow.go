package api

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// ShadowAggregateType is the aggregate_type of shadow events; their
// aggregate_id is the cleaned path, so GET /event/query?aggregate_id=PATH
// lists a file's history.
const ShadowAggregateType = "shadow_file"

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
// Each change is one event made durable before the answer; every agent
// reads them, as every agent reads the files. Request paths that the
// router would rewrite ("..", "./", "//") are refused with 400 rather
// than redirected, so a confined path is never silently changed. With a
// nil p it still describes the routes.
func ShadowPart(s *Server, p *shadow.Projection) Part {
	h := &shadowRoutes{s: s, p: p}
	return Part{
		Name: "shadow",
		Routes: []Route{
			{Method: http.MethodPut, Path: "/shadow/{path...}", Access: Agent, Handler: h.put, CleanPath: true,
				RawBody: true, Response: TypeOf[ShadowWrite](), Writes: []EventType{publicType(shadow.TypeFileModified)},
				Doc: "record the new content of a project file"},
			{Method: http.MethodDelete, Path: "/shadow/{path...}", Access: Agent, Handler: h.delete, CleanPath: true,
				Response: TypeOf[ShadowWrite](), Writes: []EventType{publicType(shadow.TypeFileDeleted)},
				Doc: "record the deletion of a project file"},
			{Method: http.MethodGet, Path: "/shadow/{path...}", Access: Agent, Handler: h.get, CleanPath: true,
				Params: []string{"at", "list"}, Produces: "application/octet-stream", Response: TypeOf[ShadowList](),
				Doc: "a file's content (latest or ?at=SEQ), or with ?list the JSON listing of a directory"},
		},
	}
}

// EnableShadow serves ShadowPart(s, p).
func (s *Server) EnableShadow(p *shadow.Projection) { s.Add(ShadowPart(s, p)) }

type shadowRoutes struct {
	s *Server
	p *shadow.Projection
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
	content, err := ReadBody(w, r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	if err := h.p.CheckWrite(p); err != nil {
		WriteError(w, http.StatusConflict, err.Error())
		return
	}
	fm, err := shadow.NewFileModified(p, content)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	ev, ok := h.append(w, r, shadow.TypeFileModified, p, id.AgentID, fm)
	if !ok {
		return
	}
	h.s.metrics.AppendDuration.Observe(time.Since(start).Seconds())
	seq := ev.Sequence
	// CheckWrite and Append are not one step: a concurrent write may have
	// made p conflict in between. The event is then stored but changes no
	// file; say so rather than claim the content was recorded.
	if v, err := h.p.At(seq); err == nil {
		if f, ok := v.Read(p); !ok || f.Seq != seq {
			WriteError(w, http.StatusConflict, fmt.Sprintf("a concurrent write made %q conflict: event %d was logged but changed no file", p, seq))
			return
		}
	}
	WriteJSON(w, http.StatusOK, ShadowWrite{Path: p, Sequence: seq, EventID: ev.ID, Status: "stored", Size: fm.Size, SHA256: fm.SHA256})
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
	fd, err := shadow.NewFileDeleted(p)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	ev, ok := h.append(w, r, shadow.TypeFileDeleted, p, id.AgentID, fd)
	if !ok {
		return
	}
	seq := ev.Sequence
	// As for PUT: a concurrent DELETE may have removed p first, making
	// this event a no-op.
	if prev, err := h.p.At(seq - 1); err == nil {
		if e, ok := prev.Stat(p); !ok || e.Kind != shadow.KindFile {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("%q was deleted by a concurrent request before event %d, which changed nothing", p, seq))
			return
		}
	}
	WriteJSON(w, http.StatusOK, ShadowWrite{Path: p, Sequence: seq, EventID: ev.ID, Status: "deleted"})
}

// append stores one shadow event for path p and returns it once durable.
// On failure it has answered the request (nothing, if the client is gone).
func (h *shadowRoutes) append(w http.ResponseWriter, r *http.Request, typ, p, agent string, payload any) (store.Event, bool) {
	data, err := json.Marshal(payload)
	if err != nil {
		WriteErr(w, err)
		return store.Event{}, false
	}
	evs, err := h.s.store.Append(r.Context(), store.Event{
		Type: typ, AggregateID: p, AggregateType: ShadowAggregateType, AgentID: agent, Data: data,
	})
	if err != nil {
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
	f, ok := v.Read(p)
	if !ok {
		if e, isDir := v.Stat(p); isDir && e.Kind == shadow.KindDir {
			WriteError(w, http.StatusNotFound, fmt.Sprintf("%q is a directory as of sequence %d; list it with GET /shadow/%s?list", p, v.Seq(), p))
			return
		}
		WriteError(w, http.StatusNotFound, fmt.Sprintf("no shadow file %q as of sequence %d", p, v.Seq()))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(f.Content)))
	hd.Set("ETag", `"`+hex.EncodeToString(f.SHA256[:])+`"`)
	hd.Set("Last-Modified", f.ModTime.UTC().Format(http.TimeFormat))
	hd.Set("X-Lighthouse-Sequence", strconv.FormatUint(f.Seq, 10))
	hd.Set("X-Lighthouse-View-Sequence", strconv.FormatUint(v.Seq(), 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(f.Content)
	}
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
	out := ShadowList{Sequence: v.Seq(), Prefix: prefix, Files: []ShadowFile{}}
	v.Walk(func(f shadow.File) {
		if strings.HasPrefix(f.Path, prefix) {
			out.Files = append(out.Files, ShadowFile{Path: f.Path, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256[:]), Sequence: f.Seq, Modified: f.ModTime.UTC()})
		}
	})
	WriteJSON(w, http.StatusOK, out)
}
