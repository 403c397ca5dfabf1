package fusefs

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// DefaultInvalidateWait bounds how long a change waits for its cache
// invalidation before its writer is answered.
const DefaultInvalidateWait = 500 * time.Millisecond

// invalidateQueue is how many changes wait for their invalidation at
// most; beyond it they are dropped and current/ is invalidated whole.
const invalidateQueue = 4096

// invalidator runs the kernel cache invalidations of current/ (FS.
// invalidate) on a goroutine of its own. An invalidation waits for the
// kernel's lock of each directory on the path, so for the requests in
// flight there; a client stuck in one (a lookup waiting on a page fault,
// a debugger) would otherwise stall the goroutine that applies events,
// and with it every append. The Watch callback queues the change and
// waits for it at most the wait, which keeps "visible in the view before
// the write is answered" whenever the kernel answers in time. Past that
// the view is stalled: later changes are queued without waiting until
// the queue is empty again, and when the queue is full changes are
// dropped and current/ is invalidated whole once the kernel answers.
type invalidator struct {
	m     *FS
	wait  time.Duration
	queue chan shadow.Change
	stop  chan struct{}

	overflow atomic.Bool   // changes were dropped: invalidate all of current/
	stalled  atomic.Bool   // a wait timed out; no waiting until caught up
	done     atomic.Uint64 // sequence of the last change invalidated

	mu       sync.Mutex
	progress chan struct{} // closed and replaced whenever done moves
}

// startInvalidator watches proj for changes and invalidates them; the
// function it returns ends both, without waiting for an invalidation in
// flight (the unmount that follows ends it).
func (m *FS) startInvalidator(proj *shadow.Projection, wait time.Duration, queue int) func() {
	if wait <= 0 {
		wait = DefaultInvalidateWait
	}
	inv := &invalidator{m: m, wait: wait, queue: make(chan shadow.Change, queue), stop: make(chan struct{}), progress: make(chan struct{})}
	m.inv = inv
	go inv.run()
	unwatch := proj.Watch(inv.changed)
	var once sync.Once
	return func() {
		once.Do(func() {
			unwatch()
			close(inv.stop)
		})
	}
}

// changed is the Watch callback, on the goroutine applying events.
func (inv *invalidator) changed(c shadow.Change) {
	select {
	case inv.queue <- c:
	default:
		inv.overflow.Store(true)
		return
	}
	if inv.stalled.Load() {
		return
	}
	timer := time.NewTimer(inv.wait)
	defer timer.Stop()
	for {
		inv.mu.Lock()
		ch := inv.progress
		inv.mu.Unlock()
		if inv.done.Load() >= c.Seq {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			if !inv.stalled.Swap(true) {
				inv.m.log.Warn("FUSE view: the kernel has not taken a cache invalidation in time (a process is stuck in a directory of the view?); writes are answered without waiting, current/ may show older content until it does",
					"sequence", c.Seq, "path", c.Path, "waited", inv.wait.String())
			}
			return
		case <-inv.stop:
			return
		}
	}
}

func (inv *invalidator) run() {
	for {
		// Checked before every change: the flag may be set while a
		// whole invalidation runs, for a change it may have missed.
		if inv.overflow.Swap(false) {
			// Changes were dropped: invalidate everything as of now,
			// which covers what is queued too.
			seq := inv.m.proj.LastSeq()
			for drained := false; !drained; {
				select {
				case d := <-inv.queue:
					seq = max(seq, d.Seq)
				default:
					drained = true
				}
			}
			inv.m.invalidateAll()
			inv.finished(seq)
			continue
		}
		select {
		case <-inv.stop:
			return
		case c := <-inv.queue:
			inv.m.invalidate(c)
			inv.finished(c.Seq)
		}
	}
}

// finished records that every change up to seq is invalidated.
func (inv *invalidator) finished(seq uint64) {
	if seq > inv.done.Load() {
		inv.done.Store(seq)
	}
	if len(inv.queue) == 0 && inv.stalled.Swap(false) {
		inv.m.log.Info("FUSE view: cache invalidations caught up", "sequence", seq)
	}
	inv.mu.Lock()
	close(inv.progress)
	inv.progress = make(chan struct{})
	inv.mu.Unlock()
}

// invalidateAll drops everything the kernel caches of current/: every
// entry, listing and file's attributes and pages it holds. It stands in
// for changes that were dropped from a full queue.
func (m *FS) invalidateAll() {
	cur := m.top.GetChild("current")
	if cur == nil {
		return
	}
	cur.NotifyContent(0, 0)
	var walk func(n *fs.Inode, depth int)
	walk = func(n *fs.Inode, depth int) {
		if depth > (shadow.MaxPathLen+1)/2 { // deeper than a path can go
			return
		}
		for name, ch := range n.Children() {
			n.NotifyEntry(name)
			ch.NotifyContent(0, 0)
			if ch.IsDir() {
				walk(ch, depth+1)
			}
		}
	}
	walk(cur, 0)
}
