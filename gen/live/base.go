package live

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// baseEpoch is the modification time of every file in the base image, so
// two runs import the same bytes.
var baseEpoch = time.Unix(0, 0).UTC()

// BaseRootfs writes, as a tar stream, the smallest runtime base the
// generated Dockerfile needs when nothing can be pulled: a static busybox
// with a symlink per applet in /bin (the Dockerfile's RUN uses /bin/sh,
// chmod, mkdir, chown; the start script uses id), an /etc/passwd and
// /etc/group naming root and nobody, and the usual empty directories.
func BaseRootfs(w io.Writer, busybox string, applets []string) error {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, ModTime: baseEpoch})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: baseEpoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []struct {
		name string
		mode int64
	}{{"bin", 0o755}, {"etc", 0o755}, {"root", 0o700}, {"tmp", 0o1777}, {"var", 0o755}, {"usr", 0o755}, {"usr/local", 0o755}, {"usr/local/bin", 0o755}, {"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"mnt", 0o755}} {
		if err := dir(d.name, d.mode); err != nil {
			return err
		}
	}
	if err := file("bin/busybox", 0o755, bin); err != nil {
		return err
	}
	for _, a := range applets {
		if a == "" || a == "busybox" || strings.ContainsAny(a, "/ ") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777, ModTime: baseEpoch}); err != nil {
			return err
		}
	}
	if err := file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")); err != nil {
		return err
	}
	if err := file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")); err != nil {
		return err
	}
	return tw.Close()
}

// busyboxApplets lists the applets a busybox binary provides.
func busyboxApplets(ctx context.Context, busybox string) ([]string, error) {
	out, err := exec.CommandContext(ctx, busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busybox, err)
	}
	return strings.Fields(string(out)), nil
}

// findBusybox returns the busybox to put in the base image: the given path
// or the one on PATH, which must be statically linked (the image has no
// libc).
func findBusybox(path string) (string, error) {
	if path == "" {
		p, err := exec.LookPath("busybox")
		if err != nil {
			return "", fmt.Errorf("busybox not found on PATH: install Debian's busybox-static (apt-get install busybox-static)")
		}
		path = p
	}
	path, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", err
	}
	if err := checkStatic(path); err != nil {
		return "", fmt.Errorf("%w (install busybox-static, not busybox)", err)
	}
	return path, nil
}

// checkStatic fails when the ELF file at path needs a dynamic loader: such
// a binary cannot run in an image without libc.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked", path)
		}
	}
	return nil
}

// importBase imports the base rootfs as image ref.
func (d *docker) importBase(ctx context.Context, ref, busybox string) error {
	applets, err := busyboxApplets(ctx, busybox)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := BaseRootfs(&buf, busybox, applets); err != nil {
		return err
	}
	_, err = d.run(ctx, &buf, "docker", "import", "--message", "lighthouse-gen verify --live base", "-", ref)
	return err
}
