package store

import (
	"errors"
	"fmt"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged is wrapped by every error about an event store file whose
// content cannot be trusted: bbolt refused it, panicked on it, or an
// event or index in it does not decode. The caller cannot repair it; the
// operator restores the file from a backup.
var ErrDamaged = errors.New("event store is damaged")

// damagedError is a damage report: the file and what was found.
type damagedError struct {
	path   string
	detail string
	err    error // the underlying error, if any
}

func (e *damagedError) Error() string {
	return "event store " + e.path + " is damaged: " + e.detail
}

func (e *damagedError) Is(target error) bool { return target == ErrDamaged }

func (e *damagedError) Unwrap() error { return e.err }

// damaged builds the ErrDamaged error for path.
func damaged(path string, err error, format string, args ...any) error {
	return &damagedError{path: path, detail: fmt.Sprintf(format, args...), err: err}
}

// callbackPanic carries a panic raised by a caller's callback through a
// guarded transaction, so it is re-raised as the caller's own and never
// reported as damage.
type callbackPanic struct{ v any }

func (callbackPanic) Error() string { return "callback panicked" }

// guarded runs f, which reads or writes the bbolt file at path, and turns
// a panic into an error wrapping ErrDamaged. bbolt trusts its file: a
// page with a wrong type or a count past its end makes it panic, and a
// read past the end of a truncated file faults inside the memory map,
// which SetPanicOnFault (for this goroutine only) turns into a panic too.
// A panic that came from a caller's callback (callbackPanic) is re-raised.
func guarded(path string, f func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		if cp, ok := p.(callbackPanic); ok {
			panic(cp.v)
		}
		err = damaged(path, nil, "bbolt failed on its content (%v)", p)
	}()
	return f()
}

// call runs a caller's callback inside a guarded transaction: a panic in
// it is wrapped so guarded re-raises it instead of calling it damage.
func call[T any](fn func(T) error, v T) (err error) {
	defer func() {
		if p := recover(); p != nil {
			panic(callbackPanic{p})
		}
	}()
	return fn(v)
}

// view is db.View, guarded. Damage found marks the store damaged.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	err := guarded(s.path, func() error { return s.db.View(fn) })
	s.noteDamage(err)
	return err
}

// update is db.Update, guarded. Damage found marks the store damaged.
func (s *Store) update(fn func(*bolt.Tx) error) error {
	err := guarded(s.path, func() error { return s.db.Update(fn) })
	s.noteDamage(err)
	return err
}

// noteDamage records the first damage found at run time: from then on
// Healthy reports it and appends are refused, so nothing more is written
// into a file whose pages cannot be trusted.
func (s *Store) noteDamage(err error) {
	if err == nil || !errors.Is(err, ErrDamaged) {
		return
	}
	s.damageMu.Lock()
	first := s.damage == nil
	if first {
		s.damage = err
	}
	s.damageMu.Unlock()
	if first {
		s.log.Error("event store damaged: appends are refused from now on", "path", s.path, "error", err.Error())
	}
}
