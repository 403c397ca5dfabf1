package server

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/config"
)

// TestShadowBodyIsBoundedByTheFileLimit: PUT /shadow's body bound is
// LIGHTHOUSE_SHADOW_MAX_FILE_BYTES (its row's MaxBody), not the 1 MiB of
// other routes, and the body is charged to LIGHTHOUSE_MAX_BYTES_IN_FLIGHT
// for exactly its bytes: a file of the largest size uploads even when the
// budget is that size (announced or chunked), one byte more is 413 naming
// the variable, announced or not.
func TestShadowBodyIsBoundedByTheFileLimit(t *testing.T) {
	put := func(t *testing.T, url, tok, path string, body []byte, chunked bool) (int, string) {
		t.Helper()
		var rd io.Reader = bytes.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // no length: sent chunked
		}
		req, _ := http.NewRequest("PUT", url+"/shadow/"+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	t.Run("a file of the limit fits a budget of the limit", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		cfg.ShadowMaxFileBytes = 1 << 20
		cfg.Limits.MaxBytesInFlight = 1 << 20
		r, _ := startOpts(t, cfg, Options{})
		tok := session(t, r.url, "builder")
		full := bytes.Repeat([]byte("m"), 1<<20)
		for _, chunked := range []bool{false, true} {
			if code, body := put(t, r.url, tok, "full.bin", full, chunked); code != 200 {
				t.Fatalf("PUT of 1 MiB (chunked %v) with 1 MiB in flight: %d %s", chunked, code, body)
			}
			if code, body := put(t, r.url, tok, "over.bin", append(full, '!'), chunked); code != 413 || !strings.Contains(body, config.EnvShadowMaxFileBytes) {
				t.Errorf("PUT of 1 MiB + 1 (chunked %v): %d %s", chunked, code, body)
			}
		}
		if code, got, _ := do(t, "GET", r.url+"/shadow/full.bin", tok, nil); code != 200 || !bytes.Equal(got, full) {
			t.Errorf("GET full.bin: %d, %d bytes", code, len(got))
		}
	})
	t.Run("a PUT past the bytes in flight is 503 naming the budget", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		cfg.ShadowMaxFileBytes = 1 << 20
		cfg.Limits.MaxBytesInFlight = 1 << 20
		r, _ := startOpts(t, cfg, Options{})
		tok := session(t, r.url, "builder")
		// A PUT that sends all but one byte of its 1 MiB and waits.
		conn, err := net.Dial("tcp", strings.TrimPrefix(r.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "PUT /shadow/slow.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", tok, 1<<20)
		conn.Write(bytes.Repeat([]byte("s"), 1<<20-1))
		// Once all it sent is received, it holds the whole budget.
		waitFor(t, "the slow PUT's bytes to be received", func() bool {
			_, mb, _ := do(t, "GET", r.url+"/metrics", "", nil)
			return strings.Contains(string(mb), "\nlighthouse_bytes_in_flight 1.048576e+06\n")
		})
		if code, body := put(t, r.url, tok, "other.txt", []byte("small"), false); code != 503 || !strings.Contains(body, "more than 1048576 bytes in flight") {
			t.Errorf("PUT while another holds the budget: %d %s", code, body)
		}
	})
	t.Run("a raised file limit raises the body bound", func(t *testing.T) {
		cfg := testConfig(t.TempDir())
		cfg.ShadowMaxFileBytes = 4 << 20
		r, _ := startOpts(t, cfg, Options{})
		tok := session(t, r.url, "builder")
		big := bytes.Repeat([]byte("b"), 3<<20)
		if code, body := put(t, r.url, tok, "big.bin", big, false); code != 200 {
			t.Fatalf("PUT of 3 MiB under a 4 MiB file limit: %d %s", code, body)
		}
		if code, body := put(t, r.url, tok, "huge.bin", bytes.Repeat([]byte("h"), 4<<20+1), true); code != 413 || !strings.Contains(body, "4194304 bytes") {
			t.Errorf("chunked PUT over 4 MiB: %d %s", code, body)
		}
		// Other routes keep their own bound.
		code, m := post(t, r.url+"/event/store", tok, `{"event_type":"x","data":{"pad":"`+strings.Repeat("p", 2<<20)+`"}}`)
		if code != 413 {
			t.Errorf("POST /event/store of 2 MiB: %d %v", code, m)
		}
	})
}
