package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// hub serves every /event/stream from one pump: it reads each new event
// from the store once, decides once who may read it, encodes its SSE
// frame once, and keeps the recent frames in a ring shared by all
// streams, bounded in frames and bytes. A stream copies references to the
// frames it has not sent yet and writes those its reader may see; nothing
// a stream does blocks the pump or an append. A stream that falls so far
// behind that the frames it needs have left the ring is ended with a
// "reconnect" event whose id is the last sequence it covered, so the
// reader's EventSource resumes from there (Last-Event-ID) and catches up
// from the store. A new stream whose since is older than the ring catches
// up from the store too, in batches, before it joins the ring.
type hub struct {
	s      *Server
	limits Limits

	mu       sync.Mutex // the counts
	streams  int
	perAgent map[string]int
	kick     chan struct{} // wakes a paused pump

	rmu    sync.RWMutex // the ring
	ring   []*frame     // circular, capacity limits.StreamBufferEvents
	head   int          // index of the oldest frame
	n      int
	bytes  int64
	base   uint64 // the ring holds the frames of sequences base+1 .. last
	last   uint64
	epoch  uint64        // bumped when the ring restarts after a pause
	wake   chan struct{} // closed when frames arrive
	pumped bool          // the pump goroutine runs

	// catchUps bounds the streams reading the store at once (each such
	// batch is encoded for one stream): many streams opened far in the
	// past take turns instead of starving the appends.
	catchUps chan struct{}

	encoded  atomic.Uint64 // frames the pump encoded (once for all streams)
	caughtUp atomic.Uint64 // events encoded for one catching-up stream
}

// errStopping ends a stream's wait when the Bridge shuts down.
var errStopping = errors.New("the bridge is shutting down")

// frame is one event, encoded once for every stream: "id: …\nevent:
// …\ndata: …\n\n", in chunks of at most frameChunk bytes, each its own
// allocation. A stream writes a large frame chunk by chunk and holds
// only the chunk it is writing: a reader that stops reading pins at most
// one chunk, not the frame (see sendLarge), so the memory streams hold
// is the ring's bound plus a chunk and a batch buffer per stream.
type frame struct {
	seq    uint64
	aud    audience
	size   int64
	chunks [][]byte
}

// frameChunk is the largest piece of a frame a stream holds while
// writing, and the largest frame copied into a stream's batch buffer.
const frameChunk = streamBatchBytes

// Stream tunables.
const (
	// streamBatch bounds the events one catch-up read gathers.
	streamBatch = 256
	// streamBatchBytes bounds the event data one catch-up read gathers
	// and the frame bytes one ring read takes (at least one frame).
	streamBatchBytes = 64 << 10
	// pumpBatchBytes bounds the event data one pump read holds.
	pumpBatchBytes = 4 << 20
	// streamWriteTimeout ends a stream whose reader takes no bytes for
	// this long.
	streamWriteTimeout = 30 * time.Second
	// streamWriteEvery spaces a stream's writes under load: a stream that
	// has just written waits this long before it writes again, so a burst
	// of appends costs each stream one write, not one per commit. An
	// event after a quiet spell goes out at once.
	streamWriteEvery = 250 * time.Millisecond
	// RetryAfterStreams is the Retry-After of the 429 beyond a stream cap.
	RetryAfterStreams = 10 * time.Second
)

func newHub(s *Server, l Limits) *hub {
	return &hub{s: s, limits: l, perAgent: map[string]int{}, kick: make(chan struct{}, 1), catchUps: make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		ring: make([]*frame, l.StreamBufferEvents), wake: make(chan struct{})}
}

// admit counts a stream against the caps for its whole life: beyond
// MaxStreamsPerAgent of its agent, or MaxStreams in all, it is 429.
func (h *hub) admit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.FromContext(r.Context())
		if err := h.acquire(id.AgentID); err != nil {
			WriteErr(w, err)
			return
		}
		defer h.release(id.AgentID)
		next.ServeHTTP(w, r)
	})
}

func (h *hub) acquire(agent string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.perAgent[agent] >= h.limits.MaxStreamsPerAgent:
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: RetryAfterStreams,
			Message: fmt.Sprintf("agent %q already has %d open event streams, the most one agent may hold; close one first", agent, h.limits.MaxStreamsPerAgent)}
	case h.streams >= h.limits.MaxStreams:
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: RetryAfterStreams,
			Message: fmt.Sprintf("the bridge serves %d event streams, its limit; retry later", h.limits.MaxStreams)}
	}
	h.streams++
	h.perAgent[agent]++
	if !h.pumped {
		h.pumped = true
		go h.pump()
	}
	select {
	case h.kick <- struct{}{}:
	default:
	}
	return nil
}

func (h *hub) release(agent string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams--
	if h.perAgent[agent]--; h.perAgent[agent] <= 0 {
		delete(h.perAgent, agent)
	}
}

// Streams is the number of open /event/stream answers.
func (s *Server) Streams() int { return s.hub.Streams() }

// Streams is the number of open event streams.
func (h *hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.streams
}

// pump follows the store while any stream is open. Paused (no streams),
// it encodes nothing; on resuming the ring restarts at the end of the
// log (a new epoch), and streams behind it catch up from the store.
func (h *hub) pump() {
	st := h.s.store
	paused := true
	for {
		h.mu.Lock()
		idle := h.streams == 0
		h.mu.Unlock()
		if idle {
			paused = true
			select {
			case <-h.kick:
				continue
			case <-h.s.stopping:
				return
			}
		}
		if paused {
			paused = false
			h.restart(st.LastSequence())
		}
		changed := st.Changed()
		applied := st.LastSequence()
		h.rmu.RLock()
		last := h.last
		h.rmu.RUnlock()
		if applied > last {
			var got int
			evs, err := st.Query(store.Filter{Since: last, Limit: streamBatch, Admit: func(n int) bool {
				if got > 0 && got+n > pumpBatchBytes {
					return false
				}
				got += n
				return true
			}})
			if err != nil {
				h.s.log.Error("event stream pump: reading the store", "error", err)
				evs = nil
			}
			frames := make([]*frame, 0, len(evs))
			for i := range evs {
				if evs[i].Sequence > applied {
					break // committed, not applied yet: next round
				}
				frames = append(frames, newFrame(&evs[i], h.s.audienceOf(&evs[i])))
				h.encoded.Add(1)
			}
			if len(frames) > 0 {
				h.publish(frames)
				continue
			}
		}
		select {
		case <-changed:
		case <-h.kick:
		case <-time.After(time.Second): // re-check the stream count
		case <-h.s.stopping:
			return
		}
	}
}

func (h *hub) restart(at uint64) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	h.restartLocked(at)
}

func (h *hub) restartLocked(at uint64) {
	clear(h.ring)
	h.head, h.n, h.bytes = 0, 0, 0
	h.base, h.last = at, at
	h.epoch++
	close(h.wake) // streams waiting for the ring to start
	h.wake = make(chan struct{})
}

// publish appends frames to the ring, dropping the oldest beyond its
// bounds, and wakes the streams.
func (h *hub) publish(frames []*frame) {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	for _, f := range frames {
		if f.seq <= h.last {
			continue // already there
		}
		if f.seq != h.last+1 {
			// A gap in the log (a damaged store): the ring holds only
			// consecutive frames, so it restarts after the gap; streams
			// in it see a new epoch and read the gap from the store.
			h.restartLocked(f.seq - 1)
		}
		for h.n > 0 && (h.n == len(h.ring) || h.bytes+f.size > h.limits.StreamBufferBytes) {
			old := h.ring[h.head]
			h.ring[h.head] = nil
			h.head = (h.head + 1) % len(h.ring)
			h.n--
			h.bytes -= old.size
			h.base = old.seq
		}
		h.ring[(h.head+h.n)%len(h.ring)] = f
		h.n++
		h.bytes += f.size
		h.last = f.seq
	}
	close(h.wake)
	h.wake = make(chan struct{})
}

// ringRead is what a stream finds in the ring after cursor.
type ringRead struct {
	frames []*frame
	wake   <-chan struct{}
	epoch  uint64
	before bool // cursor is older than the ring
}

// read returns references to the frames after cursor, at most
// streamBatchBytes of them (at least one).
func (h *hub) read(cursor uint64) ringRead {
	h.rmu.RLock()
	defer h.rmu.RUnlock()
	rr := ringRead{wake: h.wake, epoch: h.epoch}
	if !h.pumpedLocked() || cursor < h.base {
		rr.before = true
		return rr
	}
	var size int64
	for i := cursor - h.base; i < uint64(h.n); i++ {
		f := h.ring[(h.head+int(i))%len(h.ring)]
		if len(rr.frames) > 0 && size+f.size > streamBatchBytes {
			break
		}
		rr.frames = append(rr.frames, f)
		size += f.size
	}
	return rr
}

// pumpedLocked: the ring has started (its first epoch).
func (h *hub) pumpedLocked() bool { return h.epoch > 0 }

// sseName is the event's SSE name: its type, when it is a name that cannot
// break the SSE framing (every type POST /event/store accepts is) and is
// not one of the stream's own control names. An agent may store an event
// of type "reconnect", "session_ended" or "error": named so, it would
// tell every reader to resume elsewhere, renew its session or give up.
func sseName(t string) string {
	switch t {
	case SSEReconnect, SSESessionEnded, SSEError:
		return "event"
	}
	if len(t) <= MaxNameLen && snakeCase.MatchString(t) {
		return t
	}
	return "event"
}

// encodeFrame is e's SSE frame. The data line is e as JSON without HTML
// escaping: an event stream is not HTML, and escaping would make each
// '<', '>' and '&' of the event six bytes (a 1 MiB event a 6 MiB frame).
// JSON never holds a raw newline, so the frame stays one data line.
func encodeFrame(e *store.Event) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "id: %d\nevent: %s\ndata: ", e.Sequence, sseName(e.Type))
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil { // Encode ends it with '\n'
		buf.Truncate(0)
		fmt.Fprintf(&buf, "id: %d\nevent: %s\ndata: {\"sequence\":%d,\"error\":%q}\n", e.Sequence, sseName(e.Type), e.Sequence, err.Error())
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// newFrame encodes e for every stream, in chunks.
func newFrame(e *store.Event, aud audience) *frame {
	b := encodeFrame(e)
	f := &frame{seq: e.Sequence, aud: aud, size: int64(len(b))}
	if len(b) <= frameChunk {
		f.chunks = [][]byte{b}
		return f
	}
	for len(b) > 0 {
		n := min(len(b), frameChunk)
		f.chunks = append(f.chunks, bytes.Clone(b[:n]))
		b = b[n:]
	}
	return f
}

// streamer is one /event/stream answer.
type streamer struct {
	s      *Server
	w      http.ResponseWriter
	rc     *http.ResponseController
	r      *http.Request
	id     auth.Identity
	token  string
	cursor uint64 // every event up to it is sent or not the reader's
	epoch  uint64 // the ring epoch the stream follows; 0 before it joins
	wrote  time.Time
}

func (s *Server) handleEventStream(w http.ResponseWriter, r *http.Request) {
	since := s.store.LastSequence()
	q := r.URL.Query().Get("since")
	if q == "" {
		q = r.Header.Get("Last-Event-ID")
	}
	if q != "" {
		n, err := strconv.ParseUint(q, 10, 64)
		if err != nil {
			WriteError(w, http.StatusBadRequest, fmt.Sprintf("since must be a sequence number (a non-negative integer), got %q", q))
			return
		}
		since = n
	}
	token, err := auth.BearerToken(r)
	if err != nil { // the auth middleware admitted it, so never
		WriteError(w, http.StatusUnauthorized, err.Error())
		return
	}
	id, err := Caller(r)
	if err != nil {
		WriteErr(w, err)
		return
	}
	st := &streamer{s: s, w: w, rc: http.NewResponseController(w), r: r, id: id, token: token, cursor: since}
	// With no WriteTimeout the server never resets a write deadline: the
	// stream's must not outlive it on a kept-alive connection.
	defer st.rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	// The body ends when the connection closes, unchunked: a batch of
	// frames is then one write to the socket, where chunking costs three.
	w.Header().Set("Transfer-Encoding", "identity")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return // the headers are the whole answer
	}
	fmt.Fprintf(w, ": streaming events after sequence %d\n\n", since)
	if st.flush() != nil {
		return
	}
	st.run()
}

func (st *streamer) flush() error {
	st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	return st.rc.Flush()
}

func (st *streamer) run() {
	h := st.s.hub
	beat := time.NewTicker(st.s.heartbeat)
	defer beat.Stop()
	for {
		rr := h.read(st.cursor)
		if rr.before {
			if st.epoch != 0 && st.epoch == rr.epoch {
				st.fellBehind()
				return
			}
			if rr.epoch != 0 || st.cursor < st.s.store.LastSequence() {
				if !st.catchUp() {
					return
				}
				continue
			}
			// Nothing to catch up, and the ring has not started yet.
		}
		st.epoch = rr.epoch
		if len(rr.frames) > 0 {
			if wait := streamWriteEvery - time.Since(st.wrote); wait > 0 {
				if !st.pause(wait) {
					return
				}
				continue // read again: more frames may have come
			}
			if !st.send(rr.frames) {
				return
			}
			st.wrote = time.Now()
			continue
		}
		select {
		case <-rr.wake:
		case <-beat.C:
			if !st.sessionValid() {
				return
			}
			fmt.Fprint(st.w, ": keep-alive\n\n")
			if st.flush() != nil {
				return
			}
		case <-st.r.Context().Done():
			return
		case <-st.s.stopping:
			return
		}
	}
}

// pause waits d unless the stream ends meanwhile.
func (st *streamer) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-st.r.Context().Done():
		return false
	case <-st.s.stopping:
		return false
	}
}

// send writes the frames the reader may see. The session is checked
// first: every frame is an event already applied, so a session an event
// among them evicted is already gone.
func (st *streamer) send(frames []*frame) bool {
	if !st.sessionValid() {
		return false
	}
	// One write of the whole batch: the response writer passes a large
	// write straight to the connection, in one chunk and one syscall,
	// where frame by frame it would copy through its small buffers.
	buf := writeBufs.Get().(*[]byte)
	defer func() {
		if cap(*buf) <= 2*streamBatchBytes {
			writeBufs.Put(buf)
		}
	}()
	b := (*buf)[:0]
	for i, f := range frames {
		frames[i] = nil // what is sent is no longer held
		if !f.aud.allows(st.id) {
			st.cursor = f.seq
			continue
		}
		if f.size <= frameChunk {
			b = append(b, f.chunks[0]...)
			st.cursor = f.seq
			continue
		}
		// A large frame: what is batched goes first, then the frame
		// chunk by chunk, holding no reference to the frame itself.
		if len(b) > 0 {
			if _, err := st.w.Write(b); err != nil {
				return false
			}
			b = b[:0]
		}
		seq := f.seq
		f = nil
		if !st.sendLarge(seq) {
			return false
		}
		st.cursor = seq
	}
	*buf = b
	if len(b) > 0 {
		if _, err := st.w.Write(b); err != nil {
			return false
		}
	}
	return st.flush() == nil
}

// sendLarge writes the frame of seq one chunk at a time, looking each
// chunk up in the ring, so a write that blocks on a reader who does not
// read holds one chunk, and the frame leaves the ring on time. If it
// leaves before the stream has sent it, the stream falls behind in the
// middle of a frame: its connection is closed, and the reader (which
// drops the incomplete event) reconnects from its Last-Event-ID.
func (st *streamer) sendLarge(seq uint64) bool {
	for k := 0; ; k++ {
		chunk, more, ok := st.s.hub.chunk(seq, k)
		switch {
		case !ok && k == 0:
			st.fellBehind() // nothing of it sent: a reconnect event
			return false
		case !ok:
			panic(http.ErrAbortHandler) // closes the connection mid-frame
		}
		st.rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
		if _, err := st.w.Write(chunk); err != nil {
			return false
		}
		if !more {
			return true
		}
	}
}

// chunk is chunk k of the ring's frame of seq, and whether more follow;
// ok is false once the frame has left the ring.
func (h *hub) chunk(seq uint64, k int) (chunk []byte, more, ok bool) {
	h.rmu.RLock()
	defer h.rmu.RUnlock()
	if seq <= h.base || seq > h.last {
		return nil, false, false
	}
	f := h.ring[(h.head+int(seq-h.base-1))%len(h.ring)]
	if f == nil || f.seq != seq || k >= len(f.chunks) {
		return nil, false, false
	}
	return f.chunks[k], k+1 < len(f.chunks), true
}

// writeBufs are the streams' batch buffers, held only while writing.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, streamBatchBytes); return &b }}

// catchUp sends one batch of the events after the cursor from the store,
// for a stream behind the ring (a since in the past, or a paused pump).
// It encodes them for this stream alone: the ring serves the rest.
func (st *streamer) catchUp() bool {
	// Events up to applied have reached the session projection, so a
	// session an event among them evicts is already gone when checked.
	applied := st.s.store.LastSequence()
	if !st.sessionValid() {
		return false
	}
	batch, cursor, release, err := st.gatherBatch(applied)
	defer release() // the batch stays charged until it is written
	if err != nil {
		if e, ok := err.(*Error); ok && (e.Status == http.StatusServiceUnavailable || e.Status == http.StatusTooManyRequests) {
			return st.pause(RetryAfterBusy) // the bridge (or this agent) holds too much: try again shortly
		}
		if st.r.Context().Err() != nil || st.s.isStopping() {
			return false
		}
		b, _ := json.Marshal(err.Error())
		fmt.Fprintf(st.w, "event: %s\ndata: %s\n\n", SSEError, b)
		st.flush()
		return false
	}
	st.cursor = cursor
	if len(batch) == 0 {
		return true
	}
	if _, err := st.w.Write(batch); err != nil {
		return false
	}
	return st.flush() == nil
}

// gatherBatch reads and encodes the next catch-up batch, taking one of
// the hub's catch-up turns for the read and the encoding only (not for
// the write, which a slow reader could hold). It returns the frames and
// the cursor after them, delivering nothing after applied, and the
// release of their charge to the bytes in flight, which the caller
// holds until the batch is written: a reader that does not read keeps
// its batch charged to its agent.
func (st *streamer) gatherBatch(applied uint64) ([]byte, uint64, func(), error) {
	select {
	case st.s.hub.catchUps <- struct{}{}:
		defer func() { <-st.s.hub.catchUps }()
	case <-st.r.Context().Done():
		return nil, st.cursor, func() {}, st.r.Context().Err()
	case <-st.s.stopping:
		return nil, st.cursor, func() {}, errStopping
	}
	g := st.s.gather(st.id, store.Filter{Since: st.cursor, Limit: streamBatch}, streamBatchBytes)
	out, err := g.run()
	if err != nil {
		g.release()
		return nil, st.cursor, func() {}, err
	}
	cursor := st.cursor
	var batch []byte
	for i := range out.Events {
		e := &out.Events[i]
		if e.Sequence > applied {
			break // committed, not applied when the session was checked
		}
		batch = append(batch, encodeFrame(e)...)
		st.s.hub.caughtUp.Add(1)
		cursor = e.Sequence
	}
	switch {
	case !out.Truncated && len(out.Events) < streamBatch:
		cursor = max(cursor, applied) // every event up to applied was examined
	case out.Truncated && len(out.Events) == 0:
		cursor = max(cursor, min(out.NextSince, applied)) // examined, none for this reader
	}
	return batch, cursor, g.release, nil
}

// SSE event names /event/stream writes besides the events themselves
// (whose name is their type, or "event"). Each ends the stream.
const (
	// SSEReconnect: the stream fell behind; its data is a StreamReconnect
	// and its id the sequence to resume after.
	SSEReconnect = "reconnect"
	// SSESessionEnded: the session was evicted or expired; its data is
	// the ErrorResponse (401) a new request would get.
	SSESessionEnded = "session_ended"
	// SSEError: the stream could not read the store; its data is a JSON
	// string saying why.
	SSEError = "error"
)

// StreamReconnect is the data of the reconnect event.
type StreamReconnect struct {
	Detail      string `json:"detail"`
	LastEventID uint64 `json:"last_event_id"`
	Reason      string `json:"reason"` // "fell_behind"
}

// fellBehind ends a stream whose frames left the ring before it sent
// them: a last "reconnect" event, whose id is the sequence the stream
// covered, tells the reader to reconnect (EventSource does, with that
// Last-Event-ID) and catch up from the store.
func (st *streamer) fellBehind() {
	b, _ := json.Marshal(StreamReconnect{
		Reason:      "fell_behind",
		LastEventID: st.cursor,
		Detail:      "this stream fell too far behind the log; reconnect with Last-Event-ID (or since) set to last_event_id",
	})
	fmt.Fprintf(st.w, "id: %d\nevent: %s\nretry: 1000\ndata: %s\n\n", st.cursor, SSEReconnect, b)
	st.flush()
}

// sessionValid re-verifies the stream's session token (the contract
// verifies it on every request; a stream is one request delivering for
// as long as it is open). When the session was evicted by a newer one or
// expired it ends the stream with a final "session_ended" event holding
// the JSON error a new request would get (401) and returns false.
func (st *streamer) sessionValid() bool {
	err := st.s.auth.Check(st.token)
	if err == nil {
		return true
	}
	b, _ := json.Marshal(NewErrorResponse(http.StatusUnauthorized, err.Error()))
	fmt.Fprintf(st.w, "event: %s\ndata: %s\n\n", SSESessionEnded, b)
	st.flush()
	return false
}
