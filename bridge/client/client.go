package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/auth"
)

// Defaults of Options.
const (
	DefaultTimeout          = 30 * time.Second
	DefaultValidateTimeout  = 45 * time.Second
	DefaultDialTimeout      = 5 * time.Second
	DefaultMaxResponseBytes = 24 << 20
	DefaultMaxFileBytes     = 64 << 20
	DefaultMaxBackupBytes   = 16 << 30
	DefaultMaxEventBytes    = 4 << 20
	DefaultStreamIdle       = 45 * time.Second
	DefaultMaxRetryWait     = 60 * time.Second
)

// Bounds no option can raise: an error answer's body, a response's
// header, and the Retry-After the client believes.
const (
	maxErrorBytes          = 64 << 10
	maxResponseHeaderBytes = 64 << 10
	maxRetryAfter          = time.Hour
)

// Options configure a Client. Only BaseURL is required; AgentID and
// AgentKey (or Token) are needed for every route but health, status,
// metrics and the session routes.
type Options struct {
	// BaseURL is the Bridge, "http://127.0.0.1:8765". Only http and https
	// URLs with a host and no query, fragment or credentials are taken.
	BaseURL string
	// AgentID and AgentKey create sessions (POST /session/create). The
	// key is what `lighthouse-bridge token --agent ID` prints.
	AgentID, AgentKey string
	// Token is a session token to use first (say, one created by another
	// client). Without AgentKey a 401 on it is final.
	Token string
	// HTTPClient sends the requests. Nil: a client of its own with
	// DialTimeout, no redirects and bounded response headers. A given
	// client is used as it is, except that redirects are still refused.
	HTTPClient *http.Client
	// Timeout bounds each request from sending to the last byte of the
	// answer (not streams or backups, which are bounded by StreamIdle).
	Timeout time.Duration
	// ValidateTimeout bounds POST /validate, which waits for an expert
	// (30 s on the Bridge) when its rules do not decide.
	ValidateTimeout time.Duration
	// DialTimeout bounds connecting (only for the client's own HTTPClient).
	DialTimeout time.Duration
	// MaxResponseBytes bounds a JSON answer (an /event/query answer holds
	// at most 16 MiB of event data); MaxFileBytes a shadow file's content
	// read into memory; MaxBackupBytes what Backup writes; MaxEventBytes
	// one event of a stream. Beyond them the call fails with
	// ErrResponseTooLarge.
	MaxResponseBytes, MaxFileBytes, MaxBackupBytes, MaxEventBytes int64
	// StreamIdle is how long a stream or a backup may go without a byte
	// before it is dropped (the Bridge's keep-alives come every 15 s).
	StreamIdle time.Duration
	// MaxRetryWait bounds how long a stream waits before reconnecting when
	// the Bridge asks it to (Retry-After of a 429, retry of a reconnect).
	MaxRetryWait time.Duration
	// UserAgent is sent with every request; "" is "lighthouse-client".
	UserAgent string
}

// Client is a Bridge client. It is safe for concurrent use.
type Client struct {
	base *url.URL
	o    Options
	http *http.Client

	mu    sync.Mutex // the session
	token string
	gen   uint64 // bumped each time the token changes
	sess  auth.NewSession
}

// ErrResponseTooLarge is returned (wrapped) when an answer passes its
// bound; nothing past the bound is read.
var ErrResponseTooLarge = errors.New("the bridge's answer is larger than this client accepts")

// ErrNoCredentials is returned for a route that needs a session when the
// client has neither a key nor a usable token.
var ErrNoCredentials = errors.New("no agent credentials: set the agent id and its key (lighthouse-bridge token --agent ID prints the key)")

// New checks o and returns a Client. It sends nothing.
func New(o Options) (*Client, error) {
	base, err := ParseBaseURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	if o.AgentID != "" {
		if err := auth.ValidAgentID(o.AgentID); err != nil {
			return nil, fmt.Errorf("agent id %q: %w", o.AgentID, err)
		}
	}
	if o.AgentKey != "" {
		if o.AgentID == "" {
			return nil, errors.New("an agent key needs its agent id")
		}
		if err := checkKey(o.AgentKey); err != nil {
			return nil, err
		}
	}
	if o.Token != "" {
		if _, err := auth.ParseToken(o.Token); err != nil {
			return nil, fmt.Errorf("session token: %w", err)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Timeout, DefaultTimeout)
	def(&o.ValidateTimeout, DefaultValidateTimeout)
	def(&o.DialTimeout, DefaultDialTimeout)
	def(&o.StreamIdle, DefaultStreamIdle)
	def(&o.MaxRetryWait, DefaultMaxRetryWait)
	defN := func(n *int64, v int64) {
		if *n <= 0 {
			*n = v
		}
	}
	defN(&o.MaxResponseBytes, DefaultMaxResponseBytes)
	defN(&o.MaxFileBytes, DefaultMaxFileBytes)
	defN(&o.MaxBackupBytes, DefaultMaxBackupBytes)
	defN(&o.MaxEventBytes, DefaultMaxEventBytes)
	if o.UserAgent == "" {
		o.UserAgent = "lighthouse-client"
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: newTransport(o.DialTimeout)}
	} else {
		c := *hc
		hc = &c
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{base: base, o: o, http: hc, token: o.Token}, nil
}

// ParseBaseURL checks a Bridge URL: http or https, a host, nothing after
// the path. A trailing slash is dropped.
func ParseBaseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("no bridge URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("bridge URL %q: %w", s, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("bridge URL %q: the scheme must be http or https", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("bridge URL %q has no host", s)
	case u.User != nil:
		return nil, fmt.Errorf("bridge URL %q: credentials do not belong in the URL", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("bridge URL %q: no query or fragment", s)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return nil, fmt.Errorf("bridge URL %q: port %q", s, p)
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

// checkKey refuses a key that cannot be an agent key (64 hex digits)
// before it is ever sent.
func checkKey(k string) error {
	if len(k) != 64 {
		return fmt.Errorf("the agent key must be the 64 hex digits lighthouse-bridge token prints, got %d characters", len(k))
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return errors.New("the agent key must be the 64 hex digits lighthouse-bridge token prints")
		}
	}
	return nil
}

func newTransport(dial time.Duration) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = dial
	t.MaxResponseHeaderBytes = maxResponseHeaderBytes
	t.ExpectContinueTimeout = time.Second
	t.Proxy = nil // the bridge is local to the agent's host or named directly
	return t
}

// CloseIdleConnections closes the connections the client keeps for its
// next requests (a Bridge counts them against its connection limits).
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// BaseURL is the Bridge the client talks to.
func (c *Client) BaseURL() string { return c.base.String() }

// AgentID is the agent the client acts as ("" without credentials).
func (c *Client) AgentID() string { return c.o.AgentID }

// request is one call to the Bridge.
type request struct {
	method string
	path   string // the URL path, escaped
	query  url.Values
	body   []byte // nil: none
	ctype  string // of body
	auth   bool
	header http.Header
	// timeout overrides Options.Timeout; negative: none (the caller
	// bounds the call by idleness).
	timeout time.Duration
}

func (c *Client) url(r request) string {
	u := *c.base
	raw := c.base.EscapedPath() + r.path
	p, err := url.PathUnescape(raw)
	if err != nil {
		p = raw
	}
	u.Path, u.RawPath = p, raw
	if len(r.query) > 0 {
		u.RawQuery = r.query.Encode()
	}
	return u.String()
}

// send sends r and returns the answer when its status is 2xx (or 304);
// any other answer is read (bounded) into an *Error. An authenticated
// request refused with 401 is sent once more with a new session. The
// caller closes the body and calls cancel when done with it.
func (c *Client) send(ctx context.Context, r request) (*http.Response, context.CancelFunc, error) {
	timeout := r.timeout
	if timeout == 0 {
		timeout = c.o.Timeout
	}
	ctx, cancel := context.WithCancel(ctx)
	if timeout > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, timeout)
		inner := cancel
		cancel = func() { cancelT(); inner() }
	}
	resp, err := c.sendOnce(ctx, r)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	return resp, cancel, nil
}

func (c *Client) sendOnce(ctx context.Context, r request) (*http.Response, error) {
	var token string
	var gen uint64
	if r.auth {
		var err error
		if token, gen, err = c.session(ctx); err != nil {
			return nil, err
		}
	}
	resp, err := c.roundTrip(ctx, r, token)
	if err != nil {
		return nil, err
	}
	if r.auth && resp.StatusCode == http.StatusUnauthorized && c.o.AgentKey != "" {
		// The session expired or was evicted; the Bridge refused the
		// request before acting on it, so sending it again is safe.
		drain(resp)
		if token, err = c.renew(ctx, gen); err != nil {
			return nil, err
		}
		if resp, err = c.roundTrip(ctx, r, token); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusNotModified {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readError(r.method, r.path, resp)
}

func (c *Client) roundTrip(ctx context.Context, r request, token string) (*http.Response, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, c.url(r), body)
	if err != nil {
		return nil, err
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	if r.body != nil && r.ctype != "" {
		req.Header.Set("Content-Type", r.ctype)
	}
	req.Header.Set("User-Agent", c.o.UserAgent)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &TransportError{Method: r.method, Path: r.path, Err: err}
	}
	return resp, nil
}

// TransportError is a request that got no answer from the Bridge: it
// could not connect, the connection broke, or the call's time ran out.
type TransportError struct {
	Method, Path string
	Err          error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("lighthouse bridge: %s %s: no answer: %v", e.Method, e.Path, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }

// drain discards a little of an answer so its connection can be reused,
// and closes it.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBytes))
	resp.Body.Close()
}

// session returns the current token, creating a session when there is none.
func (c *Client) session(ctx context.Context) (string, uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" {
		return c.token, c.gen, nil
	}
	if err := c.createLocked(ctx); err != nil {
		return "", 0, err
	}
	return c.token, c.gen, nil
}

// renew replaces the token that failed (generation gen) with a new
// session, unless another call already did.
func (c *Client) renew(ctx context.Context, gen uint64) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		if err := c.createLocked(ctx); err != nil {
			return "", err
		}
	}
	return c.token, nil
}

func (c *Client) createLocked(ctx context.Context) error {
	if c.o.AgentID == "" || c.o.AgentKey == "" {
		return ErrNoCredentials
	}
	ns, err := c.CreateSession(ctx)
	if err != nil {
		return err
	}
	c.token, c.sess = ns.Token, ns
	c.gen++
	return nil
}

// Connect makes sure the client holds a session, creating one when it
// has none (it does so itself on its first authenticated call): a wrong
// key or an unreachable Bridge shows here, before any work.
func (c *Client) Connect(ctx context.Context) error {
	_, _, err := c.session(ctx)
	return err
}

// Session is the session the client holds (zero before its first
// authenticated call, or when it was given only a token).
func (c *Client) Session() auth.NewSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess
}

// Token is the session token the client holds ("" before its first
// authenticated call).
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// CreateSession trades the agent's key for a new session
// (POST /session/create). The client does so itself when it needs one;
// the new session is not the one the client uses unless it creates it.
func (c *Client) CreateSession(ctx context.Context) (auth.NewSession, error) {
	if c.o.AgentID == "" || c.o.AgentKey == "" {
		return auth.NewSession{}, ErrNoCredentials
	}
	var ns auth.NewSession
	err := c.doJSON(ctx, request{method: http.MethodPost, path: "/session/create"},
		api.SessionCreateRequest{AgentID: c.o.AgentID, AgentKey: c.o.AgentKey}, &ns)
	if err == nil {
		if _, perr := auth.ParseToken(ns.Token); perr != nil || ns.AgentID != c.o.AgentID {
			return auth.NewSession{}, fmt.Errorf("lighthouse bridge: POST /session/create answered a malformed session for %q", ns.AgentID)
		}
	}
	return ns, err
}

// doJSON sends in (when not nil) as the JSON body and decodes the JSON
// answer into out (when not nil), bounded by MaxResponseBytes.
func (c *Client) doJSON(ctx context.Context, r request, in, out any) error {
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the request of %s %s: %w", r.method, r.path, err)
		}
		r.body, r.ctype = b, "application/json"
	}
	resp, cancel, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	return c.decode(r, resp, out)
}

func (c *Client) decode(r request, resp *http.Response, out any) error {
	b, err := readAtMost(resp.Body, c.o.MaxResponseBytes)
	if err != nil {
		return fmt.Errorf("lighthouse bridge: %s %s: %w", r.method, r.path, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("lighthouse bridge: %s %s: the answer is not the expected JSON: %w", r.method, r.path, err)
	}
	return nil
}

// readAtMost reads r to its end, failing with ErrResponseTooLarge past
// limit bytes (reading at most limit+1).
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w (more than %d bytes)", ErrResponseTooLarge, limit)
	}
	return b, nil
}

// pathID escapes one path parameter (an id) for the URL; an empty one
// is refused before sending, as it would name another route.
func pathID(what, id string) (string, error) {
	if id == "" {
		return "", fmt.Errorf("%s must not be empty", what)
	}
	return url.PathEscape(id), nil
}
