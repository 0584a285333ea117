package k8s_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// This file replays a Dockerfile without Docker, for the few instructions
// the service Dockerfiles use: each stage gets a folder standing for its
// root file system, COPY copies from the build context (honouring
// .dockerignore) or from another stage, and RUN runs `go` commands only, with
// the stage's environment, in the stage's working directory. Anything else
// is refused, so that a Dockerfile cannot drift into something the replay
// would get wrong.

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

func parseDockerfile(r io.Reader) ([]instruction, error) {
	var out []instruction
	var cur *instruction
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue // comments may also sit between continuation lines
		}
		cont := strings.HasSuffix(line, `\`)
		line = strings.TrimSuffix(line, `\`)
		if cur == nil {
			cmd, args, _ := strings.Cut(line, " ")
			cur = &instruction{line: n, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + strings.TrimSpace(line)
		}
		if !cont {
			out = append(out, *cur)
			cur = nil
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("line %d: continuation at the end of the file", cur.line)
	}
	return out, sc.Err()
}

// shellWords splits a command line as sh would for plain words and quotes,
// and refuses everything that would need a real shell.
func shellWords(s string) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ' in %q", s)
			}
			word.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '$' || s[i] == '`' {
					return nil, fmt.Errorf("expansion in %q: not replayed", s)
				}
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				word.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \" in %q", s)
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			word.WriteByte(s[i])
			inWord = true
		case strings.IndexByte(";&|<>()$`*?[]{}~#", ch) >= 0:
			return nil, fmt.Errorf("%q needs a shell: not replayed", s)
		default:
			word.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// execOrShellWords reads the arguments of RUN, COPY or ENTRYPOINT in either
// exec (JSON) or shell form.
func execOrShellWords(args string) (words []string, execForm bool, err error) {
	if strings.HasPrefix(args, "[") {
		err := json.Unmarshal([]byte(args), &words)
		return words, true, err
	}
	words, err = shellWords(args)
	return words, false, err
}

// stage is one FROM of a Dockerfile being replayed.
type stage struct {
	name       string
	from       string
	root       string // folder standing for the stage's /
	workdir    string
	env        map[string]string
	user       string
	expose     []string
	entrypoint []string
	execForm   bool
	copies     []copied // from the build context
	goBuilds   []goBuild
}

// copied is a COPY from the build context: src (context-relative) into dest
// (absolute in the image).
type copied struct {
	src, dest string
}

// goBuild is a replayed `go build`.
type goBuild struct {
	env     []string // the variables the Dockerfile set
	dir     string   // working directory in the image
	args    []string // after "go"
	output  string   // -o, in the image
	context string   // the working directory's source in the build context
}

// hostPath maps an absolute image path into the stage's folder.
func (s *stage) hostPath(p string) string {
	return filepath.Join(s.root, filepath.FromSlash(path.Clean("/"+p)))
}

func (s *stage) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(s.workdir, p)
}

// replayed is a Dockerfile replayed.
type replayed struct {
	stages []*stage
}

func (r *replayed) final() *stage { return r.stages[len(r.stages)-1] }

func (r *replayed) stageNamed(name string) *stage {
	for _, s := range r.stages {
		if s.name == name {
			return s
		}
	}
	return nil
}

// build returns the stage's one `go build`.
func (s *stage) build() (goBuild, error) {
	var builds []goBuild
	for _, b := range s.goBuilds {
		if len(b.args) > 0 && b.args[0] == "build" {
			builds = append(builds, b)
		}
	}
	if len(builds) != 1 {
		return goBuild{}, fmt.Errorf("stage %s runs %d go builds, want 1", s.name, len(builds))
	}
	return builds[0], nil
}

// contextIgnore reads the build context's .dockerignore.
func contextIgnore(contextDir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(contextDir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return patternmatcher.New(nil)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return patternmatcher.New(patterns)
}

// replayDockerfile replays dockerfile with contextDir as the build context,
// building stages in folders under workDir. goBin runs RUN's go commands
// with baseEnv plus the Dockerfile's variables.
func replayDockerfile(contextDir, dockerfile, workDir, goBin string, baseEnv []string) (*replayed, error) {
	f, err := os.Open(dockerfile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	instructions, err := parseDockerfile(f)
	if err != nil {
		return nil, err
	}
	ignore, err := contextIgnore(contextDir)
	if err != nil {
		return nil, err
	}
	r := new(replayed)
	var cur *stage
	for _, in := range instructions {
		if in.cmd != "FROM" && cur == nil {
			return nil, fmt.Errorf("line %d: %s before FROM", in.line, in.cmd)
		}
		if err := r.apply(&cur, in, contextDir, workDir, goBin, baseEnv, ignore); err != nil {
			return nil, fmt.Errorf("%s line %d (%s): %w", dockerfile, in.line, in.cmd, err)
		}
	}
	if len(r.stages) == 0 {
		return nil, errors.New("no FROM")
	}
	return r, nil
}

func (r *replayed) apply(cur **stage, in instruction, contextDir, workDir, goBin string, baseEnv []string, ignore *patternmatcher.PatternMatcher) error {
	s := *cur
	switch in.cmd {
	case "FROM":
		words := strings.Fields(in.args)
		ns := &stage{workdir: "/", env: map[string]string{}}
		switch {
		case len(words) == 1:
		case len(words) == 3 && strings.EqualFold(words[1], "AS"):
			ns.name = words[2]
		default:
			return fmt.Errorf("FROM %q", in.args)
		}
		ns.from = words[0]
		if ns.name == "" {
			ns.name = fmt.Sprint(len(r.stages))
		}
		ns.root = filepath.Join(workDir, fmt.Sprintf("stage%d", len(r.stages)))
		if err := os.MkdirAll(ns.root, 0o755); err != nil {
			return err
		}
		r.stages = append(r.stages, ns)
		*cur = ns
	case "ENV":
		words, err := shellWords(in.args)
		if err != nil {
			return err
		}
		for _, w := range words {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				return fmt.Errorf("ENV %q: use the KEY=value form", in.args)
			}
			s.env[k] = v
		}
	case "WORKDIR":
		s.workdir = s.abs(in.args)
		return os.MkdirAll(s.hostPath(s.workdir), 0o755)
	case "COPY":
		return r.copy(s, in.args, contextDir, ignore)
	case "RUN":
		return r.run(s, in.args, goBin, baseEnv)
	case "USER":
		s.user = in.args
	case "EXPOSE":
		s.expose = append(s.expose, strings.Fields(in.args)...)
	case "ENTRYPOINT":
		words, execForm, err := execOrShellWords(in.args)
		if err != nil {
			return err
		}
		s.entrypoint, s.execForm = words, execForm
	default:
		return fmt.Errorf("%s is not replayed; extend dockerfile_test.go if it is needed", in.cmd)
	}
	return nil
}

func (r *replayed) copy(s *stage, args, contextDir string, ignore *patternmatcher.PatternMatcher) error {
	words, _, err := execOrShellWords(args)
	if err != nil {
		return err
	}
	var from *stage
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		flag, value, _ := strings.Cut(words[0], "=")
		switch flag {
		case "--from":
			if from = r.stageNamed(value); from == nil {
				return fmt.Errorf("no stage %q", value)
			}
		case "--chown", "--chmod", "--link":
			// Ownership and layering do not change what is built.
		default:
			return fmt.Errorf("COPY %s is not replayed", flag)
		}
		words = words[1:]
	}
	if len(words) < 2 {
		return fmt.Errorf("COPY %q: sources and a destination", args)
	}
	srcs, dest := words[:len(words)-1], words[len(words)-1]
	destDir := strings.HasSuffix(dest, "/") || len(srcs) > 1
	dest = s.abs(dest)
	for _, src := range srcs {
		if strings.ContainsAny(src, "*?[") {
			return fmt.Errorf("COPY %s: wildcards are not replayed", src)
		}
		var hostSrc, rel string
		if from != nil {
			hostSrc = from.hostPath(src)
		} else {
			rel = path.Clean(src)
			if rel == ".." || strings.HasPrefix(rel, "../") || path.IsAbs(rel) {
				return fmt.Errorf("COPY %s: outside the build context", src)
			}
			hostSrc = filepath.Join(contextDir, filepath.FromSlash(rel))
		}
		info, err := os.Stat(hostSrc)
		if err != nil {
			return err
		}
		if from == nil {
			if skip, err := ignore.MatchesOrParentMatches(rel); err != nil || skip {
				return fmt.Errorf("COPY %s: excluded from the build context by .dockerignore (%v)", src, err)
			}
			if info.IsDir() {
				s.copies = append(s.copies, copied{src: rel, dest: dest})
			}
		}
		switch {
		case info.IsDir():
			// A directory's contents are copied, not the directory.
			if err := copyTree(hostSrc, s.hostPath(dest), rel, from == nil, ignore); err != nil {
				return err
			}
		case destDir:
			if err := copyFile(hostSrc, filepath.Join(s.hostPath(dest), filepath.Base(hostSrc))); err != nil {
				return err
			}
		default:
			if err := copyFile(hostSrc, s.hostPath(dest)); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyTree copies the files under src into dest; fromContext files whose
// context-relative path .dockerignore excludes are left out.
func copyTree(src, dest, rel string, fromContext bool, ignore *patternmatcher.PatternMatcher) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		sub, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if fromContext {
			skip, err := ignore.MatchesOrParentMatches(path.Join(rel, filepath.ToSlash(sub)))
			if err != nil {
				return err
			}
			if skip {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		target := filepath.Join(dest, sub)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: only regular files are replayed", p)
		}
		return copyFile(p, target)
	})
}

func copyFile(src, dest string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// goValueFlags are the go build flags that take a value.
var goValueFlags = []string{"-o", "-ldflags", "-gcflags", "-asmflags", "-tags", "-mod", "-modfile",
	"-p", "-pgo", "-buildmode", "-compiler", "-installsuffix", "-overlay", "-pkgdir", "-toolexec"}

func (r *replayed) run(s *stage, args, goBin string, baseEnv []string) error {
	words, _, err := execOrShellWords(args)
	if err != nil {
		return err
	}
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		// A cache mount only keeps Go's caches between builds.
		if !strings.HasPrefix(words[0], "--mount=") || !slices.Contains(strings.Split(strings.TrimPrefix(words[0], "--mount="), ","), "type=cache") {
			return fmt.Errorf("RUN %s is not replayed", words[0])
		}
		words = words[1:]
	}
	var assigned []string
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		assigned = append(assigned, words[0])
		words = words[1:]
	}
	if len(words) == 0 || words[0] != "go" {
		return fmt.Errorf("RUN %q: only go commands are replayed", args)
	}
	b := goBuild{dir: s.workdir, args: slices.Clone(words[1:])}
	for k, v := range s.env {
		b.env = append(b.env, k+"="+v)
	}
	slices.Sort(b.env)
	b.env = append(b.env, assigned...)
	b.context = s.contextOf(s.workdir)

	hostArgs := slices.Clone(b.args)
	for i := 0; i < len(hostArgs); i++ {
		a := hostArgs[i]
		var out string
		switch {
		case a == "-o" && i+1 < len(hostArgs):
			out = hostArgs[i+1]
			hostArgs[i+1] = s.hostPath(s.abs(out))
			i++
		case strings.HasPrefix(a, "-o="):
			out = strings.TrimPrefix(a, "-o=")
			hostArgs[i] = "-o=" + s.hostPath(s.abs(out))
		default:
			continue
		}
		b.output = s.abs(out)
	}
	cmd := exec.Command(goBin, hostArgs...)
	cmd.Dir = s.hostPath(s.workdir)
	cmd.Env = append(slices.Clone(baseEnv), b.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go %s in %s: %w\n%s", strings.Join(b.args, " "), b.dir, err, out)
	}
	s.goBuilds = append(s.goBuilds, b)
	return nil
}

// contextOf returns the build-context folder an image directory was copied
// from, or "" when it was not.
func (s *stage) contextOf(dir string) string {
	best := -1
	for i, c := range s.copies {
		if (dir == c.dest || strings.HasPrefix(dir, c.dest+"/")) && (best < 0 || len(c.dest) > len(s.copies[best].dest)) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	c := s.copies[best]
	return path.Join(c.src, strings.TrimPrefix(strings.TrimPrefix(dir, c.dest), "/"))
}

// packages returns the package arguments of a go build.
func (b goBuild) packages() []string {
	var pkgs []string
	for i := 1; i < len(b.args); i++ {
		a := b.args[i]
		if !strings.HasPrefix(a, "-") {
			pkgs = append(pkgs, a)
			continue
		}
		if slices.Contains(goValueFlags, a) {
			i++ // its value follows
		}
	}
	return pkgs
}

// builtImages replays each artifact's Dockerfile once per test binary.
var builtImages struct {
	sync.Mutex
	dir  string
	byDf map[string]*imageBuild
}

type imageBuild struct {
	once sync.Once
	img  *replayed
	err  error
}
