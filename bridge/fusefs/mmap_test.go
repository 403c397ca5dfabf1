package fusefs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lighthouse-project/lighthouse/bridge/shadow"
)

// mmapEnv makes the test binary map the file it names (shared, then
// private) and print what it sees. The mapping must be read by another
// process: a page fault on the view in the process that serves it can
// deadlock the Go runtime (the collector waits for the faulting thread,
// which waits for the server).
const mmapEnv = "LIGHTHOUSE_FUSEFS_TEST_MMAP"

func mmapChild(path string) int {
	for _, flag := range []int{syscall.MAP_SHARED, syscall.MAP_PRIVATE} {
		f, err := os.Open(path)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fi, _ := f.Stat()
		b, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ, flag)
		if err != nil {
			fmt.Printf("mmap flag %#x: %v\n", flag, err)
			return 1
		}
		fmt.Printf("%s", b)
		syscall.Munmap(b)
		f.Close()
	}
	return 0
}

// Files of current/ (read around the page cache) and of history/ can be
// mapped shared and private, as some tools (Python's mmap, git, ripgrep)
// do, and the mapping shows the content.
func TestMmap(t *testing.T) {
	p, w := newProject(t, shadow.Options{})
	w.put("a.txt", "mapped content\n")
	m := mountT(t, p)
	for _, rel := range []string{"current/a.txt", "history/1/a.txt"} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), mmapEnv+"="+filepath.Join(m.Dir(), rel))
		out, err := cmd.CombinedOutput()
		for _, kv := range cmd.Env {
			if strings.ContainsRune(kv, 0) {
				t.Logf("NUL in %q", kv)
			}
		}
		if err != nil || string(out) != "mapped content\nmapped content\n" {
			t.Errorf("mmap %s: %q, %v", rel, out, err)
		}
	}
}
