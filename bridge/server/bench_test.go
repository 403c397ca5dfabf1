package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// The benchmarks measure durable appends with 64 concurrent clients three
// ways, on the same disk in the same run: over HTTP through the whole
// Bridge, through the store alone, and raw bbolt group commit (db.Batch)
// with values of the same size as the baseline. Run with
//
//	go test -run '^$' -bench . -benchtime 20000x ./bridge/server
const benchClients = 64

// benchData is the event payload: about 200 bytes of JSON. Its type,
// code_modified, is an agent's own: /event/store refuses file_modified,
// which only PUT /shadow writes.
var benchData = json.RawMessage(`{"path":"src/internal/service/handler.go","operation":"modify","lines_added":12,"lines_removed":3,"hash":"` + strings.Repeat("ab", 32) + `","note":"benchmark event"}`)

// benchValueSize is the size of a stored benchmark event, for the raw baseline.
func benchValueSize() int {
	v, _ := json.Marshal(store.Event{Sequence: 123456, ID: "3f574baf-415c-4366-ab7b-0c95915b3d3b", Type: "code_modified",
		AgentID: "bench", Timestamp: time.Now(), Data: benchData})
	return len(v)
}

// runClients runs n operations over benchClients goroutines and reports
// throughput and latency percentiles.
func runClients(b *testing.B, op func(worker int) error) {
	b.Helper()
	var next atomic.Int64
	lat := make([][]time.Duration, benchClients)
	var wg sync.WaitGroup
	var failed atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for w := 0; w < benchClients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := op(w); err != nil {
					failed.Add(1)
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(float64(len(all)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "events/s")
	b.ReportMetric(pct(0.50), "p50_ms")
	b.ReportMetric(pct(0.99), "p99_ms")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkAppendHTTP(b *testing.B) {
	dir := b.TempDir()
	cfg := testConfig(dir)
	br, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- br.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	url := "http://" + ln.Addr().String()
	tok := benchSession(b, url)
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: benchClients, MaxIdleConnsPerHost: benchClients}}
	body := []byte(fmt.Sprintf(`{"event_type":"code_modified","aggregate_id":"src/internal/service/handler.go","data":%s}`, benchData))
	runClients(b, func(int) error {
		req, _ := http.NewRequest("POST", url+"/event/store", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

func BenchmarkAppendStore(b *testing.B) {
	st, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	runClients(b, func(int) error {
		_, err := st.Append(ctx, store.Event{Type: "code_modified", AggregateID: "src/internal/service/handler.go", AgentID: "bench", Data: benchData})
		return err
	})
}

// BenchmarkRawBoltBatch is the baseline: bbolt's own group commit (Batch)
// of values the size of a stored event, with MaxBatchSize set to the
// number of clients so a batch commits as soon as every client is in it.
func BenchmarkRawBoltBatch(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MaxBatchSize = benchClients
	bucket := []byte("events")
	db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists(bucket); return err })
	value := bytes.Repeat([]byte("x"), benchValueSize())
	b.ReportMetric(float64(len(value)), "value_bytes")
	runClients(b, func(int) error {
		return db.Batch(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucket)
			seq, _ := bk.NextSequence()
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], seq)
			return bk.Put(k[:], value)
		})
	})
}

func benchSession(b *testing.B, url string) string {
	key, _ := auth.AgentKey(secret, "bench", false)
	resp, err := http.Post(url+"/session/create", "application/json", strings.NewReader(fmt.Sprintf(`{"agent_id":"bench","agent_key":%q}`, key)))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Token string `json:"session_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.Token == "" {
		b.Fatalf("session: %d %v", resp.StatusCode, err)
	}
	return s.Token
}
