package live

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// capNames maps Linux capability numbers to their names without CAP_, from
// x/sys/unix's constants so the numbers are the kernel headers', not ours.
var capNames = map[int]string{
	unix.CAP_CHOWN: "CHOWN", unix.CAP_DAC_OVERRIDE: "DAC_OVERRIDE", unix.CAP_DAC_READ_SEARCH: "DAC_READ_SEARCH",
	unix.CAP_FOWNER: "FOWNER", unix.CAP_FSETID: "FSETID", unix.CAP_KILL: "KILL", unix.CAP_SETGID: "SETGID",
	unix.CAP_SETUID: "SETUID", unix.CAP_SETPCAP: "SETPCAP", unix.CAP_LINUX_IMMUTABLE: "LINUX_IMMUTABLE",
	unix.CAP_NET_BIND_SERVICE: "NET_BIND_SERVICE", unix.CAP_NET_BROADCAST: "NET_BROADCAST",
	unix.CAP_NET_ADMIN: "NET_ADMIN", unix.CAP_NET_RAW: "NET_RAW", unix.CAP_IPC_LOCK: "IPC_LOCK",
	unix.CAP_IPC_OWNER: "IPC_OWNER", unix.CAP_SYS_MODULE: "SYS_MODULE", unix.CAP_SYS_RAWIO: "SYS_RAWIO",
	unix.CAP_SYS_CHROOT: "SYS_CHROOT", unix.CAP_SYS_PTRACE: "SYS_PTRACE", unix.CAP_SYS_PACCT: "SYS_PACCT",
	unix.CAP_SYS_ADMIN: "SYS_ADMIN", unix.CAP_SYS_BOOT: "SYS_BOOT", unix.CAP_SYS_NICE: "SYS_NICE",
	unix.CAP_SYS_RESOURCE: "SYS_RESOURCE", unix.CAP_SYS_TIME: "SYS_TIME", unix.CAP_SYS_TTY_CONFIG: "SYS_TTY_CONFIG",
	unix.CAP_MKNOD: "MKNOD", unix.CAP_LEASE: "LEASE", unix.CAP_AUDIT_WRITE: "AUDIT_WRITE",
	unix.CAP_AUDIT_CONTROL: "AUDIT_CONTROL", unix.CAP_SETFCAP: "SETFCAP", unix.CAP_MAC_OVERRIDE: "MAC_OVERRIDE",
	unix.CAP_MAC_ADMIN: "MAC_ADMIN", unix.CAP_SYSLOG: "SYSLOG", unix.CAP_WAKE_ALARM: "WAKE_ALARM",
	unix.CAP_BLOCK_SUSPEND: "BLOCK_SUSPEND", unix.CAP_AUDIT_READ: "AUDIT_READ", unix.CAP_PERFMON: "PERFMON",
	unix.CAP_BPF: "BPF", unix.CAP_CHECKPOINT_RESTORE: "CHECKPOINT_RESTORE",
}

// DecodeCaps turns a capability mask as /proc/PID/status prints it (CapEff:
// 16 hex digits) into sorted names; an unknown bit is named by its number,
// so a newer kernel's capability is never silently dropped.
func DecodeCaps(hexMask string) ([]string, error) {
	mask, err := strconv.ParseUint(strings.TrimSpace(hexMask), 16, 64)
	if err != nil {
		return nil, fmt.Errorf("capability mask %q: %w", hexMask, err)
	}
	names := []string{}
	for bit := 0; bit < 64; bit++ {
		if mask&(1<<bit) == 0 {
			continue
		}
		if n, ok := capNames[bit]; ok {
			names = append(names, n)
		} else {
			names = append(names, "CAP_"+strconv.Itoa(bit))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Status is what the checks read from /proc/PID/status.
type Status struct {
	// Uid and Gid are the real, effective, saved and filesystem ids.
	Uid, Gid [4]int
	// CapEff, CapPrm, CapBnd are the raw hex masks.
	CapEff, CapPrm, CapBnd string
	NoNewPrivs             bool
}

// ParseStatus reads the fields of /proc/PID/status the checks need; a
// missing Uid, Gid or CapEff line is an error, since the check would
// otherwise pass on nothing.
func ParseStatus(data []byte) (Status, error) {
	var st Status
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Uid", "Gid":
			f := strings.Fields(val)
			if len(f) != 4 {
				return st, fmt.Errorf("status: %s: want 4 ids, got %q", key, val)
			}
			var ids [4]int
			for i, s := range f {
				n, err := strconv.Atoi(s)
				if err != nil {
					return st, fmt.Errorf("status: %s: %w", key, err)
				}
				ids[i] = n
			}
			if key == "Uid" {
				st.Uid = ids
			} else {
				st.Gid = ids
			}
		case "CapEff":
			st.CapEff = val
		case "CapPrm":
			st.CapPrm = val
		case "CapBnd":
			st.CapBnd = val
		case "NoNewPrivs":
			st.NoNewPrivs = val == "1"
		default:
			continue
		}
		seen[key] = true
	}
	for _, k := range []string{"Uid", "Gid", "CapEff"} {
		if !seen[k] {
			return st, fmt.Errorf("status: no %s line", k)
		}
	}
	return st, sc.Err()
}

// ParseNUL splits a NUL-separated /proc file (cmdline, environ).
func ParseNUL(data []byte) []string {
	data = bytes.TrimRight(data, "\x00")
	if len(data) == 0 {
		return nil
	}
	return strings.Split(string(data), "\x00")
}

// ParseEnviron turns /proc/PID/environ into a map.
func ParseEnviron(data []byte) map[string]string {
	env := map[string]string{}
	for _, kv := range ParseNUL(data) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// Socket is one listening socket of /proc/net/tcp or tcp6.
type Socket struct {
	Addr  string // local address as the kernel prints it (hex)
	Port  int
	V6    bool
	Inode string // links the socket to the process holding it
}

// dockerDNS is 127.0.0.11 as /proc/net/tcp prints it: Docker's embedded
// DNS resolver listens there in every container on a user-defined network
// (compose's default), owned by the engine, not by the service.
const dockerDNS = "0B00007F"

// SocketInodes returns the socket inodes among the targets of a process's
// file descriptors, as `ls -l /proc/PID/fd` prints them ("socket:[N]").
func SocketInodes(lsOutput []byte) map[string]bool {
	inodes := map[string]bool{}
	for _, m := range socketLink.FindAllSubmatch(lsOutput, -1) {
		inodes[string(m[1])] = true
	}
	return inodes
}

var socketLink = regexp.MustCompile(`socket:\[([0-9]+)\]`)

// tcpListen is the TCP_LISTEN state in /proc/net/tcp.
const tcpListen = "0A"

// ParseListening returns the listening sockets of a /proc/net/tcp or
// /proc/net/tcp6 file (state 0A).
func ParseListening(data []byte, v6 bool) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first { // header line
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		if f[3] != tcpListen {
			continue
		}
		addr, port, ok := strings.Cut(f[1], ":")
		if !ok {
			return nil, fmt.Errorf("socket table: local address %q", f[1])
		}
		p, err := strconv.ParseUint(port, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("socket table: port %q: %w", port, err)
		}
		out = append(out, Socket{Addr: addr, Port: int(p), V6: v6, Inode: f[9]})
	}
	return out, sc.Err()
}

// Mount is one line of /proc/PID/mountinfo.
type Mount struct {
	Point  string
	FSType string
	Source string
}

// ParseMountinfo reads /proc/PID/mountinfo: the mount point (field 5) and,
// after the " - " separator, the filesystem type and source.
func ParseMountinfo(data []byte) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			return nil, fmt.Errorf("mountinfo: no separator in %q", sc.Text())
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 2 {
			return nil, fmt.Errorf("mountinfo: short line %q", sc.Text())
		}
		out = append(out, Mount{Point: unescapeOctal(f[4]), FSType: g[0], Source: unescapeOctal(g[1])})
	}
	return out, sc.Err()
}

// unescapeOctal undoes the kernel's \040-style escaping of spaces, tabs,
// newlines and backslashes in mount paths.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
