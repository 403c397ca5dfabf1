package fusefs

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// readAll reads path sequentially with a 1 MiB buffer, as cp or cat would.
func readAll(tb testing.TB, path string, buf []byte) int64 {
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkSequentialRead reads a 256 MiB shadow file through FUSE
// (current/, read around the page cache: every read asks the bridge,
// which reads the event store) and the same bytes
// from a plain file in the test's temporary directory, in the same run.
func BenchmarkSequentialRead(b *testing.B) {
	const size = 256 << 20
	content := make([]byte, size)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(content)
	p, w := newProject(b, shadow.Options{})
	w.put("big.bin", string(content))
	m := mountT(b, p)
	plain := filepath.Join(b.TempDir(), "big.bin")
	if err := os.WriteFile(plain, content, 0o644); err != nil {
		b.Fatal(err)
	}
	content = nil
	buf := make([]byte, 1<<20)
	fusePath := filepath.Join(m.Dir(), "current/big.bin")
	readAll(b, plain, buf)
	readAll(b, fusePath, buf)

	b.SetBytes(size)
	b.ResetTimer()
	var plainD, fuseD time.Duration
	for b.Loop() {
		t := time.Now()
		if readAll(b, plain, buf) != size {
			b.Fatal("short plain read")
		}
		plainD += time.Since(t)
		t = time.Now()
		if readAll(b, fusePath, buf) != size {
			b.Fatal("short FUSE read")
		}
		fuseD += time.Since(t)
	}
	gbs := func(d time.Duration) float64 { return float64(size) * float64(b.N) / d.Seconds() / 1e9 }
	b.ReportMetric(gbs(plainD), "plain-GB/s")
	b.ReportMetric(gbs(fuseD), "fuse-GB/s")
	b.ReportMetric(gbs(fuseD)/gbs(plainD), "fuse/plain")
}

// latencies collects per-operation durations and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B, name string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	pct := func(q float64) float64 { return float64(s[int(q*float64(len(s)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), name+"-p50-µs")
	b.ReportMetric(pct(0.99), name+"-p99-µs")
}

// smallTree makes n files of 1 KiB under dir/ in a projection and in a
// plain directory, for like-for-like comparisons.
func smallTree(b *testing.B, n int, dir string) (*FS, string, []string) {
	p, w := newProject(b, shadow.Options{})
	plainRoot := b.TempDir()
	os.MkdirAll(filepath.Join(plainRoot, dir), 0o755)
	names := make([]string, n)
	body := func(i int) []byte {
		b := make([]byte, 1024)
		copy(b, fmt.Sprintf("file %d\n", i))
		return b
	}
	for i := range n {
		names[i] = fmt.Sprintf("%s/file%05d.txt", dir, i)
		os.WriteFile(filepath.Join(plainRoot, names[i]), body(i), 0o644)
	}
	w.putMany(names, body)
	return mountT(b, p), plainRoot, names
}

// BenchmarkSmallFiles measures stat and open+read+close of 1 KiB files
// through current/ (entries and attributes cached by the kernel until a
// change invalidates them; every open and read asks the bridge) against
// the same files on the plain file system, one operation per iteration,
// random order.
func BenchmarkSmallFiles(b *testing.B) {
	m, plainRoot, names := smallTree(b, 1000, "src")
	cur := filepath.Join(m.Dir(), "current")
	buf := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 1))
	var fs, fo, ps, po latencies
	readOnce := func(path string) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if n, _ := f.Read(buf); n != 1024 {
			b.Fatalf("read %d bytes", n)
		}
		f.Close()
	}
	for b.Loop() {
		name := names[r.IntN(len(names))]
		t := time.Now()
		if _, err := os.Stat(filepath.Join(cur, name)); err != nil {
			b.Fatal(err)
		}
		fs = append(fs, time.Since(t))
		t = time.Now()
		readOnce(filepath.Join(cur, name))
		fo = append(fo, time.Since(t))
		t = time.Now()
		os.Stat(filepath.Join(plainRoot, name))
		ps = append(ps, time.Since(t))
		t = time.Now()
		readOnce(filepath.Join(plainRoot, name))
		po = append(po, time.Since(t))
	}
	fs.report(b, "fuse-stat")
	fo.report(b, "fuse-open+read")
	ps.report(b, "plain-stat")
	po.report(b, "plain-open+read")
}

// BenchmarkReaddir10k lists a 10,000-entry directory (names and types,
// as os.ReadDir and ls do) against a plain directory, in the same run:
// in current/ (every listing asks the bridge, with READDIRPLUS), in one
// history/<seq>/ (the kernel keeps its listing after the first), and in
// a history/<seq>/ never listed before (first listings).
func BenchmarkReaddir10k(b *testing.B) {
	m, plainRoot, _ := smallTree(b, 10_000, "big")
	last := m.proj.LastSeq()
	fuseDir := filepath.Join(m.Dir(), "current/big")
	histDir := filepath.Join(m.Dir(), "history", strconv.FormatUint(last, 10), "big")
	plainDir := filepath.Join(plainRoot, "big")
	list := func(dir string) time.Duration {
		t := time.Now()
		des, err := os.ReadDir(dir)
		// history/<last-i>/ has 10,000 - i entries.
		if err != nil || len(des) < 9_000 {
			b.Fatal(dir, len(des), err)
		}
		return time.Since(t)
	}
	list(histDir)
	var fl, hl, hf, pl latencies
	i := uint64(1)
	for b.Loop() {
		fl = append(fl, list(fuseDir))
		hl = append(hl, list(histDir))
		if i < 10_000 {
			hf = append(hf, list(filepath.Join(m.Dir(), "history", strconv.FormatUint(last-i, 10), "big")))
			i++
		}
		pl = append(pl, list(plainDir))
	}
	fl.report(b, "fuse-current-readdir")
	hl.report(b, "fuse-history-readdir")
	hf.report(b, "fuse-history-first-readdir")
	pl.report(b, "plain-readdir")
}

// timeLs runs `ls -l` (as a user would: sorted, long format, into a
// pipe) in dir and returns how long it took.
func timeLs(b *testing.B, dir string) time.Duration {
	cmd := exec.Command("sh", "-c", `cd "$0" && exec ls -l --color=never`, dir)
	t := time.Now()
	out, err := cmd.Output()
	d := time.Since(t)
	if err != nil {
		b.Fatalf("ls -l %s: %v", dir, err)
	}
	if bytes.Count(out, []byte("\n")) < 50_000 {
		b.Fatalf("ls -l %s: %d lines", dir, bytes.Count(out, []byte("\n")))
	}
	return d
}

// BenchmarkLsL50k runs `ls -l` on a 50,000-entry directory of the view
// against a plain directory (warm: its inodes in the kernel's caches), in
// the same run: the first listing of current/ (once, before the loop),
// current/ again (cached by the kernel until a change), a history/<seq>/
// never listed before (a first listing), and that history/<seq>/ again.
// Goal: at most 3x the plain directory.
func BenchmarkLsL50k(b *testing.B) {
	m, plainRoot, _ := smallTree(b, 50_000, "big")
	last := m.proj.LastSeq()
	cur := filepath.Join(m.Dir(), "current/big")
	plain := filepath.Join(plainRoot, "big")
	timeLs(b, plain)
	first := timeLs(b, cur)
	firstPlain := timeLs(b, plain)
	var tc, th, tw, tp time.Duration
	i := uint64(0)
	for b.Loop() {
		hist := filepath.Join(m.Dir(), "history", strconv.FormatUint(last-i, 10), "big")
		i++
		tc += timeLs(b, cur)
		th += timeLs(b, hist)
		tw += timeLs(b, hist)
		tp += timeLs(b, plain)
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(b.N) }
	b.ReportMetric(first.Seconds()*1000, "current-first-ms")
	b.ReportMetric(first.Seconds()/firstPlain.Seconds(), "current-first/plain")
	b.ReportMetric(ms(tc), "current-again-ms")
	b.ReportMetric(ms(th), "history-first-ms")
	b.ReportMetric(ms(tw), "history-again-ms")
	b.ReportMetric(ms(tp), "plain-ms")
	b.ReportMetric(ms(th)/ms(tp), "history-first/plain")
}
