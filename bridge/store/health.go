package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// probeFile is the scratch file the writability probe reserves space in,
// next to the bbolt file. It exists only during a probe.
const probeFile = ".events.db.probe"

// bucketProbe holds one key the probe overwrites: a real bbolt commit
// that never touches the event log.
var bucketProbe = []byte("probe")

// Probe headroom: the space a probe must be able to reserve before the
// store calls itself writable again. Twice the failed batch (its values
// plus the index and branch pages around them), at least MinProbeHeadroom
// and at most MaxProbeHeadroom.
const (
	MinProbeHeadroom = 1 << 20
	MaxProbeHeadroom = 16 << 20
)

// Healthy reports whether the store can take appends: it is open, no
// damage was found in it, and its last commit succeeded or, after a
// failure, a probe since then proved that a commit would succeed. It is
// the readiness check behind /status, so a full disk that is freed makes
// the bridge ready again without any client write.
func (s *Store) Healthy() error {
	if err := s.damageErr(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	if s.writeErr != nil {
		return fmt.Errorf("last commit failed: %w (probing every %s)", s.writeErr, s.probeEvery)
	}
	return nil
}

// damageErr is the damage found at run time, nil if none.
func (s *Store) damageErr() error {
	s.damageMu.Lock()
	defer s.damageMu.Unlock()
	return s.damage
}

// prober waits for a failed commit, then probes every probeEvery until a
// probe succeeds or a commit clears the failure, and waits again.
func (s *Store) prober(dir string) {
	defer s.background.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.probeWake:
		}
		t := time.NewTicker(s.probeEvery)
		for failing := true; failing; {
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-t.C:
			}
			failing = !s.probeOnce(dir)
		}
		t.Stop()
	}
}

// probeOnce runs one probe if the last commit failed; it reports whether
// the store is writable (or was cleared meanwhile by a commit).
func (s *Store) probeOnce(dir string) bool {
	s.mu.RLock()
	failures, failing, size := s.failures, s.writeErr != nil, s.failedBytes
	s.mu.RUnlock()
	if !failing {
		return true
	}
	err := s.probe(dir, min(max(2*size, MinProbeHeadroom), MaxProbeHeadroom))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.log.Debug("event store probe failed", "error", err.Error())
		return false
	}
	if s.failures != failures || s.writeErr == nil {
		// A commit failed after the probe began (or one succeeded): the
		// probe proves nothing about it; keep going.
		return s.writeErr == nil
	}
	s.writeErr = nil
	s.log.Info("event store writable again: a probe reserved space and committed", "path", s.path)
	return true
}

// probe proves, without touching the event log, that a commit of up to
// headroom bytes would succeed now: the file system must reserve headroom
// bytes for a scratch file (fallocate, so a full disk or quota refuses
// it, where writing into bbolt's already allocated free pages might
// not), fsync it, and bbolt must commit a transaction (page allocation,
// write, fsync, meta page) into its probe bucket.
func (s *Store) probe(dir string, headroom int) error {
	if err := reserve(filepath.Join(dir, probeFile), int64(headroom)); err != nil {
		return err
	}
	now := s.now().UTC().Format(time.RFC3339Nano)
	return s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketProbe)
		if err != nil {
			return err
		}
		return b.Put([]byte("last"), []byte(now))
	})
}

// reserve allocates n bytes for a new file at path, syncs it and removes
// it. Where fallocate is not supported the bytes are written instead.
func reserve(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	defer os.Remove(path)
	defer f.Close()
	err = syscall.Fallocate(int(f.Fd()), 0, 0, n)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.ENOSYS) {
		err = writeZeros(f, n)
	}
	if err != nil {
		return fmt.Errorf("probe: reserve %d bytes: %w", n, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("probe: fsync: %w", err)
	}
	return nil
}

func writeZeros(f *os.File, n int64) error {
	buf := make([]byte, 64<<10)
	for n > 0 {
		c := min(n, int64(len(buf)))
		if _, err := f.Write(buf[:c]); err != nil {
			return err
		}
		n -= c
	}
	return nil
}

// removeScratch removes scratch files left by a probe or a high-water
// write interrupted by a crash.
func removeScratch(dir string) {
	os.Remove(filepath.Join(dir, probeFile))
	if tmps, err := filepath.Glob(filepath.Join(dir, ".high-water-*.tmp")); err == nil {
		for _, t := range tmps {
			os.Remove(t)
		}
	}
}
