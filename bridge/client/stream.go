package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// StreamOptions tune Stream.
type StreamOptions struct {
	// MaxAttempts bounds the connections in a row that end without
	// delivering an event (refused, broken, silent, a 429) before Stream
	// gives up. 0 is 5. A connection that delivers an event, or that the
	// Bridge ends with a reconnect past the last event delivered, starts
	// the count anew.
	MaxAttempts int
	// Backoff is the first wait after a failed connection, doubled after
	// each (up to MaxRetryWait). 0 is 500 ms.
	Backoff time.Duration
}

// ErrSessionEnded is returned (wrapped) when a stream's session ended and
// a new one could not be created.
var ErrSessionEnded = errors.New("the stream's session ended")

// Stream is GET /event/stream: it calls fn with every event the agent
// may read after sequence since, in order, as they are appended, until
// ctx ends (it then returns ctx's error) or fn returns an error (which it
// returns). Each event is delivered once even across reconnections: the
// stream resumes after the last event delivered when the connection
// breaks, goes silent for StreamIdle, the Bridge answers 429 (after its
// Retry-After) or ends the stream with a "reconnect" event (from its id),
// and with a new session when the Bridge ends it with "session_ended".
// Since 0 reads the log from its first event; to start at its end, pass
// Status's LastSequence.
func (c *Client) Stream(ctx context.Context, since uint64, o StreamOptions, fn func(store.Event) error) error {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
	s := &stream{c: c, fn: fn, since: since}
	failures := 0
	wait := time.Duration(0)
	for {
		if wait > 0 {
			t := time.NewTimer(min(wait, c.o.MaxRetryWait))
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		out := s.once(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case out.stop != nil:
			return out.stop
		case out.progress:
			failures = 0
		default:
			failures++
		}
		if failures >= o.MaxAttempts {
			return fmt.Errorf("lighthouse bridge: GET /event/stream: gave up after %d attempts in a row without an event: %w", failures, out.err)
		}
		switch {
		case out.retry > 0:
			wait = out.retry
		case out.asked:
			wait = 0
		default:
			wait = o.Backoff << min(max(failures-1, 0), 16)
		}
	}
}

type stream struct {
	c     *Client
	fn    func(store.Event) error
	since uint64
}

// outcome is how one connection of a stream ended.
type outcome struct {
	delivered bool          // at least one event reached fn
	progress  bool          // the stream moved on: an event, or a reconnect past since
	asked     bool          // the Bridge asked for the reconnection
	retry     time.Duration // wait before reconnecting, when the Bridge said
	err       error         // why it ended, when it failed
	stop      error         // end the whole stream with this error
}

func (s *stream) once(ctx context.Context) (out outcome) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{"since": {strconv.FormatUint(s.since, 10)}}
	r := request{method: http.MethodGet, path: "/event/stream", query: q, auth: true, timeout: -1,
		header: http.Header{"Accept": {"text/event-stream"}}}
	// Connecting (up to the answer's header) is bounded like any request.
	connect, stopConnect := context.WithCancel(ctx)
	timer := time.AfterFunc(s.c.o.Timeout, stopConnect)
	resp, cancelSend, err := s.c.send(connect, r)
	timer.Stop()
	if err != nil {
		stopConnect()
		var e *Error
		if errors.As(err, &e) {
			switch {
			case e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable:
				return outcome{err: err, retry: max(e.RetryAfter, time.Second)}
			case e.Status >= 400 && e.Status < 500:
				return outcome{stop: err}
			}
		}
		if errors.Is(err, ErrNoCredentials) {
			return outcome{stop: err}
		}
		return outcome{err: err}
	}
	defer cancelSend()
	defer stopConnect()
	defer resp.Body.Close()
	body := newIdleReader(resp.Body, s.c.o.StreamIdle, stopConnect)
	defer body.stop()
	rd := newSSEReader(body, int(min(s.c.o.MaxEventBytes, 1<<30)))
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, errSSETooLong) {
				return outcome{delivered: out.delivered, progress: out.progress, stop: fmt.Errorf("lighthouse bridge: GET /event/stream: %w (Options.MaxEventBytes is %d)", err, s.c.o.MaxEventBytes)}
			}
			if body.idle() {
				err = fmt.Errorf("nothing received for %s", s.c.o.StreamIdle)
			} else if err == io.EOF {
				err = errors.New("the bridge closed the stream")
			}
			out.err = fmt.Errorf("lighthouse bridge: GET /event/stream: %w", err)
			return out
		}
		if ev.Comment {
			continue
		}
		switch ev.Name {
		case api.SSEReconnect:
			if n, err := strconv.ParseUint(ev.ID, 10, 64); err == nil && n > s.since {
				s.since = n
				out.progress = true
			}
			out.asked = true
			if ev.Retry >= 0 {
				out.retry = time.Duration(ev.Retry) * time.Millisecond
			}
			return out
		case api.SSESessionEnded:
			// The session expired or was evicted: a new one, once.
			if _, err := s.c.renew(ctx, s.c.genOf(resp)); err != nil {
				out.stop = fmt.Errorf("lighthouse bridge: GET /event/stream: %w: %w", ErrSessionEnded, err)
				return out
			}
			out.asked, out.retry = true, 100*time.Millisecond
			return out
		case api.SSEError:
			var msg string
			json.Unmarshal(ev.Data, &msg)
			out.err = fmt.Errorf("lighthouse bridge: GET /event/stream: the bridge failed: %s", clean(msg, 1024))
			return out
		}
		var e store.Event
		if err := json.Unmarshal(ev.Data, &e); err != nil {
			out.stop = fmt.Errorf("lighthouse bridge: GET /event/stream: an event that is not JSON: %w", err)
			return out
		}
		if e.Sequence <= s.since {
			continue // already delivered before a reconnection
		}
		if err := s.fn(e); err != nil {
			out.stop = err
			return out
		}
		s.since = e.Sequence
		out.delivered, out.progress = true, true
	}
}

// genOf is the session generation a stream's request used: its token is
// in the request's Authorization header.
func (c *Client) genOf(resp *http.Response) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if resp.Request != nil && resp.Request.Header.Get("Authorization") == "Bearer "+c.token {
		return c.gen
	}
	return c.gen + 1 // an older token: the current one is newer already
}

// idleReader cancels its request when no Read returns within d.
type idleReader struct {
	r        io.Reader
	d        time.Duration
	t        *time.Timer
	fired    atomic.Bool
	stopOnce sync.Once
}

func newIdleReader(r io.Reader, d time.Duration, cancel context.CancelFunc) *idleReader {
	ir := &idleReader{r: r, d: d}
	ir.t = time.AfterFunc(d, func() {
		ir.fired.Store(true)
		cancel()
	})
	return ir
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.t.Reset(ir.d)
	}
	return n, err
}

func (ir *idleReader) idle() bool { return ir.fired.Load() }

func (ir *idleReader) stop() { ir.stopOnce.Do(func() { ir.t.Stop() }) }
