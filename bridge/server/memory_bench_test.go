package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/auth"
	"github.com/lighthouse-project/lighthouse/bridge/config"
)

// childEnv makes the test binary a bridge: TestMain then serves with the
// configuration in the environment (config.Load, as lighthouse-bridge
// serve does) on a free local port, prints "listening <url>" and runs
// until SIGTERM. The memory benchmark measures the bridge in that child
// process, alone (RSS), optionally inside a memory cgroup.
const childEnv = "LIGHTHOUSE_SERVER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

func runChild() int {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Println("config:", err)
		return 1
	}
	every, _ := strconv.Atoi(os.Getenv("LIGHTHOUSE_BENCH_SNAPSHOT_EVERY"))
	b, err := New(cfg, Options{SnapshotEvery: every, Logger: quietLog()})
	if err != nil {
		fmt.Println("new:", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	fmt.Println("listening http://" + ln.Addr().String())
	if err := b.Serve(ctx, ln); err != nil {
		fmt.Println("serve:", err)
		return 1
	}
	return 0
}

// child is a bridge in its own process.
type child struct {
	cmd *exec.Cmd
	url string
}

// startChild runs a bridge on cfg in a child process, inside the memory
// cgroup cg if it is not empty, and waits until /status answers 200.
func startChild(tb testing.TB, cfg config.Config, cg string, snapshotEvery int) *child {
	tb.Helper()
	env := append(os.Environ(), childEnv+"=1",
		config.EnvAuthSecret+"="+string(cfg.AuthSecret),
		config.EnvEventStorePath+"="+cfg.EventStorePath,
		config.EnvSnapshotPath+"="+cfg.SnapshotPath,
		config.EnvMountPoint+"="+cfg.MountPoint,
		config.EnvShadowMaxTotalBytes+"="+strconv.FormatInt(cfg.ShadowMaxTotalBytes, 10),
		"LIGHTHOUSE_BENCH_SNAPSHOT_EVERY="+strconv.Itoa(snapshotEvery))
	args := []string{os.Args[0], "-test.run=^$"}
	if cg != "" {
		// The shell moves itself into the cgroup, then becomes the bridge.
		args = append([]string{"sh", "-c", `echo $$ > "$0"/cgroup.procs && exec "$@"`, cg}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if !ok {
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatalf("child bridge: %q", line)
	}
	c := &child{cmd: cmd, url: url}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(url + "/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return c
			}
		}
		if time.Now().After(deadline) {
			c.stop(tb)
			tb.Fatalf("child bridge not ready: %v", err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits; it reports whether the child was killed
// by a signal (the OOM killer's SIGKILL).
func (c *child) stop(tb testing.TB) (killed bool) {
	c.cmd.Process.Signal(syscall.SIGTERM)
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
		tb.Errorf("child bridge: %v", err)
	}
	return false
}

// procStatus reads kB fields of /proc/<pid>/status.
func procStatus(pid int) map[string]float64 {
	out := map[string]float64{}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		f := strings.Fields(v)
		if ok && len(f) == 2 && f[1] == "kB" {
			n, _ := strconv.ParseFloat(f[0], 64)
			out[k] = n / 1024 // MiB
		}
	}
	return out
}

// memCgroup makes a memory cgroup (v1, under this process's own) with a
// limit of limit bytes, or returns "" when it cannot (no cgroup v1
// memory controller, no permission): the benchmark then measures the
// child without one.
func memCgroup(tb testing.TB, limit int64) string {
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(own), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[1] != "memory" {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup/memory", f[2], fmt.Sprintf("lighthouse-bench-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil {
			tb.Logf("no memory cgroup: %v", err)
			return ""
		}
		tb.Cleanup(func() { os.Remove(dir) })
		if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0); err != nil {
			tb.Logf("no memory cgroup limit: %v", err)
			return ""
		}
		return dir
	}
	return ""
}

func cgroupValue(dir, file, key string) float64 {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if key == "" && len(f) == 1 || len(f) == 2 && f[0] == key {
			n, _ := strconv.ParseFloat(f[len(f)-1], 64)
			return n
		}
	}
	return -1
}

// BenchmarkShadowHistory1GiB: 1 GiB of shadow history (1,024 unique
// 1 MiB versions) PUT over HTTP to a bridge in its own process, inside a
// memory cgroup with the deploy's limit (1 GiB) when the machine allows
// one. It reports the bridge's resident memory once the writes are done
// (goal: ≤ 256 MiB), its peak, reading the whole history back through
// the FUSE view (GB/s), the largest snapshot (goal: independent of the
// content: compare with snapshot-MiB of a run with smaller files), and a
// restart up to /status 200 (goal ≤ 1 s) against the restart of an empty
// bridge in the same run. Run with
//
//	go test -run '^$' -bench ShadowHistory1GiB -benchtime 1x ./bridge/server
//
// LIGHTHOUSE_BENCH_SHADOW_VERSIONS and LIGHTHOUSE_BENCH_SHADOW_FILE_BYTES
// change the number and size of the versions; LIGHTHOUSE_BENCH_NO_CGROUP=1
// runs the bridge without the cgroup (inside it, the page cache is
// bounded too, and reading back 1 GiB goes to the disk).
func BenchmarkShadowHistory1GiB(b *testing.B) {
	versions, size := 1024, 1<<20
	if n, err := strconv.Atoi(os.Getenv("LIGHTHOUSE_BENCH_SHADOW_VERSIONS")); err == nil && n > 0 {
		versions = n
	}
	if n, err := strconv.Atoi(os.Getenv("LIGHTHOUSE_BENCH_SHADOW_FILE_BYTES")); err == nil && n > 0 {
		size = n
	}
	for b.Loop() {
		shadowHistoryOnce(b, versions, size)
	}
}

func shadowHistoryOnce(b *testing.B, versions, size int) {
	needFUSE(b)
	dir := b.TempDir()
	cfg := testConfig(dir)
	cfg.MountPoint = filepath.Join(dir, "mnt")
	cfg.ShadowMaxTotalBytes = int64(versions)*int64(size) + 1<<30
	cg := ""
	if os.Getenv("LIGHTHOUSE_BENCH_NO_CGROUP") != "1" {
		cg = memCgroup(b, 1<<30)
	}
	const every = 256

	// Baseline in the same run: start-up of an empty bridge.
	empty := testConfig(b.TempDir())
	empty.ShadowMaxTotalBytes = cfg.ShadowMaxTotalBytes
	t0 := time.Now()
	startChild(b, empty, "", every).stop(b)
	emptyStart := time.Since(t0)

	c := startChild(b, cfg, cg, every)
	pid := c.cmd.Process.Pid
	start := procStatus(pid)
	key, _ := auth.AgentKey(secret, "builder", false)
	tok := benchToken(b, c.url, key)
	t0 = time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			for i := w; i < versions; i += 4 {
				uniqueContent(buf, i)
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/shadow/history/v%04d.bin", c.url, i), bytes.NewReader(buf))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errc <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errc <- fmt.Errorf("PUT %d: %d", i, resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if c.cmd.ProcessState == nil && c.stop(b) {
			b.Fatalf("the bridge was killed (OOM?) during the PUTs: %v", err)
		}
		b.Fatal(err)
	}
	putTook := time.Since(t0)
	time.Sleep(3 * time.Second) // let the collector and the snapshot writer settle
	steady := procStatus(pid)

	// Read the whole history back through the view.
	t0 = time.Now()
	var read int64
	buf := make([]byte, 1<<20)
	for i := range versions {
		f, err := os.Open(filepath.Join(cfg.MountPoint, fmt.Sprintf("current/history/v%04d.bin", i)))
		if err != nil {
			b.Fatal(err)
		}
		for {
			n, err := f.Read(buf)
			read += int64(n)
			if err != nil {
				break
			}
		}
		f.Close()
	}
	readTook := time.Since(t0)
	if read != int64(versions)*int64(size) {
		b.Fatalf("read %d bytes back, want %d", read, int64(versions)*int64(size))
	}
	afterRead := procStatus(pid)
	var cgMax, cgOOM, cgRSS float64 = -1, -1, -1
	if cg != "" {
		cgMax = cgroupValue(cg, "memory.max_usage_in_bytes", "") / (1 << 20)
		cgOOM = cgroupValue(cg, "memory.oom_control", "oom_kill")
		cgRSS = cgroupValue(cg, "memory.stat", "rss") / (1 << 20)
	}
	if c.stop(b) {
		b.Fatal("the bridge was killed at shutdown")
	}
	var snapMax int64
	for _, f := range snapshotFiles(b, cfg) {
		if fi, err := os.Stat(f); err == nil {
			snapMax = max(snapMax, fi.Size())
		}
	}

	t0 = time.Now()
	c = startChild(b, cfg, cg, every)
	restart := time.Since(t0)
	restartRSS := procStatus(c.cmd.Process.Pid)
	if c.stop(b) {
		b.Fatal("the bridge was killed after the restart")
	}

	b.ReportMetric(float64(int64(versions)*int64(size))/(1<<20), "content-MiB")
	b.ReportMetric(start["VmRSS"], "start-RSS-MiB")
	b.ReportMetric(steady["VmRSS"], "steady-RSS-MiB")
	b.ReportMetric(steady["RssAnon"], "steady-anon-MiB")
	b.ReportMetric(steady["VmHWM"], "peak-RSS-MiB")
	b.ReportMetric(afterRead["VmRSS"], "after-read-RSS-MiB")
	b.ReportMetric(afterRead["RssAnon"], "after-read-anon-MiB")
	b.ReportMetric(afterRead["RssFile"], "after-read-file-MiB")
	b.ReportMetric(float64(read)/readTook.Seconds()/1e9, "fuse-read-GB/s")
	b.ReportMetric(float64(versions)/putTook.Seconds(), "PUT/s")
	b.ReportMetric(float64(snapMax)/1024, "snapshot-KiB")
	b.ReportMetric(restart.Seconds()*1000, "restart-ms")
	b.ReportMetric(emptyStart.Seconds()*1000, "empty-start-ms")
	b.ReportMetric(restartRSS["VmRSS"], "restart-RSS-MiB")
	if cg != "" {
		b.ReportMetric(cgMax, "cgroup-max-MiB")
		b.ReportMetric(cgRSS, "cgroup-anon-MiB")
		b.ReportMetric(cgOOM, "cgroup-oom-kills")
	}
}

// benchToken opens a session for the agent with key over HTTP.
func benchToken(tb testing.TB, url, key string) string {
	req, _ := http.NewRequest("POST", url+"/session/create", strings.NewReader(fmt.Sprintf(`{"agent_id":"builder","agent_key":%q}`, key)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	_, rest, _ := strings.Cut(string(b), `"session_token":"`)
	tok, _, _ := strings.Cut(rest, `"`)
	if tok == "" {
		tb.Fatalf("session: %s", b)
	}
	return tok
}
