package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// logBuf is a concurrency-safe log sink so tests can look for warnings.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startOpts is start with options and a captured JSON log.
func startOpts(t *testing.T, cfg config.Config, opts Options) (*running, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	opts.Logger = slog.New(slog.NewJSONHandler(lb, nil))
	opts.GracePeriod = 5 * time.Second
	b, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{b: b, url: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- b.Serve(ctx, ln) }()
	t.Cleanup(func() { r.shutdown(t) })
	// Serve replays and mounts before it accepts; wait until it answers.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(r.url + "/health")
		if err == nil {
			resp.Body.Close()
			return r, lb
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("Serve failed: %v\n%s", err, lb)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge not serving: %v\n%s", err, lb)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// do sends one request and returns status, body and headers.
func do(t *testing.T, method, url, token string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	// Send paths as written: no client-side cleaning of "..".
	req.URL.Opaque = ""
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// contentOf reads a shadow file's whole content from the store.
func contentOf(t *testing.T, f shadow.File) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(f, 0, f.Size))
	if err != nil {
		t.Fatalf("read %s: %v", f.Path, err)
	}
	return string(b)
}

func putFile(t *testing.T, url, tok, path, content string) uint64 {
	t.Helper()
	w, err := tokenClient(t, url, tok).PutShadow(context.Background(), path, []byte(content))
	if err != nil {
		t.Fatalf("PUT %s: %v", path, err)
	}
	return w.Sequence
}

func TestShadowRoutes(t *testing.T) {
	r, _ := startOpts(t, testConfig(t.TempDir()), Options{})
	tok := session(t, r.url, "builder")

	s1 := putFile(t, r.url, tok, "src/main.go", "package main\n")
	code, body, hd := do(t, "GET", r.url+"/shadow/src/main.go", tok, nil)
	if code != 200 || string(body) != "package main\n" || hd.Get("X-Lighthouse-Sequence") != fmt.Sprint(s1) {
		t.Fatalf("GET: %d %q %v", code, body, hd)
	}
	// The event is in the log, attributed to the caller.
	evs, _ := r.b.Store().Query(store.Filter{Type: shadow.TypeFileModified})
	if len(evs) != 1 || evs[0].AgentID != "builder" || evs[0].AggregateID != "src/main.go" || evs[0].Sequence != s1 {
		t.Fatalf("events: %+v", evs)
	}
	s2 := putFile(t, r.url, tok, "src/main.go", "package main\n\nfunc main() {}\n")
	putFile(t, r.url, tok, "docs/README.md", "# hi\n")

	if code, body, _ := do(t, "GET", r.url+fmt.Sprintf("/shadow/src/main.go?at=%d", s1), tok, nil); code != 200 || string(body) != "package main\n" {
		t.Fatalf("GET at=%d: %d %q", s1, code, body)
	}
	if code, body, _ := do(t, "GET", r.url+fmt.Sprintf("/shadow/src/main.go?at=%d", s2), tok, nil); code != 200 || !strings.Contains(string(body), "func main") {
		t.Fatalf("GET at=%d: %d %q", s2, code, body)
	}
	if code, body, _ := do(t, "GET", r.url+"/shadow/docs/README.md?at="+fmt.Sprint(s1), tok, nil); code != 404 {
		t.Fatalf("file before it existed: %d %s", code, body)
	}

	var list ShadowListing
	code, body, _ = do(t, "GET", r.url+"/shadow/?list", tok, nil)
	json.Unmarshal(body, &list)
	if code != 200 || len(list.Files) != 2 || list.Files[0].Path != "docs/README.md" || list.Files[1].Path != "src/main.go" || list.Files[1].Sequence != s2 {
		t.Fatalf("list: %d %s", code, body)
	}
	code, body, _ = do(t, "GET", r.url+"/shadow/src?list&at="+fmt.Sprint(s1), tok, nil)
	json.Unmarshal(body, &list)
	if code != 200 || len(list.Files) != 1 || list.Files[0].Size != int64(len("package main\n")) || list.Sequence != s1 {
		t.Fatalf("list src at %d: %d %s", s1, code, body)
	}

	code, body, _ = do(t, "DELETE", r.url+"/shadow/docs/README.md", tok, nil)
	if code != 200 || !strings.Contains(string(body), `"status":"deleted"`) {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, _, _ := do(t, "GET", r.url+"/shadow/docs/README.md", tok, nil); code != 404 {
		t.Fatalf("GET after delete: %d", code)
	}

	last := r.b.Store().LastSequence()
	for _, tc := range []struct {
		method, path string
		body         string
		tok          string
		want         int
		detail       string
	}{
		{"PUT", "/shadow/../etc/passwd", "x", tok, 400, "not clean"},
		{"PUT", "/shadow/a/../../b", "x", tok, 400, "not clean"},
		{"PUT", "/shadow/%2e%2e/x", "x", tok, 400, ""},
		{"PUT", "/shadow/a/..%2f..%2fx", "x", tok, 400, `..`},
		{"PUT", "/shadow//etc/passwd", "x", tok, 400, "not clean"},
		{"PUT", "/shadow/./docs//README.md", "x", tok, 400, "not clean"},
		{"PUT", "/shadow/a%00b", "x", tok, 400, "NUL"},
		{"PUT", "/shadow/" + strings.Repeat("n", 256), "x", tok, 400, "longer than 255"},
		{"PUT", "/shadow/" + strings.Repeat("d/", 2048) + "f", "x", tok, 400, "longer than 4095"},
		{"PUT", "/shadow/", "x", tok, 400, "empty"},
		// A trailing slash names a directory: no file route strips it.
		{"PUT", "/shadow/dir/", "x", tok, 400, `must not end in \"/\"`},
		{"PUT", "/shadow/src/main.go/", "x", tok, 400, `must not end in \"/\"`},
		{"DELETE", "/shadow/src/main.go/", "", tok, 400, `must not end in \"/\"`},
		{"GET", "/shadow/src/main.go/", "", tok, 400, "?list"},
		{"PUT", "/shadow/src/main.go/inner", "x", tok, 409, "is a file"},
		{"PUT", "/shadow/src", "x", tok, 409, "is a directory"},
		{"PUT", "/shadow/big", strings.Repeat("b", 1<<20+1), tok, 413, "larger than"},
		{"PUT", "/shadow/x", "x", "", 401, ""},
		{"DELETE", "/shadow/missing", "", tok, 404, "no shadow file"},
		{"DELETE", "/shadow/../x", "", tok, 400, ""},
		{"GET", "/shadow/src/main.go?at=999999", "", tok, 400, "after the last applied event"},
		{"GET", "/shadow/src/main.go?at=-1", "", tok, 400, "non-negative integer"},
		{"GET", "/shadow/src/main.go?version=1", "", tok, 400, "unknown query parameter"},
		{"GET", "/shadow/src", "", tok, 404, "is a directory"},
		{"GET", "/shadow/", "", tok, 400, "?list"},
		{"GET", "/shadow/nope?list", "", tok, 404, "no shadow directory"},
		{"GET", "/shadow/src/main.go", "", "", 401, ""},
	} {
		code, body, hd := do(t, tc.method, r.url+tc.path, tc.tok, []byte(tc.body))
		if code != tc.want || !strings.Contains(string(body), tc.detail) || !strings.HasPrefix(hd.Get("Content-Type"), "application/json") {
			t.Errorf("%s %.60s: %d %.200s, want %d with %q", tc.method, tc.path, code, body, tc.want, tc.detail)
		}
	}
	if got := r.b.Store().LastSequence(); got != last {
		t.Fatalf("refused requests stored events: last sequence %d -> %d", last, got)
	}
	// A directory is still listed with or without its trailing slash.
	for _, p := range []string{"/shadow/src/?list", "/shadow/src?list"} {
		code, body, _ := do(t, "GET", r.url+p, tok, nil)
		var l ShadowListing
		json.Unmarshal(body, &l)
		if code != 200 || len(l.Files) != 1 || l.Files[0].Path != "src/main.go" {
			t.Errorf("GET %s: %d %s", p, code, body)
		}
	}
	// Exactly 1 MiB is accepted.
	putFile(t, r.url, tok, "big", strings.Repeat("b", 1<<20))
}

// ShadowListing mirrors api.ShadowList for decoding in tests.
type ShadowListing struct {
	Sequence uint64
	Files    []struct {
		Path     string
		Size     int64
		Sequence uint64
	}
}

// fullReplay builds a shadow projection from every event of the store in
// dir, the reference a restored projection must equal.
func fullReplay(t *testing.T, cfg config.Config) []byte {
	t.Helper()
	st, err := store.Open(cfg.EventStorePath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := shadow.New(shadow.Options{})
	if err := st.Attach(0, p); err != nil {
		t.Fatal(err)
	}
	b, err := p.MarshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func snapshotFiles(t testing.TB, cfg config.Config) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(cfg.SnapshotPath, "snapshot-*.lhsnap"))
	return m
}

// writeHistory appends n shadow changes (puts, overwrites, deletes) over HTTP.
func writeHistory(t *testing.T, url, tok string, n, salt int) {
	t.Helper()
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("pkg%d/file%d.go", i%4, i%9)
		if i%7 == 6 {
			if code, _, _ := do(t, "DELETE", url+"/shadow/"+p, tok, nil); code != 200 && code != 404 {
				t.Fatalf("DELETE %s: %d", p, code)
			}
			continue
		}
		putFile(t, url, tok, p, fmt.Sprintf("// %d.%d\n", salt, i))
	}
}

// TestSnapshotRestartEquivalence: a restart from the newest snapshot plus
// the tail gives exactly the projection of a full replay; a damaged newest
// snapshot is skipped with a warning and the older one used; sessions
// survive through the snapshot.
func TestSnapshotRestartEquivalence(t *testing.T) {
	cfg := testConfig(t.TempDir())
	opts := Options{SnapshotEvery: 40}
	r, _ := startOpts(t, cfg, opts)
	tok := session(t, r.url, "builder")
	// Coordination state before the snapshots, so its section carries it.
	expert := session(t, r.url, "sec-expert")
	if code, body, _ := do(t, "POST", r.url+"/expert/register", expert, []byte(`{"capabilities":["security"]}`)); code != 200 {
		t.Fatalf("register: %d %s", code, body)
	}
	writeHistory(t, r.url, tok, 130, 1)
	waitFor(t, "three snapshots", func() bool { return r.b.snapper.writtenSeq() >= 120 })
	writeHistory(t, r.url, tok, 17, 2) // the tail after the newest snapshot
	before, _ := r.b.Shadow().MarshalSnapshot()
	coordBefore, _ := r.b.Coordination().MarshalState()
	r.shutdown(t)
	snaps := snapshotFiles(t, cfg)
	if len(snaps) != DefaultSnapshotKeep {
		t.Fatalf("snapshot files %v, want the newest %d", snaps, DefaultSnapshotKeep)
	}
	want := fullReplay(t, cfg)
	if !bytes.Equal(before, want) {
		t.Fatal("live projection differs from a full replay")
	}

	r, lb := startOpts(t, cfg, opts)
	got, _ := r.b.Shadow().MarshalSnapshot()
	if !bytes.Equal(got, want) {
		t.Fatal("snapshot + tail differs from a full replay")
	}
	if coordAfter, _ := r.b.Coordination().MarshalState(); !bytes.Equal(coordAfter, coordBefore) {
		t.Fatalf("coordination after a snapshot restart differs:\nbefore %s\nafter  %s", coordBefore, coordAfter)
	}
	if !strings.Contains(lb.String(), `"msg":"snapshot restored"`) {
		t.Fatalf("restart did not use a snapshot:\n%s", lb)
	}
	// The session came back from the snapshot (its event is before it).
	if code, body, _ := do(t, "GET", r.url+"/shadow/?list", tok, nil); code != 200 {
		t.Fatalf("session after restart: %d %s", code, body)
	}
	r.shutdown(t)

	// Truncate the newest snapshot: it is skipped with a warning, the
	// older one is used, and the result is still exact.
	newest := snaps[len(snaps)-1]
	fi, _ := os.Stat(newest)
	if err := os.Truncate(newest, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	r, lb = startOpts(t, cfg, opts)
	got, _ = r.b.Shadow().MarshalSnapshot()
	if !bytes.Equal(got, want) {
		t.Fatal("after a truncated snapshot, the projection differs from a full replay")
	}
	if !strings.Contains(lb.String(), `"msg":"snapshot skipped"`) || !strings.Contains(lb.String(), filepath.Base(newest)) {
		t.Fatalf("no warning for the truncated snapshot:\n%s", lb)
	}
	r.shutdown(t)

	// A temporary file left by a bridge killed while writing a snapshot is
	// never read, and the next snapshot written removes it.
	leftover := filepath.Join(cfg.SnapshotPath, ".snapshot-killed.tmp")
	os.WriteFile(leftover, []byte("LHSNAP half a snapshot"), 0o600)
	r, _ = startOpts(t, cfg, opts)
	if got, _ = r.b.Shadow().MarshalSnapshot(); !bytes.Equal(got, want) {
		t.Fatal("with a leftover temporary file, the projection differs from a full replay")
	}
	writeHistory(t, r.url, tok, 45, 4)
	waitFor(t, "a snapshot after the restart", func() bool { return r.b.snapper.writtenSeq() > 0 })
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatalf("leftover temporary file not pruned: %v", err)
	}
	r.shutdown(t)
	want = fullReplay(t, cfg)

	// Corrupt every snapshot (a flipped byte in the payload): full replay.
	for _, s := range snapshotFiles(t, cfg) {
		b, _ := os.ReadFile(s)
		b[len(b)-1] ^= 0xff
		os.WriteFile(s, b, 0o600)
	}
	r, lb = startOpts(t, cfg, opts)
	got, _ = r.b.Shadow().MarshalSnapshot()
	if !bytes.Equal(got, want) || strings.Contains(lb.String(), `"msg":"snapshot restored"`) {
		t.Fatalf("with only corrupt snapshots: equal=%v\n%s", bytes.Equal(got, want), lb)
	}
}

// TestBackupRestoresEveryEvent: an admin downloads a backup while the
// bridge runs; a new bridge started on the copy has every event and every
// shadow file. Non-admins get 403.
func TestBackupRestoresEveryEvent(t *testing.T) {
	cfg := testConfig(t.TempDir())
	r, _ := startOpts(t, cfg, Options{})
	tok := session(t, r.url, "builder")
	writeHistory(t, r.url, tok, 60, 3)
	key, _ := auth.AgentKey(secret, "ops", true)
	code, m := post(t, r.url+"/session/create", "", fmt.Sprintf(`{"agent_id":"ops","agent_key":%q}`, key))
	if code != 200 {
		t.Fatalf("admin session: %d %v", code, m)
	}
	admin := m["session_token"].(string)

	if code, body, _ := do(t, "GET", r.url+"/admin/backup", tok, nil); code != 403 || !strings.Contains(string(body), "admin") {
		t.Fatalf("backup as agent: %d %s", code, body)
	}
	if code, _, _ := do(t, "GET", r.url+"/admin/backup", "", nil); code != 401 {
		t.Fatalf("backup without token: %d", code)
	}
	before := r.b.Store().LastSequence()
	// Appends continue while the backup streams.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	writer := tokenClient(t, r.url, tok)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			writer.PutShadow(context.Background(), fmt.Sprintf("during/%d", i%5), []byte(fmt.Sprint(i)))
		}
	}()
	code, backup, hd := do(t, "GET", r.url+"/admin/backup", admin, nil)
	close(stop)
	wg.Wait()
	if code != 200 || !strings.Contains(hd.Get("Content-Disposition"), "attachment") {
		t.Fatalf("backup: %d %s", code, hd)
	}
	r.shutdown(t)

	// Every event of the original store up to the backup's last one.
	orig, err := store.Open(cfg.EventStorePath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var origEvents []store.Event
	orig.ReadFrom(0, func(e store.Event) error { origEvents = append(origEvents, e); return nil })
	orig.Close()

	rcfg := testConfig(t.TempDir())
	os.MkdirAll(rcfg.EventStorePath, 0o700)
	if err := os.WriteFile(filepath.Join(rcfg.EventStorePath, store.FileName), backup, 0o600); err != nil {
		t.Fatal(err)
	}
	r2, _ := startOpts(t, rcfg, Options{})
	var restored []store.Event
	r2.b.Store().ReadFrom(0, func(e store.Event) error { restored = append(restored, e); return nil })
	if uint64(len(restored)) < before || len(restored) > len(origEvents) {
		t.Fatalf("restored %d events, original has %d", len(restored), len(origEvents))
	}
	for i, e := range restored {
		a, _ := json.Marshal(e)
		b, _ := json.Marshal(origEvents[i])
		if !bytes.Equal(a, b) {
			t.Fatalf("event %d differs:\n%s\n%s", i+1, a, b)
		}
	}
	// Every shadow file as of the backup's last event, served over HTTP.
	ref := shadow.New(shadow.Options{Blobs: r2.b.Store()})
	for _, e := range restored {
		ref.Apply(e)
	}
	tok2 := session(t, r2.url, "builder")
	n := 0
	ref.Current().Walk(func(f shadow.File) {
		n++
		code, body, _ := do(t, "GET", r2.url+"/shadow/"+f.Path, tok2, nil)
		if want := contentOf(t, f); code != 200 || string(body) != want {
			t.Errorf("restored %s: %d %q want %q", f.Path, code, body, want)
		}
	})
	if n < 9 {
		t.Fatalf("only %d shadow files in the backup", n)
	}
}

// TestConcurrentConflictingWrites: writers race to make "c/f" a file and
// a directory (via "c/f/g"). Every 200 answer's content is readable at
// its sequence; every other answer is a 409 and changed nothing.
func TestConcurrentConflictingWrites(t *testing.T) {
	r, _ := startOpts(t, testConfig(t.TempDir()), Options{})
	tok := session(t, r.url, "builder")
	type result struct {
		path, content string
		code          int
		seq           uint64
	}
	results := make(chan result, 400)
	var wg sync.WaitGroup
	c := tokenClient(t, r.url, tok)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				p := "c/f"
				if (w+i)%2 == 1 {
					p = "c/f/g"
				}
				content := fmt.Sprintf("%d.%d", w, i)
				sw, err := c.PutShadow(context.Background(), p, []byte(content))
				code := 200
				var e *client.Error
				switch {
				case errors.As(err, &e):
					code = e.Status
				case err != nil:
					continue
				}
				results <- result{p, content, code, sw.Sequence}
				if i%5 == 0 && p == "c/f" && code == 200 {
					c.DeleteShadow(context.Background(), "c/f")
				}
			}
		}()
	}
	wg.Wait()
	close(results)
	var ok, conflict int
	for res := range results {
		switch res.code {
		case 200:
			ok++
			v, err := r.b.Shadow().At(res.seq)
			if err != nil {
				t.Fatal(err)
			}
			f, err := v.Open(res.path)
			if got := ""; err != nil || contentOf(t, f) != res.content {
				if err == nil {
					got = contentOf(t, f)
				}
				t.Errorf("PUT %s answered 200 at %d but the file as of then is %q (%v)", res.path, res.seq, got, err)
			}
		case 409:
			conflict++
		default:
			t.Errorf("PUT %s: %d", res.path, res.code)
		}
	}
	if ok == 0 || conflict == 0 {
		t.Fatalf("%d stored, %d conflicts: the race did not happen", ok, conflict)
	}
}

// TestSnapshotThatFailsToRestoreIsNotTrusted: a snapshot whose checksum is
// right but whose shadow section does not decode (a bug, a format change)
// leaves no half-restored state: the sessions section, restored first, is
// reset and the whole log is replayed.
func TestSnapshotThatFailsToRestoreIsNotTrusted(t *testing.T) {
	cfg := testConfig(t.TempDir())
	r, _ := startOpts(t, cfg, Options{})
	tok := session(t, r.url, "builder")
	writeHistory(t, r.url, tok, 20, 5)
	coordState, err := r.b.Coordination().MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	r.shutdown(t)
	want := fullReplay(t, cfg)

	st, _ := store.Open(cfg.EventStorePath, store.Options{})
	last := st.LastSequence()
	var lastID string // the snapshot must be of this log to be tried
	st.ReadFrom(last-1, func(e store.Event) error { lastID = e.ID; return store.ErrStop })
	st.Close()
	fakeSessions, _ := json.Marshal([]auth.SessionRecord{{ID: "fake-session", AgentID: "intruder"}})
	snaps, err := snapshot.Open(cfg.SnapshotPath, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snaps.Write(&snapshot.Snapshot{Seq: last, LogID: lastID, Created: time.Now(), Sections: map[string][]byte{
		"sessions": fakeSessions, "coordination": coordState, shadow.SnapshotSection: []byte("not a shadow state"),
	}}); err != nil {
		t.Fatal(err)
	}

	r, lb := startOpts(t, cfg, Options{})
	got, _ := r.b.Shadow().MarshalSnapshot()
	if !bytes.Equal(got, want) {
		t.Fatalf("state after a failed restore differs from a full replay\n%s", lb)
	}
	if !strings.Contains(lb.String(), "snapshot could not be restored") {
		t.Fatalf("no warning:\n%s", lb)
	}
	if _, _, ok := r.b.Sessions().Get("fake-session"); ok {
		t.Fatal("the bad snapshot's session survived the reset")
	}
	if code, body, _ := do(t, "GET", r.url+"/shadow/?list", tok, nil); code != 200 {
		t.Fatalf("the real session was lost: %d %s", code, body)
	}
}
