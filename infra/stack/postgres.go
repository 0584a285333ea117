package stack

import (
	"cmp"
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
	"strings"

	"github.com/jackc/pgx/v5"

	"ticketing.dev/common/embedded"
)

// postgresBinDir finds PostgreSQL's server programs: on PATH, or where
// Debian's postgresql package or Homebrew's (keg-only) postgresql@N
// formula puts them, the newest version first.
func postgresBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	var dirs []string
	for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/opt/homebrew/opt/postgresql@*/bin", "/usr/local/opt/postgresql@*/bin"} {
		found, _ := filepath.Glob(pattern)
		dirs = append(dirs, found...)
	}
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(pgVersion(a), pgVersion(b)) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("PostgreSQL's server programs are not installed (apt-get install postgresql, or brew install postgresql@17)")
}

// pgVersion is the major version in a folder of PostgreSQL's programs, such
// as 15 in /usr/lib/postgresql/15/bin or 17 in .../postgresql@17/bin; 0 if
// it names none.
func pgVersion(binDir string) int {
	name := filepath.Base(filepath.Dir(binDir))
	if _, v, ok := strings.Cut(name, "@"); ok {
		name = v
	}
	n, _ := strconv.Atoi(name)
	return n
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
	url := "postgres://ferretdb@" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) + "/postgres"
	// Not only accepting connections: PostgreSQL accepts them while it
	// still starts up or recovers, and refuses the session (57P03, "the
	// database system is starting up") FerretDB would then fail its first
	// command on.
	err = waitFor(ctx, p, "answering at "+url, s.cfg.ReadyTimeout, func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		return conn.Ping(ctx)
	})
	return url, err
}
