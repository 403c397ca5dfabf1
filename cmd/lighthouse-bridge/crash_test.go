package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/api"
	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// TestCrashLosesNoAcknowledgedEvent runs the real binary under concurrent
// appends, kill -9s it at random moments, restarts it, and checks that
// every acknowledged event is stored, in order, with no gap, and that the
// session created before the first crash still works after the last.
func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test builds and kills the binary")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	secret := testSecretFor("crash")
	key, _ := auth.AgentKey([]byte(secret), "crasher", false)

	acked := map[uint64]ack{}
	var ackMu sync.Mutex
	next := make([]int, 8) // next n per client
	var token string
	rounds := 15
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	t.Logf("seed %d", seed)

	for round := 0; round <= rounds; round++ {
		p := startBinary(t, bin, dir, secret)
		if token == "" {
			token = p.session(t, key)
		}
		if round == rounds {
			verify(t, p, token, acked)
			p.kill()
			break
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range next {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := p.tokenClient(t, token, 5*time.Second)
				for {
					select {
					case <-stop:
						return
					default:
					}
					n := next[i]
					next[i]++
					data := fmt.Sprintf(`{"client":%d,"n":%d}`, i, n)
					res, err := c.StoreEvent(context.Background(), api.EventStoreRequest{EventType: "crash_probe", Data: json.RawMessage(data)})
					if err != nil || res.Status != "stored" {
						continue // not acknowledged: may or may not be stored
					}
					ackMu.Lock()
					acked[res.Sequence] = ack{i, n}
					ackMu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(20+rng.IntN(230)) * time.Millisecond)
		p.kill()
		close(stop)
		wg.Wait()
	}
	if len(acked) < 100 {
		t.Fatalf("only %d events acknowledged over %d rounds: the test did not exercise the store", len(acked), rounds)
	}
	t.Logf("%d acknowledged events survived %d kill -9 rounds", len(acked), rounds)
}

// ack is an acknowledged append: which client sent it, its n-th.
type ack struct{ client, n int }

type proc struct {
	cmd  *exec.Cmd
	base string
}

func startBinary(t *testing.T, bin, dir, secret string) *proc {
	t.Helper()
	return startBinaryEnv(t, bin, dir, secret)
}

// startBinaryEnv is startBinary with extra environment variables.
func startBinaryEnv(t *testing.T, bin, dir, secret string, extra ...string) *proc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{
		"LIGHTHOUSE_HOST=127.0.0.1",
		"LIGHTHOUSE_PORT=" + strconv.Itoa(port),
		"LIGHTHOUSE_LOG_LEVEL=warn",
		"LIGHTHOUSE_EVENT_STORE_PATH=" + filepath.Join(dir, "events"),
		"LIGHTHOUSE_SNAPSHOT_PATH=" + filepath.Join(dir, "snapshots"),
		"LIGHTHOUSE_AUTH_SECRET=" + secret,
	}
	cmd.Env = append(cmd.Env, extra...)
	logf, err := os.OpenFile(filepath.Join(dir, "bridge.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	c, err := client.New(client.Options{BaseURL: p.base, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Status(context.Background())
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			p.kill()
			log, _ := os.ReadFile(filepath.Join(dir, "bridge.log"))
			t.Fatalf("bridge not ready after 10s: %v\n%s", err, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (p *proc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// session creates a session of agent crasher with key and returns its token.
func (p *proc) session(t *testing.T, key string) string {
	t.Helper()
	c, err := client.New(client.Options{BaseURL: p.base, AgentID: "crasher", AgentKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ns, err := c.CreateSession(context.Background())
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	return ns.Token
}

// tokenClient is a client holding token alone: a 401 is final, never
// renewed, so a session that did not survive shows.
func (p *proc) tokenClient(t *testing.T, token string, timeout time.Duration) *client.Client {
	c, err := client.New(client.Options{BaseURL: p.base, Token: token, Timeout: timeout})
	if err != nil {
		t.Error(err)
		return nil
	}
	return c
}

func verify(t *testing.T, p *proc, token string, acked map[uint64]ack) {
	t.Helper()
	var all []store.Event
	c := p.tokenClient(t, token, 30*time.Second)
	for {
		page, err := c.QueryEvents(context.Background(), api.EventQuery{Since: uint64(len(all)), Limit: 1000})
		if err != nil {
			t.Fatalf("query after crashes: %v (the session did not survive?)", err)
		}
		if len(page.Events) == 0 {
			break
		}
		all = append(all, page.Events...)
	}
	lastN := make(map[int]int)
	for i, e := range all {
		if e.Sequence != uint64(i+1) {
			t.Fatalf("gap: position %d holds sequence %d", i, e.Sequence)
		}
		if e.Type != "crash_probe" {
			continue
		}
		var d struct{ Client, N int }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if prev, ok := lastN[d.Client]; ok && d.N <= prev {
			t.Fatalf("client %d: n %d stored after n %d", d.Client, d.N, prev)
		}
		lastN[d.Client] = d.N
		if a, ok := acked[e.Sequence]; ok {
			if a != (ack{d.Client, d.N}) {
				t.Fatalf("sequence %d holds %+v, acknowledged as %+v", e.Sequence, d, a)
			}
		}
	}
	for seq := range acked {
		if seq > uint64(len(all)) {
			t.Fatalf("acknowledged sequence %d lost (log ends at %d)", seq, len(all))
		}
	}
}
