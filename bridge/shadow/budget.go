package shadow

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
)

// The projection keeps every path, version and directory change in
// memory (history/ shows the project as of any event), so what it holds
// grows with the shadow's history, and a path's depth multiplies what a
// file appearing or vanishing costs (each ancestor directory records the
// change). Three bounds keep it finite, each checked before a change is
// stored (CheckRoom), never on replay:
//
//   - the depth of a path (Options.MaxPathDepth): a deeper one is refused;
//   - the index: an estimate of the bytes the projection holds for paths,
//     versions, directories and changes (Options.MaxIndexBytes);
//   - one agent's share (Options.AgentShare percent) of the index and of
//     the distinct content (Options.MaxContentBytes) its changes added,
//     so one agent cannot fill either for everyone.

// Default bounds.
const (
	DefaultMaxPathDepth  = 64
	DefaultMaxIndexBytes = 128 << 20
	DefaultAgentShare    = 50
)

// Estimated bytes of the projection's parts: each struct with its share
// of map and slice overhead (slices grow by doubling, maps carry their
// buckets).
const (
	costFile    = 96 // map entry, *fileHist; plus the path's bytes
	costVersion = 40
	costChange  = 24
	costCount   = 32
	costDir     = 112 // map entry, *dirHist; its path shares its file's bytes
	costName    = 24  // a child name in its directory's sorted list
	costBlob    = 96  // hash, size, index entry
)

// Errors of CheckRoom; a *RoomError says which bound and by how much.
var (
	ErrTooDeep   = errors.New("shadow path is too deep")
	ErrIndexFull = errors.New("the shadow index is full")
	ErrShareFull = errors.New("the agent's share of the shadow is used up")
)

// RoomError is a change CheckRoom refuses.
type RoomError struct {
	Err    error  // ErrTooDeep, ErrIndexFull or ErrShareFull
	What   string // "depth", "index", "agent index" or "agent content"
	Agent  string
	Used   int64
	Adding int64
	Limit  int64
}

func (e *RoomError) Error() string {
	if e.Err == ErrTooDeep {
		return fmt.Sprintf("%v: %d directories deep, at most %d", e.Err, e.Adding, e.Limit)
	}
	who := "the bridge"
	if e.Agent != "" {
		who = fmt.Sprintf("agent %q", e.Agent)
	}
	return fmt.Sprintf("%v: %s holds %d bytes of %s, this change adds %d, the limit is %d", e.Err, who, e.Used, e.What, e.Adding, e.Limit)
}

func (e *RoomError) Unwrap() error { return e.Err }

// usage is what one agent's changes added.
type usage struct {
	index   int64 // estimated index bytes
	content int64 // bytes of distinct contents it stored first
}

// depth is the number of directories above fp, plus one.
func depth(fp string) int { return strings.Count(fp, "/") + 1 }

// costLocked is the index bytes a change of fp adds: a new version, and
// for a new path its entry and directories, and for a file that appears
// or vanishes one count in each ancestor (exactly what put and link add).
func (p *Projection) costLocked(fp string, deleted, newBlob bool) int64 {
	n := int64(costVersion + costChange)
	if newBlob {
		n += costBlob
	}
	fh := p.files[fp]
	if fh == nil {
		n += costFile + int64(len(fp))
		for child := fp; child != ""; child = parent(child) {
			dh := p.dirs[parent(child)]
			if dh == nil {
				n += costDir + costName
				continue
			}
			if _, found := slices.BinarySearch(dh.names, path.Base(child)); !found {
				n += costName
			}
			break // an existing directory's ancestors exist and list it
		}
	}
	wasAlive := fh != nil && !fh.versions[len(fh.versions)-1].deleted
	if deleted == wasAlive {
		n += costCount * int64(depth(fp))
	}
	return n
}

// indexBytesLocked is the index estimate of the whole projection, as
// costLocked adds it up change by change (after a restore).
func (p *Projection) indexBytesLocked() int64 {
	n := int64(len(p.blobSize))*costBlob + int64(len(p.changes))*costChange
	for fp, fh := range p.files {
		n += costFile + int64(len(fp)) + int64(len(fh.versions))*costVersion
	}
	for _, dh := range p.dirs {
		n += costDir + int64(len(dh.names))*costName + int64(len(dh.counts))*costCount
	}
	return n
}

// charge records a change's cost against its agent.
func (p *Projection) charge(agent string, index, content int64) {
	p.index += index
	if agent == "" {
		return
	}
	u := p.agents[agent]
	if u == nil {
		u = &usage{}
		p.agents[agent] = u
	}
	u.index += index
	u.content += content
}

// CheckRoom reports whether agent may store a change of the cleaned path
// fp (a deletion, or a version of size bytes with SHA-256 sum) within
// the bounds: nil, or a *RoomError.
func (p *Projection) CheckRoom(agent, fp string, deleted bool, sum [32]byte, size int64) error {
	if d := depth(fp); d > p.maxDepth {
		return &RoomError{Err: ErrTooDeep, What: "depth", Adding: int64(d), Limit: int64(p.maxDepth)}
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	newBlob := false
	if !deleted {
		_, known := p.blobIdx[sum]
		newBlob = !known
	}
	cost := p.costLocked(fp, deleted, newBlob)
	if p.index+cost > p.maxIndex {
		return &RoomError{Err: ErrIndexFull, What: "index", Used: p.index, Adding: cost, Limit: p.maxIndex}
	}
	u := p.agents[agent]
	if u == nil {
		u = &usage{}
	}
	if lim := p.maxIndex * int64(p.share) / 100; u.index+cost > lim {
		return &RoomError{Err: ErrShareFull, What: "agent index", Agent: agent, Used: u.index, Adding: cost, Limit: lim}
	}
	if newBlob && size > 0 && p.maxContent > 0 {
		if lim := p.maxContent * int64(p.share) / 100; u.content+size > lim {
			return &RoomError{Err: ErrShareFull, What: "agent content", Agent: agent, Used: u.content, Adding: size, Limit: lim}
		}
	}
	return nil
}

// Usage is the index estimate in all and what one agent's changes
// added to it and to the distinct content.
func (p *Projection) Usage(agent string) (index, agentIndex, agentContent int64) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if u := p.agents[agent]; u != nil {
		agentIndex, agentContent = u.index, u.content
	}
	return p.index, agentIndex, agentContent
}

// sortedAgents lists the agents with usage, for the snapshot.
func sortedAgents(m map[string]*usage) []string {
	out := make([]string, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
