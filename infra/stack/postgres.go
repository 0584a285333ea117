package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"

	"ticketing.dev/common/embedded"
)

// postgresBinDir finds PostgreSQL's server programs: on PATH, or where
// Debian's postgresql package puts them.
func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.Sort(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("PostgreSQL's server programs are not installed (apt-get install postgresql)")
}

// startPostgres starts a PostgreSQL of the stack's own in dir, creating the
// cluster on first use, and returns the URL FerretDB connects to. PostgreSQL
// refuses to run as root, so as root it runs as the postgres user.
func (s *Stack) startPostgres(ctx context.Context, dir string, persist bool) (string, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return "", err
	}
	var cred *credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("postgresql: running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &credential{uid: uint32(uid), gid: uint32(gid)}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	if cred != nil {
		// The parent folders must be reachable by that user too.
		for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 && d != dir {
				_ = os.Chmod(d, fi.Mode().Perm()|0o011)
			}
		}
		if err := os.Chown(dir, int(cred.uid), int(cred.gid)); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
			"-D", dir, "-U", "ferretdb", "--auth=trust", "--encoding=UTF8", "--no-sync")
		initdb.SysProcAttr = userAttr(cred)
		if out, err := initdb.CombinedOutput(); err != nil {
			return "", fmt.Errorf("postgresql: initdb: %w\n%s", err, out)
		}
	}
	port, err := embedded.FreePort("127.0.0.1")
	if err != nil {
		return "", err
	}
	args := []string{"-D", dir, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"}
	if !persist {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	p, err := startProcAs("postgres", filepath.Join(bin, "postgres"), args, os.Environ(), s.out, cred)
	if err != nil {
		return "", err
	}
	s.watch(p)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitTCP(ctx, p, addr, s.cfg.ReadyTimeout); err != nil {
		return "", err
	}
	return "postgres://ferretdb@" + addr + "/postgres", nil
}
