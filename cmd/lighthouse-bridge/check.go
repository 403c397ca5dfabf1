package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lighthouse-project/lighthouse/bridge/config"
	"github.com/lighthouse-project/lighthouse/bridge/shadow"
	"github.com/lighthouse-project/lighthouse/bridge/snapshot"
	"github.com/lighthouse-project/lighthouse/bridge/store"
)

// Exit codes of `lighthouse-bridge check`.
const (
	checkOK       = 0 // nothing found
	checkFailed   = 1 // the check could not run
	checkDamaged  = 2 // the event store file is damaged
	checkLost     = 3 // sound, but not the log its mark or snapshots know
	checkWarnings = 4 // it would start; read the warnings
)

const checkLong = `Check an event store offline, without changing anything: the bbolt file's
page structure and bbolt's own consistency check, the sequence (from 1,
without a gap, every event decoding to its own sequence), the indexes
against the events, the shadow contents (every one complete, and every
file_modified event's content stored), the high-water mark next to the
file, and every snapshot in the snapshot directory against the log.

The store is LIGHTHOUSE_EVENT_STORE_PATH or --store, a store directory or a
bbolt file (a backup from GET /admin/backup); the snapshots are
LIGHTHOUSE_SNAPSHOT_PATH or --snapshots (none if neither is set). A store
in use by a running bridge is locked: check a backup of it instead.

Exit status:
  0  nothing found: the bridge starts on it and restores the newest snapshot
  1  the check could not run (no such store, locked by a running bridge)
  2  the event store file is damaged: restore events.db from a backup
  3  the file is sound but is not the log its high-water mark or snapshots
     know (events lost, emptied, another store's): the bridge refuses it
  4  it starts, with warnings (a damaged, foreign or older-format
     snapshot file that will be skipped, a log that ends before its
     newest snapshot, contents of an older version not yet moved)

Example:
  lighthouse-bridge check
  lighthouse-bridge check --store /backups/events-2026-12-01.db --snapshots ''`

// exitError ends the process with its code after printing its message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// ExitCode is the process's exit status.
func (e *exitError) ExitCode() int { return e.code }

func newCheckCmd(getenv func(string) string) *cobra.Command {
	var storePath, snapPath string
	cmd := &cobra.Command{
		Use:   "check [--store PATH] [--snapshots DIR]",
		Short: "Check an event store and its snapshots offline",
		Long:  checkLong,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("store") {
				storePath = strings.TrimSpace(getenv(config.EnvEventStorePath))
			}
			if !cmd.Flags().Changed("snapshots") {
				snapPath = strings.TrimSpace(getenv(config.EnvSnapshotPath))
			}
			if storePath == "" {
				return &exitError{checkFailed, fmt.Sprintf("no event store to check: set %s or --store", config.EnvEventStorePath)}
			}
			return runCheck(cmd.OutOrStdout(), storePath, snapPath)
		},
	}
	cmd.Flags().StringVar(&storePath, "store", "", "event store directory or bbolt file (default $"+config.EnvEventStorePath+")")
	cmd.Flags().StringVar(&snapPath, "snapshots", "", "snapshot directory; empty for none (default $"+config.EnvSnapshotPath+")")
	return cmd
}

// runCheck checks the store and the snapshots, prints what it finds and
// returns an *exitError unless nothing was found.
func runCheck(out io.Writer, storePath, snapPath string) error {
	var seqs []uint64
	if snapPath != "" {
		var err error
		if seqs, err = snapshot.Sequences(snapPath); err != nil {
			return &exitError{checkFailed, fmt.Sprintf("snapshots %s: %v", snapPath, err)}
		}
	}
	rep, err := store.Check(storePath, store.CheckOptions{IDsAt: seqs, BlobRefs: shadow.BlobRefs})
	if errors.Is(err, store.ErrLocked) {
		return &exitError{checkFailed, err.Error() + ": stop it first, or check a backup (GET /admin/backup)"}
	}
	if err != nil {
		return &exitError{checkFailed, fmt.Sprintf("event store %s: %v", storePath, err)}
	}
	fmt.Fprintf(out, "event store %s: %d bytes, %d events", rep.Path, rep.Size, rep.Events)
	if rep.Events > 0 {
		fmt.Fprintf(out, " (sequences 1 to %d, first event %s)", rep.Last, rep.Origin)
	}
	if rep.Blobs > 0 {
		fmt.Fprintf(out, ", %d shadow contents (%d bytes)", rep.Blobs, rep.BlobBytes)
	}
	fmt.Fprintln(out)
	for _, f := range rep.Findings {
		fmt.Fprintf(out, "  %s: %s\n", f.Severity, f.Message)
	}
	worst := rep.Worst()
	if snapPath != "" && worst != store.Damaged {
		worst = max(worst, checkSnapshots(out, snapPath, rep))
	}
	code := map[store.Severity]int{0: checkOK, store.Warning: checkWarnings, store.Lost: checkLost, store.Damaged: checkDamaged}[worst]
	verdict := map[int]string{
		checkOK:       "healthy",
		checkDamaged:  "DAMAGED: restore events.db from the newest backup (GET /admin/backup) into an empty " + config.EnvEventStorePath,
		checkLost:     "NOT THE LOG IT SHOULD BE: the bridge refuses to start on it; restore events.db from the newest backup (GET /admin/backup)",
		checkWarnings: "usable, with warnings",
	}[code]
	if code == checkOK {
		fmt.Fprintln(out, "result:", verdict)
		return nil
	}
	return &exitError{code, "check: " + verdict}
}

// checkSnapshots prints what Inspect says of each snapshot and returns
// the worst of it.
func checkSnapshots(out io.Writer, dir string, rep *store.Report) store.Severity {
	idAt := func(seq uint64) (string, error) {
		if id := rep.IDs[seq]; id != "" {
			return id, nil
		}
		return "", fmt.Errorf("no event at sequence %d", seq)
	}
	files, warnings, err := snapshot.Inspect(dir, snapshot.Log{Last: rep.Last, Origin: rep.Origin}, idAt)
	fmt.Fprintf(out, "snapshots %s: %d files\n", dir, len(files))
	var worst store.Severity
	usable := false
	for _, f := range files {
		if f.Problem != nil {
			fmt.Fprintf(out, "  warning: %v\n", f.Problem)
			worst = store.Warning
			continue
		}
		if !usable {
			fmt.Fprintf(out, "  ok: %s (sequence %d) is the one start-up restores\n", f.Path, f.Seq)
		}
		usable = true
	}
	for _, w := range warnings {
		fmt.Fprintf(out, "  warning: %v\n", w)
		worst = store.Warning
	}
	if err != nil {
		if errors.Is(err, snapshot.ErrNotThisLog) {
			fmt.Fprintf(out, "  lost: %v\n", err)
			return store.Lost
		}
		fmt.Fprintf(out, "  warning: %v\n", err)
		return store.Warning
	}
	return worst
}
