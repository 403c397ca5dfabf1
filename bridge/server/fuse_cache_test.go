package server

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFUSECachedViewUnderConcurrentWrites: while PUTs and DELETEs run
// over HTTP, other processes list, stat and read current/ through the
// kernel (which caches it and is told of every change before the write
// is answered). Nothing deadlocks, and after each answered PUT a fresh
// process reads exactly what was PUT.
func TestFUSECachedViewUnderConcurrentWrites(t *testing.T) {
	needFUSE(t)
	cfg := testConfig(t.TempDir())
	cfg.MountPoint = filepath.Join(t.TempDir(), "mnt")
	r, _ := startOpts(t, cfg, Options{})
	tok := session(t, r.url, "builder")
	cur := filepath.Join(cfg.MountPoint, "current")
	putFile(t, r.url, tok, "w0/seed.txt", "seed")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 { // readers in other processes, walking the whole tree
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				exec.CommandContext(ctx, "sh", "-c", `ls -lR "$1" >/dev/null 2>&1; grep -r x "$1" >/dev/null 2>&1; find "$1" -type f -exec cat {} + >/dev/null 2>&1`, "sh", cur).Run()
			}
		}()
	}
	c := tokenClient(t, r.url, tok)
	var writers sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 40 {
				p := fmt.Sprintf("w%d/d%d/f%d.txt", w, i%3, i%5)
				content := fmt.Sprintf("writer %d round %d %s", w, i, strings.Repeat("x", i))
				if _, err := c.PutShadow(ctx, p, []byte(content)); err != nil {
					errs <- fmt.Errorf("PUT %s: %w", p, err)
					return
				}
				out, err := exec.CommandContext(ctx, "cat", filepath.Join(cur, p)).Output()
				if err != nil || string(out) != content {
					errs <- fmt.Errorf("after PUT %s answered, a new process reads %q (%v), want %q", p, out, err, content)
					return
				}
				if i%7 == 6 {
					if _, err := c.DeleteShadow(ctx, p); err == nil {
						if out, err := exec.CommandContext(ctx, "stat", filepath.Join(cur, p)).CombinedOutput(); err == nil {
							errs <- fmt.Errorf("after DELETE %s answered, stat still finds it: %s", p, out)
							return
						}
					}
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ctx.Err() != nil {
		t.Fatal("writers and readers did not finish within 60 s: a deadlock between the view's invalidation and its requests?")
	}
}
