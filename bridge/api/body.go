package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/netlimit"
)

// bodyBudget bounds the request-body bytes held by all requests at once
// (Limits.MaxBytesInFlight), and by each client: one agent on the
// authenticated routes, one client address on the public ones
// (Limits.MaxBytesInFlightPerClient). A body is charged as its bytes
// arrive, never by the length it announces, and the charge is returned
// when its handler ends; query answers charge it too. The public routes
// have a pool of their own, publicReserve bytes beyond the budget, so no
// agent, nor all of them together, can keep an unauthenticated client
// from creating a session, and unauthenticated clients cannot take what
// agents send. A read that would pass its pool fails with errBusy (503
// with Retry-After), one that would pass its client's share with errShare
// (429 with Retry-After).
type bodyBudget struct {
	max, perClient, reserve int64

	mu         sync.Mutex
	used       int64               // the agents' pool
	publicUsed int64               // the public routes' pool
	byKey      map[budgetKey]int64 // only clients holding bytes
}

// budgetKey is who a charge is held against: an agent, or for the public
// routes a client address (netlimit.ClientKey).
type budgetKey struct {
	id     string
	public bool
}

func (k budgetKey) String() string {
	if k.public {
		return "client address " + k.id
	}
	return "agent " + strconv.Quote(k.id)
}

// publicReserve is kept for the public routes (session creation and
// validation) beyond the bytes in flight: their bodies are at most
// MaxPublicBodyBytes, 64 of them at once.
const publicReserve = 64 * MaxPublicBodyBytes

// publicShare is what one client address may hold on the public routes:
// four bodies of the largest size.
const publicShare = 4 * MaxPublicBodyBytes

func newBodyBudget(max, perClient int64) *bodyBudget {
	if max <= 0 {
		max = DefaultMaxBytesInFlight
	}
	if perClient <= 0 || perClient > max {
		perClient = max
	}
	return &bodyBudget{max: max, perClient: perClient, reserve: publicReserve, byKey: map[budgetKey]int64{}}
}

// take charges n bytes to k, or reports why not: errBusy when the
// bridge's budget is spent, errShare when k's share is.
func (b *bodyBudget) take(k budgetKey, n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	pool, limit, share := &b.used, b.max, b.perClient
	if k.public {
		pool, limit, share = &b.publicUsed, b.reserve, publicShare
	}
	switch {
	case *pool+n > limit:
		return errBusy
	case b.byKey[k]+n > share:
		return errShare
	}
	*pool += n
	b.byKey[k] += n
	return nil
}

func (b *bodyBudget) give(k budgetKey, n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if k.public {
		b.publicUsed -= n
	} else {
		b.used -= n
	}
	if b.byKey[k] -= n; b.byKey[k] <= 0 {
		delete(b.byKey, k)
	}
}

// InFlight is the number of body bytes held now, in both pools.
func (b *bodyBudget) InFlight() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used + b.publicUsed
}

// share is the most k may hold.
func (b *bodyBudget) share(k budgetKey) int64 {
	if k.public {
		return publicShare
	}
	return b.perClient
}

// refusal is the answer to a charge take refused.
func (b *bodyBudget) refusal(k budgetKey, err error) *Error {
	if errors.Is(err, errShare) {
		return &Error{Status: http.StatusTooManyRequests, RetryAfter: RetryAfterBusy,
			Message: fmt.Sprintf("%s holds as many request-body and query-answer bytes as one client may (%d, %s): retry when its other requests have finished", k, b.share(k), config.EnvMaxBytesInFlightPerClient)}
	}
	if k.public {
		return &Error{Status: http.StatusServiceUnavailable, RetryAfter: RetryAfterBusy,
			Message: fmt.Sprintf("%v on the session routes (more than %d bytes in flight); retry shortly", errBusy, b.reserve)}
	}
	return &Error{Status: http.StatusServiceUnavailable, RetryAfter: RetryAfterBusy,
		Message: fmt.Sprintf("%v (more than %d bytes in flight, %s); retry shortly", errBusy, b.max, config.EnvMaxBytesInFlight)}
}

// keyOf is the client r's charges are held against.
func keyOf(r *http.Request) budgetKey {
	if id, ok := auth.FromContext(r.Context()); ok {
		return budgetKey{id: id.AgentID}
	}
	return budgetKey{id: clientAddr(r.RemoteAddr), public: true}
}

func clientAddr(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	return netlimit.ClientKey(net.TCPAddrFromAddrPort(ap))
}

// readChunk bounds one charged read: a reader asking for a large buffer
// (io.ReadAll's doubled capacity) is charged for what can arrive in one
// read, not for the buffer.
const readChunk = 32 << 10

// errBusy is a body read refused because the budget is spent; errShare
// because the client's share is; errStalled because the body stopped
// arriving.
var (
	errBusy    = errors.New("the bridge is reading too many request bodies at once")
	errShare   = errors.New("this client holds its whole share of the bytes in flight")
	errStalled = errors.New("the request body stopped arriving")
)

// RetryAfterBusy is the Retry-After of a 503 for a spent budget.
const RetryAfterBusy = time.Second

// chargedBody is a request body under a row's size limit and the budget.
// Each read must bring a byte within stall, so a client cannot hold its
// charge by pausing mid-body; the request's whole read stays bounded by
// deadline (the server's read timeout).
type chargedBody struct {
	rc       io.ReadCloser // http.MaxBytesReader over the request's body
	max      int64         // the row's limit: rc never returns more
	b        *bodyBudget
	key      budgetKey
	held     int64
	ctl      *http.ResponseController
	stall    time.Duration
	deadline time.Time // of the whole body; zero: none
	after    time.Time // of the request once its body is read: the server's read timeout
	done     bool
}

func (c *chargedBody) Read(p []byte) (int, error) {
	if len(p) > readChunk {
		p = p[:readChunk]
	}
	if c.stall > 0 && !c.done {
		d := time.Now().Add(c.stall)
		if !c.deadline.IsZero() && c.deadline.Before(d) {
			d = c.deadline
		}
		c.ctl.SetReadDeadline(d)
	}
	// Only bytes that can still be returned are charged: once the row's
	// limit is held, a read can only find the end (or the excess, which
	// rc refuses without returning it), so a body of exactly the limit
	// fits a budget of exactly the limit.
	want := min(int64(len(p)), c.max-c.held)
	if want <= 0 {
		return c.read(p)
	}
	p = p[:want]
	if err := c.b.take(c.key, want); err != nil {
		// The rest of the body is never read: the server must not wait
		// for it (it reads up to 256 KiB of an unread body before
		// answering) but answer at once and close the connection.
		c.ctl.SetReadDeadline(time.Now())
		return 0, err
	}
	n, err := c.read(p)
	c.b.give(c.key, want-int64(n))
	c.held += int64(n)
	return n, err
}

// read reads rc; at the body's end the stall deadline gives way to the
// request's own, which the server's background read then keeps.
func (c *chargedBody) read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if err != nil && c.stall > 0 && !c.done {
		c.done = true
		c.ctl.SetReadDeadline(c.after)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errStalled
	}
	return n, err
}

func (c *chargedBody) Close() error { return c.rc.Close() }

type bodyKey struct{}

// limit runs next with the request body bounded to max bytes and charged
// to the budget, and returns the charge when next is done. from names
// what sets max, for the 413 ("" for the built-in bounds). A body that
// pauses for stall (0: never) is dropped, read timeout after the
// request began at the latest (0: no bound of its own).
func (b *bodyBudget) limit(max int64, from string, stall, readTimeout time.Duration, next http.Handler) http.Handler {
	lim := bodyLimit{max: max, from: from, budget: b, stall: stall}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			// Announced too large: refused before a byte is read.
			w.Header().Set("Connection", "close")
			WriteErr(w, lim.tooLarge())
			return
		}
		cb := &chargedBody{rc: http.MaxBytesReader(w, r.Body, max), max: max, b: b, key: keyOf(r),
			ctl: http.NewResponseController(w), stall: stall}
		if readTimeout > 0 {
			cb.deadline = time.Now().Add(readTimeout)
			cb.after = cb.deadline
		}
		if cb.key.public && stall > 0 && (cb.deadline.IsZero() || stall < readTimeout) {
			// A public body is at most 16 KiB: all of it must arrive
			// within stall, so an unauthenticated client holds its
			// bytes no longer than that, trickling or not.
			cb.deadline = time.Now().Add(stall)
		}
		lim.key = cb.key
		defer func() { b.give(cb.key, cb.held) }()
		r.Body = cb
		r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, lim))
		next.ServeHTTP(w, r)
	})
}

// bodyLimit is a row's body bound, as ReadBody finds it in the context.
type bodyLimit struct {
	max    int64
	from   string
	budget *bodyBudget // nil outside a row
	key    budgetKey
	stall  time.Duration
}

// tooLarge is the 413 for a body over the bound.
func (l bodyLimit) tooLarge() *Error {
	if l.from == "" {
		return Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", l.max)
	}
	return Errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes (%s)", l.max, l.from)
}

// ReadBody reads the request body, as bounded by its route's row. The
// buffer grows with the bytes received, never with the length announced.
// Failures are *Error: 413 for a body over the row's limit, 503 (with
// Retry-After set on w) when the bodies in flight fill the budget, 429
// when they fill the client's share, 408 when the body stops arriving,
// 400 when the client fails to send it.
func ReadBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	lim, ok := r.Context().Value(bodyKey{}).(bodyLimit)
	if !ok {
		// Not under a row (a test calling a handler directly): bound it anyway.
		lim = bodyLimit{max: MaxBodyBytes}
		r.Body = http.MaxBytesReader(w, r.Body, lim.max)
	}
	body, err := io.ReadAll(r.Body)
	if err == nil {
		return body, nil
	}
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &mb):
		return nil, lim.tooLarge()
	case (errors.Is(err, errBusy) || errors.Is(err, errShare)) && lim.budget != nil:
		w.Header().Set("Connection", "close")
		return nil, lim.budget.refusal(lim.key, err)
	case errors.Is(err, errStalled):
		w.Header().Set("Connection", "close")
		return nil, Errorf(http.StatusRequestTimeout, "%v in time: a body may pause at most %v, and a session request's whole body must arrive within it (%s); nothing was stored", errStalled, lim.stall, config.EnvHeaderTimeout)
	}
	return nil, Errorf(http.StatusBadRequest, "reading request body: %v", err)
}

// chargeAnswer charges n bytes of an answer being built to the request's
// client, as a body is charged, until release: 503 or 429 (an *Error)
// when the bytes in flight, or the client's share, are spent.
func chargeAnswer(r *http.Request, n int64) (release func(), err error) {
	lim, ok := r.Context().Value(bodyKey{}).(bodyLimit)
	if !ok || lim.budget == nil || n <= 0 {
		return func() {}, nil
	}
	if err := lim.budget.take(lim.key, n); err != nil {
		return func() {}, lim.budget.refusal(lim.key, err)
	}
	return func() { lim.budget.give(lim.key, n) }, nil
}

// answerBound is the most an answer to r may hold: max, or half its
// client's share of the bytes in flight when that is smaller, so that one
// answer always fits while the client has another request in flight.
func answerBound(r *http.Request, max int64) int64 {
	if lim, ok := r.Context().Value(bodyKey{}).(bodyLimit); ok && lim.budget != nil {
		return min(max, lim.budget.share(lim.key)/2)
	}
	return max
}
