package main

import (
	"os"
	"testing"
)

// TestMain validates as the command does: with privileged containers
// allowed (see allowPrivileged).
func TestMain(m *testing.M) {
	allowPrivileged()
	os.Exit(m.Run())
}
