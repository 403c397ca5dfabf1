package live

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeCaps(t *testing.T) {
	for _, tc := range []struct {
		mask string
		want []string
	}{
		{"0000000000000000", []string{}},
		{"0000000000200000", []string{"SYS_ADMIN"}},
		// Docker's default set, as CapEff shows it for root without cap_drop.
		{"00000000a80425fb", []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "NET_RAW", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}},
		{"000001ffffffffff", nil}, // every capability up to 40: checked by count below
		{"8000000000200000", []string{"CAP_63", "SYS_ADMIN"}},
	} {
		got, err := DecodeCaps(tc.mask)
		if err != nil {
			t.Fatalf("DecodeCaps(%s): %v", tc.mask, err)
		}
		if tc.want == nil {
			if len(got) != 41 || strings.HasPrefix(got[0], "CAP_") {
				t.Errorf("DecodeCaps(%s) = %d names %v, want the 41 known ones", tc.mask, len(got), got)
			}
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("DecodeCaps(%s) (-want +got):\n%s", tc.mask, diff)
		}
	}
	if _, err := DecodeCaps("zz"); err == nil {
		t.Error("DecodeCaps(zz): no error")
	}
}

const statusSample = `Name:	lighthouse-brid
Umask:	0022
State:	S (sleeping)
Tgid:	1
Pid:	1
Uid:	0	0	0	0
Gid:	0	0	0	0
CapInh:	0000000000000000
CapPrm:	0000000000200000
CapEff:	0000000000200000
CapBnd:	0000000000200000
CapAmb:	0000000000000000
NoNewPrivs:	1
Seccomp:	2
`

func TestParseStatus(t *testing.T) {
	st, err := ParseStatus([]byte(statusSample))
	if err != nil {
		t.Fatal(err)
	}
	want := Status{Uid: [4]int{0, 0, 0, 0}, Gid: [4]int{0, 0, 0, 0}, CapEff: "0000000000200000", CapPrm: "0000000000200000", CapBnd: "0000000000200000", NoNewPrivs: true}
	if st != want {
		t.Errorf("ParseStatus = %+v, want %+v", st, want)
	}
	st, err = ParseStatus([]byte(strings.Replace(statusSample, "Uid:\t0\t0\t0\t0", "Uid:\t1000\t0\t1000\t0", 1)))
	if err != nil || st.Uid != [4]int{1000, 0, 1000, 0} {
		t.Errorf("mixed uids: %v, %v", st.Uid, err)
	}
	for _, drop := range []string{"Uid:", "Gid:", "CapEff:"} {
		var kept []string
		for _, l := range strings.Split(statusSample, "\n") {
			if !strings.HasPrefix(l, drop) {
				kept = append(kept, l)
			}
		}
		if _, err := ParseStatus([]byte(strings.Join(kept, "\n"))); err == nil {
			t.Errorf("status without %s: no error", drop)
		}
	}
	if _, err := ParseStatus([]byte("Uid:\t0 0\nGid:\t0 0 0 0\nCapEff:\t0\n")); err == nil {
		t.Error("short Uid line: no error")
	}
}

const tcpSample = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0B00007F:A2D1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1901 1 0000000000000000 100 0 0 10 0
   1: 0100007F:223D 0100007F:B1C2 01 00000000:00000000 00:00000000 00000000     0        0 2007 1 0000000000000000 20 4 30 10 -1
`

const tcp6Sample = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:223D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1944 1 0000000000000000 100 0 0 10 0
`

func TestParseListening(t *testing.T) {
	v4, err := ParseListening([]byte(tcpSample), false)
	if err != nil {
		t.Fatal(err)
	}
	v6, err := ParseListening([]byte(tcp6Sample), true)
	if err != nil {
		t.Fatal(err)
	}
	want := []Socket{{Addr: dockerDNS, Port: 0xA2D1, Inode: "1901"}, {Addr: strings.Repeat("0", 32), Port: 8765, V6: true, Inode: "1944"}}
	if diff := cmp.Diff(want, append(v4, v6...)); diff != "" {
		t.Errorf("listening sockets (-want +got):\n%s", diff)
	}
	bad := strings.Replace(tcpSample, "0B00007F:A2D1", "0B00007F:XYZ1", 1)
	if _, err := ParseListening([]byte(bad), false); err == nil {
		t.Error("bad port: no error")
	}
}

func TestSocketInodes(t *testing.T) {
	ls := `lrwx------    1 root     root            64 Nov 26 18:10 0 -> /dev/null
l-wx------    1 root     root            64 Nov 26 18:10 2 -> pipe:[1877]
lrwx------    1 root     root            64 Nov 26 18:10 3 -> socket:[1944]
lrwx------    1 root     root            64 Nov 26 18:10 7 -> socket:[2007]
lrwx------    1 root     root            64 Nov 26 18:10 8 -> /dev/fuse
`
	want := map[string]bool{"1944": true, "2007": true}
	if diff := cmp.Diff(want, SocketInodes([]byte(ls))); diff != "" {
		t.Errorf("SocketInodes (-want +got):\n%s", diff)
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `612 590 0:52 / / ro,relatime master:288 - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=0,group_id=0
640 612 0:57 / /var/lib/lighthouse/events rw,relatime master:1 - ext4 /dev/sda1 rw
700 612 0:61 / /mnt/lighthouse/project ro,nosuid,nodev,relatime - fuse lighthouse ro,user_id=0,group_id=0
701 612 0:62 / /mnt/with\040space rw - tmpfs tmpfs rw
`
	got, err := ParseMountinfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{
		{Point: "/", FSType: "fuse.fuse-overlayfs", Source: "fuse-overlayfs"},
		{Point: "/var/lib/lighthouse/events", FSType: "ext4", Source: "/dev/sda1"},
		{Point: "/mnt/lighthouse/project", FSType: "fuse", Source: "lighthouse"},
		{Point: "/mnt/with space", FSType: "tmpfs", Source: "tmpfs"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseMountinfo (-want +got):\n%s", diff)
	}
	if _, err := ParseMountinfo([]byte("1 2 3 4 /x\n")); err == nil {
		t.Error("line without separator: no error")
	}
}

func TestParseEnviron(t *testing.T) {
	got := ParseEnviron([]byte("PATH=/bin\x00EMPTY=\x00EQ=a=b\x00junk\x00"))
	want := map[string]string{"PATH": "/bin", "EMPTY": "", "EQ": "a=b"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseEnviron (-want +got):\n%s", diff)
	}
	if got := ParseNUL([]byte("/usr/local/bin/lighthouse-bridge\x00serve\x00")); !cmp.Equal(got, []string{"/usr/local/bin/lighthouse-bridge", "serve"}) {
		t.Errorf("ParseNUL = %q", got)
	}
	if got := ParseNUL(nil); got != nil {
		t.Errorf("ParseNUL(nil) = %q", got)
	}
}

func TestTopProcesses(t *testing.T) {
	one := "PID                 COMMAND\n4242                /usr/local/bin/lighthouse-bridge serve\n"
	if got := topProcesses(one); !cmp.Equal(got, []string{"4242 /usr/local/bin/lighthouse-bridge serve"}) {
		t.Errorf("topProcesses = %q", got)
	}
	two := "PID   COMMAND\n1 /bin/sh /usr/local/bin/lighthouse-bridge-start\n2 /usr/local/bin/lighthouse-bridge serve\n"
	if got := topProcesses(two); len(got) != 2 {
		t.Errorf("topProcesses = %q, want 2", got)
	}
}

func TestBaseRootfs(t *testing.T) {
	bb := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(bb, []byte("not really busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := BaseRootfs(&buf, bb, []string{"sh", "id", "busybox", "../evil", ""}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			got[h.Name] = "-> " + h.Linkname
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			got[h.Name] = string(b)
		case tar.TypeDir:
			got[h.Name] = "dir"
		}
		if !h.ModTime.Equal(baseEpoch) {
			t.Errorf("%s: mtime %v, want the fixed epoch", h.Name, h.ModTime)
		}
	}
	for name, want := range map[string]string{
		"bin/busybox": "not really busybox", "bin/sh": "-> busybox", "bin/id": "-> busybox", "tmp/": "dir",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q", name, got[name], want)
		}
	}
	if !strings.Contains(got["etc/passwd"], "root:x:0:0:") || !strings.Contains(got["etc/group"], "root:x:0:") {
		t.Errorf("passwd/group: %q %q", got["etc/passwd"], got["etc/group"])
	}
	for name := range got {
		if strings.Contains(name, "..") {
			t.Errorf("unsafe entry %q", name)
		}
	}
}

func TestCheckStatic(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "x")
	if err := os.WriteFile(bad, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(bad); err == nil {
		t.Error("checkStatic on a script: no error")
	}
	if err := checkStatic("/bin/sh"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("checkStatic(/bin/sh) = %v, want dynamically linked", err)
	}
	if _, err := os.Stat("/usr/bin/busybox"); err == nil { // Debian's busybox-static
		if err := checkStatic("/usr/bin/busybox"); err != nil {
			t.Errorf("checkStatic(busybox-static) = %v", err)
		}
	}
}

func TestReportErr(t *testing.T) {
	r := &Report{OK: true}
	if r.Err() != nil {
		t.Error("passing report has an error")
	}
	r = &Report{Steps: []Step{{Name: StepUp, Status: "ok"}, {Name: StepHealthy, Status: "failed", Error: "not healthy"}, {Name: StepProcess, Status: "failed", Error: "x"}}}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "step healthy: not healthy") {
		t.Errorf("Err = %v, want the first failed step", err)
	}
}
