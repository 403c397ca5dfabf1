// Package spec loads a service spec written in CUE, unifies it with the
// embedded #Service schema, validates it completely and decodes it into a
// typed model that keeps the CUE position of every field, so later checks
// and emitters never touch CUE and every error points at a spec line.
package spec
