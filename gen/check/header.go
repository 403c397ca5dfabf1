package check

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/lighthouse-project/lighthouse/gen/emit"
)

// Header returns the spec and body digests ("sha256:<hex>") recorded in a
// generated file's header, and ok=false when the file has no well-formed
// header (so it was written by hand, or the header itself was edited). The
// format is gen/emit's, which writes it.
func Header(file []byte) (specDigest, bodyDigest string, ok bool) {
	h, _, _, err := emit.ParseHeader(file)
	if err != nil {
		return "", "", false
	}
	return "sha256:" + h.SpecDigest, "sha256:" + h.BodyDigest, true
}

// BodyDigest returns "sha256:<hex>" of the file with its two header lines
// removed and every other byte kept. For a file without a header it digests the
// whole file.
func BodyDigest(file []byte) string {
	body := file
	if _, b, _, err := emit.ParseHeader(file); err == nil {
		body = b
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Freshness is what a generated file's header says about it.
type Freshness int

const (
	// Fresh: the body matches its digest and the spec digest is the current spec's.
	Fresh Freshness = iota
	// NoHeader: no generated header; the file is hand-written (or the header was mangled).
	NoHeader
	// HandEdited: the body no longer matches its own digest.
	HandEdited
	// Stale: the body is as generated, but from a different spec than the current one.
	Stale
)

// String names the state the way audit and build --check print it.
func (f Freshness) String() string {
	switch f {
	case Fresh:
		return "fresh"
	case NoHeader:
		return "no generated header"
	case HandEdited:
		return "hand-edited: this file no longer matches its own digest"
	case Stale:
		return "stale: the spec changed since this was generated"
	}
	return "unknown"
}

// FreshnessOf tells hand-edited apart from stale. Hand-editing wins: a file that
// was edited must be looked at whatever spec it came from. An empty
// currentSpecDigest skips the staleness test (no spec at hand).
func FreshnessOf(file []byte, currentSpecDigest string) Freshness {
	h, _, bodyMatches, err := emit.ParseHeader(file)
	switch {
	case err != nil:
		return NoHeader
	case !bodyMatches:
		return HandEdited
	case currentSpecDigest != "" && "sha256:"+h.SpecDigest != currentSpecDigest:
		return Stale
	}
	return Fresh
}

// SpecDigest is the digest the header records for a spec: SHA-256 of the
// canonical spec JSON, which the compiler produces.
func SpecDigest(canonicalJSON []byte) string {
	s := sha256.Sum256(canonicalJSON)
	return "sha256:" + hex.EncodeToString(s[:])
}
