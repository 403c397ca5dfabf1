// Package netlimit bounds the connections a listener holds, in all and per
// client address, so no client can spend the process's file descriptors
// or the memory each connection costs. At a limit it first makes room by
// closing the connection that has waited longest without a request in
// progress (kept alive and idle, or accepted and silent for a grace
// period); when every connection is busy, the new one goes to an overflow
// listener, meant for a server that answers health and readiness probes
// only, and when that is full too its oldest connection is closed: a
// probe, which sends its request at once and is answered at once, is
// never the oldest for long. Accept never blocks on a limit.
package netlimit

import (
	"container/list"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config are a Listener's limits.
type Config struct {
	// MaxConns bounds the connections handed to the server at once.
	MaxConns int
	// MaxPerClient bounds those of one client (ClientKey).
	MaxPerClient int
	// Overflow bounds the connections on the overflow listener at once.
	// Default 64.
	Overflow int
	// OverflowDeadline bounds the life of an overflow connection.
	// Default 10s.
	OverflowDeadline time.Duration
	// NewGrace is how long an accepted connection may stay silent before
	// it may be closed to make room. Default 1s.
	NewGrace time.Duration
}

// Stats count what the Listener did; they only grow, except Open.
type Stats struct {
	Open       int64  // connections held by the server now
	Evicted    uint64 // closed to make room for a new one
	Overflowed uint64 // sent to the overflow listener
	Refused    uint64 // overflow connections closed to make room (or at once)
}

// Listener is a net.Listener with the limits of Config. Its ConnState must
// be the http.Server's ConnState: it tells idle connections from busy
// ones. Without it a connection counts as silent until it closes, and may
// be closed to make room once its grace has passed, even mid-request.
type Listener struct {
	net.Listener
	cfg      Config
	overflow *chanListener

	mu        sync.Mutex
	total     int
	perClient map[string]*client
	idle      list.List // of *Conn: kept alive, waiting for a request; oldest first
	fresh     list.List // of *Conn: accepted, nothing read yet; oldest first
	ovf       list.List // of *Conn on the overflow listener; oldest first

	evicted, overflowed, refused atomic.Uint64
}

type client struct {
	n           int
	idle, fresh list.List
}

// Connection states as the Listener sees them.
const (
	stateFresh = iota
	stateIdle
	stateBusy
	stateOverflow
	stateGone
)

// Conn is a connection handed out by a Listener; closing it releases its
// place.
type Conn struct {
	net.Conn
	l      *Listener
	key    string
	state  int
	since  time.Time
	elem   *list.Element // in the Listener's idle, fresh or ovf list
	celem  *list.Element // in its client's idle or fresh list
	closed sync.Once
}

// New wraps inner with the limits of cfg.
func New(inner net.Listener, cfg Config) *Listener {
	if cfg.Overflow <= 0 {
		cfg.Overflow = 64
	}
	if cfg.OverflowDeadline <= 0 {
		cfg.OverflowDeadline = 10 * time.Second
	}
	if cfg.NewGrace <= 0 {
		cfg.NewGrace = time.Second
	}
	if cfg.MaxPerClient <= 0 || cfg.MaxPerClient > cfg.MaxConns {
		cfg.MaxPerClient = cfg.MaxConns
	}
	return &Listener{Listener: inner, cfg: cfg, perClient: map[string]*client{},
		// The channel only hands connections over: the overflow list
		// bounds them. Room for bursts, so a probe arriving among many
		// is queued, not refused.
		overflow: &chanListener{ch: make(chan net.Conn, max(4*cfg.Overflow, 256)), done: make(chan struct{}), addr: inner.Addr()}}
}

// ClientKey is the client a remote address counts against: an IPv4
// address itself, an IPv6 address's /64 (one host commonly holds a whole
// /64, so counting single addresses would bound nothing).
func ClientKey(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return a.String()
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return ip.String()
	}
	return p.String()
}

// Accept returns the next connection within the limits. Connections
// beyond them go to Overflow (or are closed) without Accept returning.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := ClientKey(c.RemoteAddr())
		tc, victims := l.admit(c, key)
		for _, v := range victims {
			v.Conn.Close()
		}
		if tc != nil {
			return tc, nil
		}
		l.toOverflow(c, key)
	}
}

// admit places c within the limits, choosing the connections to close
// for it; nil means every connection is busy.
func (l *Listener) admit(c net.Conn, key string) (*Conn, []*Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	cl := l.perClient[key]
	if cl == nil {
		cl = &client{}
		l.perClient[key] = cl
	}
	var victims []*Conn
	if cl.n >= l.cfg.MaxPerClient {
		v := l.oldest(&cl.idle, &cl.fresh, now)
		if v == nil {
			l.forgetIfEmpty(key, cl)
			return nil, nil
		}
		l.releaseLocked(v)
		victims = append(victims, v)
	}
	if l.total >= l.cfg.MaxConns {
		v := l.oldest(&l.idle, &l.fresh, now)
		if v == nil {
			l.forgetIfEmpty(key, cl)
			return nil, victims
		}
		l.releaseLocked(v)
		victims = append(victims, v)
	}
	for range victims {
		l.evicted.Add(1)
	}
	tc := &Conn{Conn: c, l: l, key: key, state: stateFresh, since: now}
	l.total++
	cl.n++
	tc.elem = l.fresh.PushBack(tc)
	tc.celem = cl.fresh.PushBack(tc)
	return tc, victims
}

// oldest is the connection to close for room: the longest idle one, or
// else the longest silent one past its grace.
func (l *Listener) oldest(idle, fresh *list.List, now time.Time) *Conn {
	if e := idle.Front(); e != nil {
		return e.Value.(*Conn)
	}
	if e := fresh.Front(); e != nil {
		if c := e.Value.(*Conn); now.Sub(c.since) >= l.cfg.NewGrace {
			return c
		}
	}
	return nil
}

func (l *Listener) forgetIfEmpty(key string, cl *client) {
	if cl.n == 0 {
		delete(l.perClient, key)
	}
}

// unlistLocked takes c off the idle or fresh lists.
func (l *Listener) unlistLocked(c *Conn) {
	if c.elem == nil {
		return
	}
	cl := l.perClient[c.key]
	switch c.state {
	case stateIdle:
		l.idle.Remove(c.elem)
		if cl != nil {
			cl.idle.Remove(c.celem)
		}
	case stateFresh:
		l.fresh.Remove(c.elem)
		if cl != nil {
			cl.fresh.Remove(c.celem)
		}
	case stateOverflow:
		l.ovf.Remove(c.elem)
	}
	c.elem, c.celem = nil, nil
}

// releaseLocked gives up c's place; it is then gone for good.
func (l *Listener) releaseLocked(c *Conn) {
	if c.state == stateGone {
		return
	}
	l.unlistLocked(c)
	if c.state != stateOverflow {
		l.total--
		if cl := l.perClient[c.key]; cl != nil {
			cl.n--
			l.forgetIfEmpty(c.key, cl)
		}
	}
	c.state = stateGone
}

// ConnState is the http.Server hook that tells the Listener which
// connections wait for a request (they may be closed to make room) and
// which are busy with one (never closed by the Listener).
func (l *Listener) ConnState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*Conn)
	if !ok || c.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.state == stateGone || c.state == stateOverflow {
		return
	}
	switch s {
	case http.StateActive:
		l.unlistLocked(c)
		c.state = stateBusy
	case http.StateIdle:
		l.unlistLocked(c)
		c.state, c.since = stateIdle, time.Now()
		c.elem = l.idle.PushBack(c)
		if cl := l.perClient[c.key]; cl != nil {
			c.celem = cl.idle.PushBack(c)
		}
	case http.StateHijacked, http.StateClosed:
		l.releaseLocked(c)
	}
}

// Close releases c's place and closes it.
func (c *Conn) Close() error {
	c.closed.Do(func() {
		c.l.mu.Lock()
		c.l.releaseLocked(c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// toOverflow hands c to the overflow listener, closing its oldest
// connection when it is full.
func (l *Listener) toOverflow(c net.Conn, key string) {
	c.SetDeadline(time.Now().Add(l.cfg.OverflowDeadline))
	tc := &Conn{Conn: c, l: l, key: key, state: stateOverflow, since: time.Now()}
	l.mu.Lock()
	var victim *Conn
	if l.ovf.Len() >= l.cfg.Overflow {
		victim = l.ovf.Front().Value.(*Conn)
		l.releaseLocked(victim)
	}
	tc.elem = l.ovf.PushBack(tc)
	l.mu.Unlock()
	if victim != nil {
		l.refused.Add(1)
		victim.Conn.Close()
	}
	if l.overflow.offer(tc) {
		l.overflowed.Add(1)
		return
	}
	// The probe server is not taking them (or is closed, at shutdown):
	// refuse at once.
	l.refused.Add(1)
	tc.Close()
}

// Overflow is the listener of the connections beyond the limits, for a
// server that answers only what must keep answering (health and
// readiness) and refuses the rest cheaply. Closing the Listener closes it.
func (l *Listener) Overflow() net.Listener { return l.overflow }

// Close closes the listener and its overflow listener.
func (l *Listener) Close() error {
	l.overflow.Close()
	return l.Listener.Close()
}

// Stats returns the Listener's counters.
func (l *Listener) Stats() Stats {
	l.mu.Lock()
	open := l.total
	l.mu.Unlock()
	return Stats{Open: int64(open), Evicted: l.evicted.Load(), Overflowed: l.overflowed.Load(), Refused: l.refused.Load()}
}

// chanListener is a net.Listener fed by a channel.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr

	mu     sync.Mutex // orders offer and Close
	closed bool
}

// offer hands conn to Accept, or reports false when the channel is full
// or the listener closed: a connection offered after Close would wait in
// the channel, open, until the process exits.
func (c *chanListener) offer(conn net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	select {
	case c.ch <- conn:
		return true
	default:
		return false
	}
}

func (c *chanListener) Accept() (net.Conn, error) {
	select {
	case conn := <-c.ch:
		return conn, nil
	case <-c.done:
		return nil, net.ErrClosed
	}
}

func (c *chanListener) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.closed = true
		close(c.done)
		for {
			select {
			case conn := <-c.ch:
				conn.Close()
			default:
				return
			}
		}
	})
	return nil
}

func (c *chanListener) Addr() net.Addr { return c.addr }
