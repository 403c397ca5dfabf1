package server

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/config"
)

// liveHeap is the heap the last full collection found live, after two
// collections (the second frees what the first's finalizers released).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// uniqueContent is n bytes that differ for every i (so nothing dedups).
func uniqueContent(buf []byte, i int) []byte {
	for j := 0; j+8 <= len(buf); j += 4096 {
		binary.BigEndian.PutUint64(buf[j:], uint64(i)<<32|uint64(j))
	}
	return buf
}

// TestShadowContentIsNotHeldInMemory: unique 1 MiB PUTs do not grow the
// bridge's live heap, a snapshot taken after them is small (it refers to
// contents, never copies them), a restart reads them back from the store,
// and the restart does not load them into memory either. Before contents
// moved to the store, 48 such PUTs grew the live heap by 48 MiB or more
// and the snapshot was 48 MiB.
func TestShadowContentIsNotHeldInMemory(t *testing.T) {
	const n, size = 48, 1 << 20
	cfg := testConfig(t.TempDir())
	r, _ := startOpts(t, cfg, Options{SnapshotEvery: 16})
	tok := session(t, r.url, "builder")
	buf := make([]byte, size)
	putFile(t, r.url, tok, "warm-up", string(uniqueContent(buf, -1)))
	before := liveHeap()
	for i := range n {
		putFile(t, r.url, tok, fmt.Sprintf("big/f%02d.bin", i), string(uniqueContent(buf, i)))
	}
	grown := int64(liveHeap()) - int64(before)
	t.Logf("live heap grew by %d KiB for %d MiB of unique shadow content", grown>>10, n*size>>20)
	if grown > 12<<20 {
		t.Errorf("live heap grew by %d MiB after %d unique 1 MiB PUTs: contents are held in memory", grown>>20, n)
	}
	// The last snapshot (written off the apply path) covers most PUTs.
	waitFor(t, "a snapshot after the PUTs", func() bool { return r.b.snapper.writtenSeq() >= uint64(n) })
	for _, f := range snapshotFiles(t, cfg) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 256<<10 {
			t.Errorf("snapshot %s is %d KiB after %d MiB of content: it copies contents", f, fi.Size()>>10, n*size>>20)
		}
	}
	if err := r.shutdown(t); err != nil {
		t.Fatal(err)
	}

	before = liveHeap()
	r2, _ := startOpts(t, cfg, Options{SnapshotEvery: 16})
	if grown := int64(liveHeap()) - int64(before); grown > 12<<20 {
		t.Errorf("live heap grew by %d MiB over a restart: contents are loaded into memory", grown>>20)
	}
	tok2 := session(t, r2.url, "builder")
	for _, i := range []int{0, 17, n - 1} {
		code, body, _ := do(t, "GET", fmt.Sprintf("%s/shadow/big/f%02d.bin", r2.url, i), tok2, nil)
		if want := uniqueContent(buf, i); code != 200 || string(body) != string(want) {
			t.Fatalf("GET f%02d after restart: %d, %d bytes, equal %v", i, code, len(body), string(body) == string(want))
		}
	}
}

// TestShadowSizeLimits: a file over the per-file limit is 413 before
// anything is stored, whether its length is announced or not; new
// content over the total limit is 507; content already stored is still
// accepted at the limit; every refusal is a JSON error naming its
// variable, and stores no event.
func TestShadowSizeLimits(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.ShadowMaxFileBytes = 1000
	cfg.ShadowMaxTotalBytes = 2500
	cfg.ShadowAgentShare = 100 // one agent fills the whole total here (TestShadowAgentShare: a share)
	r, _ := startOpts(t, cfg, Options{})
	tok := session(t, r.url, "builder")
	last := func() uint64 { return r.b.Store().LastSequence() }
	jsonErr := func(body []byte) (string, string) {
		var e struct{ Error, Detail string }
		if err := json.Unmarshal(body, &e); err != nil {
			t.Fatalf("error answer is not JSON: %q", body)
		}
		return e.Error, e.Detail
	}
	a := strings.Repeat("a", 1000)
	putFile(t, r.url, tok, "a", a)
	seq := last()

	// Announced length over the limit.
	code, body, _ := do(t, "PUT", r.url+"/shadow/too-big", tok, []byte(a+"!"))
	if e, d := jsonErr(body); code != 413 || e != "request_entity_too_large" || !strings.Contains(d, "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES") || !strings.Contains(d, "1000 bytes") {
		t.Errorf("PUT of 1001 bytes: %d %s", code, body)
	}
	// Unknown length (chunked) over the limit.
	req, _ := http.NewRequest("PUT", r.url+"/shadow/too-big", io.MultiReader(strings.NewReader(a), strings.NewReader("!!")))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(body), "LIGHTHOUSE_SHADOW_MAX_FILE_BYTES") {
		t.Errorf("chunked PUT of 1002 bytes: %d %s", resp.StatusCode, body)
	}

	putFile(t, r.url, tok, "b", strings.Repeat("b", 1000))
	seq = last()
	code, body, _ = do(t, "PUT", r.url+"/shadow/c", tok, []byte(strings.Repeat("c", 600)))
	if e, d := jsonErr(body); code != 507 || e != "insufficient_storage" || !strings.Contains(d, "LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES") || !strings.Contains(d, "2000 bytes") {
		t.Errorf("PUT over the total: %d %s", code, body)
	}
	if last() != seq {
		t.Fatalf("a refused PUT stored an event: last sequence %d, was %d", last(), seq)
	}
	if code, _, _ := do(t, "GET", r.url+"/shadow/c", tok, nil); code != 404 {
		t.Errorf("refused file readable: %d", code)
	}
	// The same content under another path adds nothing: accepted, and so
	// is a small new one that still fits, and a delete.
	putFile(t, r.url, tok, "copy-of-a", a)
	putFile(t, r.url, tok, "small", strings.Repeat("s", 500))
	if code, body, _ := do(t, "DELETE", r.url+"/shadow/b", tok, nil); code != 200 {
		t.Errorf("DELETE at the limit: %d %s", code, body)
	}
	// Deleting does not free space: history keeps the content.
	if code, body, _ := do(t, "PUT", r.url+"/shadow/d", tok, []byte("d")); code != 507 {
		t.Errorf("PUT after delete at the limit: %d %s", code, body)
	}
	if code, body, _ := do(t, "GET", fmt.Sprintf("%s/shadow/b?at=%d", r.url, seq), tok, nil); code != 200 || string(body) != strings.Repeat("b", 1000) {
		t.Errorf("history of the deleted file: %d %.20q", code, body)
	}
}

// TestShadowGetStreamsRanges: GET /shadow serves byte ranges, HEAD and
// conditional requests from the store.
func TestShadowGetStreamsRanges(t *testing.T) {
	r, _ := startOpts(t, testConfig(t.TempDir()), Options{})
	tok := session(t, r.url, "builder")
	content := strings.Repeat("0123456789", 30_000) // 300,000 bytes
	putFile(t, r.url, tok, "src/data.txt", content)
	get := func(method string, hdr map[string]string) (*http.Response, string) {
		req, _ := http.NewRequest(method, r.url+"/shadow/src/data.txt", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := get("GET", map[string]string{"Range": "bytes=123455-123464"})
	if resp.StatusCode != 206 || body != "5678901234" || resp.Header.Get("Content-Range") != "bytes 123455-123464/300000" {
		t.Errorf("range: %d %.40q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	resp, body = get("GET", map[string]string{"Range": "bytes=-3"})
	if resp.StatusCode != 206 || body != "789" {
		t.Errorf("suffix range: %d %.40q", resp.StatusCode, body)
	}
	resp, _ = get("GET", map[string]string{"Range": "bytes=300000-"})
	if resp.StatusCode != 416 {
		t.Errorf("unsatisfiable range: %d", resp.StatusCode)
	}
	resp, body = get("GET", nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || body != content || resp.Header.Get("Content-Length") != "300000" ||
		etag != fmt.Sprintf(`"%x"`, sha256.Sum256([]byte(content))) || resp.Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("whole file: %d, %d bytes, headers %v", resp.StatusCode, len(body), resp.Header)
	}
	resp, body = get("HEAD", nil)
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("Content-Length") != "300000" {
		t.Errorf("HEAD: %d %.40q %v", resp.StatusCode, body, resp.Header)
	}
	resp, body = get("GET", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 304 || body != "" {
		t.Errorf("If-None-Match: %d %.40q", resp.StatusCode, body)
	}
	resp, body = get("GET", map[string]string{"Range": "bytes=0-1", "If-Range": `"other"`})
	if resp.StatusCode != 200 || body != content {
		t.Errorf("If-Range with another ETag: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// TestShadowAgentShare: one agent fills at most its share of the total
// shadow content (LIGHTHOUSE_SHADOW_AGENT_SHARE of
// LIGHTHOUSE_SHADOW_MAX_TOTAL_BYTES), then gets 507 naming both, and
// another agent's new file is still accepted; a path deeper than
// LIGHTHOUSE_SHADOW_MAX_PATH_DEPTH is 400 before its body is read. On
// main one agent's junk filled the total for good.
func TestShadowAgentShare(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.ShadowMaxFileBytes = 1000
	cfg.ShadowMaxTotalBytes = 4000
	cfg.ShadowMaxPathDepth = 4
	r, _ := startOpts(t, cfg, Options{})
	mallory, alice := session(t, r.url, "mallory"), session(t, r.url, "alice")
	n := 0
	for ; n < 10; n++ {
		code, body, _ := do(t, "PUT", r.url+"/shadow/junk.bin", mallory, []byte(strings.Repeat(fmt.Sprint(n), 900)))
		if code == 507 {
			if !strings.Contains(string(body), config.EnvShadowAgentShare) || !strings.Contains(string(body), config.EnvShadowMaxTotalBytes) {
				t.Fatalf("over mallory's share: %s", body)
			}
			break
		}
		if code != 200 {
			t.Fatalf("mallory's PUT %d: %d %s", n, code, body)
		}
	}
	if n != 2 {
		t.Fatalf("mallory stored %d versions of 900 bytes with a share of 2000", n)
	}
	if code, body, _ := do(t, "PUT", r.url+"/shadow/src/main.go", alice, []byte("package main // alice's work\n")); code != 200 {
		t.Fatalf("alice after mallory's share is spent: %d %s", code, body)
	}
	if code, body, _ := do(t, "PUT", r.url+"/shadow/a/b/c/d/e", alice, []byte("deep")); code != 400 || !strings.Contains(string(body), config.EnvShadowMaxPathDepth) {
		t.Fatalf("a path 5 deep with a limit of 4: %d %s", code, body)
	}
	if code, body, _ := do(t, "PUT", r.url+"/shadow/a/b/c/d", alice, []byte("deep")); code != 200 {
		t.Fatalf("a path 4 deep: %d %s", code, body)
	}
}
