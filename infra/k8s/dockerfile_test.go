package k8s_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file replays a Dockerfile without Docker, for the few instructions
// the services' Dockerfile uses: each stage gets a folder standing for its
// root file system, COPY copies from the build context (honouring
// .dockerignore) or from another stage, and RUN runs `go` commands only, with
// the stage's environment, in the stage's working directory. ARG takes its
// value from the build arguments, or its default, in the stage that declares
// it (or, before the first FROM, for the FROMs), and $NAME and ${NAME} are
// substituted where Docker substitutes them. Anything else is refused, so
// that a Dockerfile cannot drift into something the replay would get wrong.

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

// scope is what $NAME stands for in an instruction: the stage's ENV
// variables, then its ARGs; before the first FROM, the ARGs declared there.
// It is also the environment of RUN's command, whose shell expands the
// same references.
type scope struct {
	env  map[string]string
	args map[string]*string // declared ARGs; nil when without a value
}

func (sc *scope) lookup(name string) (string, bool) {
	if v, ok := sc.env[name]; ok {
		return v, true
	}
	if v := sc.args[name]; v != nil {
		return *v, true
	}
	return "", false
}

// unset is the error for a reference to a variable without a value. Docker
// and sh would substitute the empty string; the replay refuses to.
func (sc *scope) unset(name string) error {
	if v, declared := sc.args[name]; declared && v == nil {
		return fmt.Errorf("$%s: ARG %s has no default and no build argument sets it", name, name)
	}
	return fmt.Errorf("$%s: not set (an ARG is declared in each stage that uses it)", name)
}

// vars lists the variables that have a value, ENV over ARG, as KEY=value.
func (sc *scope) vars() []string {
	m := map[string]string{}
	for k, v := range sc.args {
		if v != nil {
			m[k] = *v
		}
	}
	maps.Copy(m, sc.env)
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// nameLen is the length of the variable name s starts with.
func nameLen(s string) int {
	n := 0
	for n < len(s) && (s[n] == '_' || 'a' <= s[n] && s[n] <= 'z' || 'A' <= s[n] && s[n] <= 'Z' || n > 0 && '0' <= s[n] && s[n] <= '9') {
		n++
	}
	return n
}

// reference substitutes the variable reference at s[i] == '$': $NAME,
// ${NAME}, or ${NAME?message} and ${NAME:?message}, which fail when NAME
// is unset (or, with the colon, empty). It returns the value and the index
// of the reference's last byte. The other forms of ${...} are refused.
func (sc *scope) reference(s string, i int) (string, int, error) {
	rest := s[i+1:]
	var name, op, message string
	var end int
	if strings.HasPrefix(rest, "{") {
		closing := strings.IndexByte(rest, '}')
		if closing < 0 {
			return "", 0, fmt.Errorf("unterminated ${ in %q", s)
		}
		inner := rest[1:closing]
		name = inner[:nameLen(inner)]
		switch tail := inner[len(name):]; {
		case tail == "":
		case strings.HasPrefix(tail, ":?"):
			op, message = ":?", tail[2:]
		case strings.HasPrefix(tail, "?"):
			op, message = "?", tail[1:]
		default:
			return "", 0, fmt.Errorf("${%s} in %q: only ${NAME}, ${NAME?message} and ${NAME:?message} are replayed", inner, s)
		}
		if strings.ContainsAny(message, "${") {
			return "", 0, fmt.Errorf("${%s} in %q: a message with references is not replayed", inner, s)
		}
		end = i + 1 + closing
	} else {
		name = rest[:nameLen(rest)]
		end = i + len(name)
	}
	if name == "" {
		return "", 0, fmt.Errorf("$ in %q: only variable names are replayed", s)
	}
	v, ok := sc.lookup(name)
	if op != "" && (!ok || op == ":?" && v == "") {
		switch {
		case message != "":
		case !ok:
			message = "is not allowed to be unset"
		default:
			message = "is not allowed to be empty"
		}
		return "", 0, fmt.Errorf("%s: %s", name, message)
	}
	if !ok {
		return "", 0, sc.unset(name)
	}
	return v, end, nil
}

// expand substitutes every variable reference in s, leaving the rest as
// written: the words of an instruction's exec (JSON) form.
func (sc *scope) expand(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		v, end, err := sc.reference(s, i)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i = end
	}
	return b.String(), nil
}

// shellWords splits a command line as sh would for plain words and quotes,
// and refuses everything that would need a real shell. With a scope, $NAME
// and ${NAME} outside single quotes are substituted, as Docker does in the
// instructions it substitutes in and sh does in RUN's command; a value
// substituted outside quotes must be one plain word, for sh would split
// and glob it. Without a scope a $ is refused.
func shellWords(s string, sc *scope) ([]string, error) {
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '$' && sc != nil:
			v, end, err := sc.reference(s, i)
			if err != nil {
				return nil, err
			}
			if v == "" || strings.ContainsAny(v, " \t\n;&|<>()$`*?[]{}~#'\"\\") {
				return nil, fmt.Errorf("%q in %q: only a plain word is replayed unquoted", v, s)
			}
			word.WriteString(v)
			i = end
			inWord = true
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
				if s[i] == '$' && sc != nil {
					v, end, err := sc.reference(s, i)
					if err != nil {
						return nil, err
					}
					word.WriteString(v)
					i = end
					continue
				}
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
// exec (JSON) or shell form; sc substitutes in the shell form (see
// shellWords), the exec form is left as written.
func execOrShellWords(args string, sc *scope) (words []string, execForm bool, err error) {
	if strings.HasPrefix(args, "[") {
		err := json.Unmarshal([]byte(args), &words)
		return words, true, err
	}
	words, err = shellWords(args, sc)
	return words, false, err
}

// stage is one FROM of a Dockerfile being replayed.
type stage struct {
	name       string
	from       string
	root       string // folder standing for the stage's /
	workdir    string
	env        map[string]string
	args       map[string]*string // declared ARGs, nil when without a value
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
	env     []string // the variables the Dockerfile set, ENV and ARG
	dir     string   // working directory in the image
	args    []string // after "go"
	output  string   // -o, in the image
	context string   // the working directory's source in the build context
}

// hostPath maps an absolute image path into the stage's folder.
func (s *stage) hostPath(p string) string {
	return filepath.Join(s.root, filepath.FromSlash(path.Clean("/"+p)))
}

// scope is what the stage's instructions substitute from.
func (s *stage) scope() *scope { return &scope{env: s.env, args: s.args} }

func (s *stage) abs(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(s.workdir, p)
}

// replayed is a Dockerfile replayed.
type replayed struct {
	stages []*stage
	// buildArgs are the build arguments given.
	buildArgs map[string]string
	// global are the ARGs declared before the first FROM: the FROMs
	// substitute from them, and an ARG without a default in a stage takes
	// the value of the global one of its name.
	global map[string]*string
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

// replayDockerfile replays dockerfile with contextDir as the build context
// and buildArgs as the build arguments (docker build --build-arg),
// building stages in folders under workDir. goBin runs RUN's go commands
// with baseEnv plus the Dockerfile's variables. A build argument no ARG
// declares is an error, where Docker warns.
func replayDockerfile(contextDir, dockerfile string, buildArgs map[string]string, workDir, goBin string, baseEnv []string) (*replayed, error) {
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
	declared := map[string]bool{}
	for _, in := range instructions {
		if in.cmd == "ARG" {
			for _, w := range strings.Fields(in.args) {
				name, _, _ := strings.Cut(w, "=")
				declared[name] = true
			}
		}
	}
	var undeclared []string
	for k := range buildArgs {
		if !declared[k] {
			undeclared = append(undeclared, k)
		}
	}
	if len(undeclared) > 0 {
		slices.Sort(undeclared)
		return nil, fmt.Errorf("%s: no ARG declares the build arguments %v", dockerfile, undeclared)
	}
	r := &replayed{buildArgs: buildArgs, global: map[string]*string{}}
	var cur *stage
	for _, in := range instructions {
		if in.cmd != "FROM" && in.cmd != "ARG" && cur == nil {
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

// arg declares in args the ARGs an instruction lists: NAME, or
// NAME=default. A build argument sets the value; without one, the default
// does, or in a stage the global ARG of that name.
func (r *replayed) arg(args map[string]*string, list string, sc *scope, inStage bool) error {
	words, err := shellWords(list, sc)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return errors.New("ARG names no variable")
	}
	for _, w := range words {
		name, def, hasDefault := strings.Cut(w, "=")
		if name == "" || nameLen(name) != len(name) {
			return fmt.Errorf("ARG %q: not a variable name", w)
		}
		var v *string
		switch given, ok := r.buildArgs[name]; {
		case ok:
			v = &given
		case hasDefault:
			v = &def
		case inStage:
			v = r.global[name]
		}
		args[name] = v
	}
	return nil
}

func (r *replayed) apply(cur **stage, in instruction, contextDir, workDir, goBin string, baseEnv []string, ignore *patternmatcher.PatternMatcher) error {
	s := *cur
	var sc *scope
	if s != nil {
		sc = s.scope()
	}
	// A single word, such as WORKDIR's or USER's.
	oneWord := func() (string, error) {
		words, err := shellWords(in.args, sc)
		if err != nil {
			return "", err
		}
		if len(words) != 1 {
			return "", fmt.Errorf("%s %q: one word", in.cmd, in.args)
		}
		return words[0], nil
	}
	switch in.cmd {
	case "ARG":
		if s == nil {
			return r.arg(r.global, in.args, &scope{args: r.global}, false)
		}
		return r.arg(s.args, in.args, sc, true)
	case "FROM":
		words, err := shellWords(in.args, &scope{args: r.global})
		if err != nil {
			return err
		}
		ns := &stage{workdir: "/", env: map[string]string{}, args: map[string]*string{}}
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
		// Every value is substituted before any is set, as Docker does.
		words, err := shellWords(in.args, sc)
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
		dir, err := oneWord()
		if err != nil {
			return err
		}
		s.workdir = s.abs(dir)
		return os.MkdirAll(s.hostPath(s.workdir), 0o755)
	case "COPY":
		return r.copy(s, in.args, contextDir, ignore)
	case "RUN":
		return r.run(s, in.args, goBin, baseEnv)
	case "USER":
		user, err := oneWord()
		if err != nil {
			return err
		}
		s.user = user
	case "EXPOSE":
		ports, err := shellWords(in.args, sc)
		if err != nil {
			return err
		}
		s.expose = append(s.expose, ports...)
	case "ENTRYPOINT":
		// Docker substitutes nothing here: the exec form runs as
		// written, and the shell form's shell is refused.
		words, execForm, err := execOrShellWords(in.args, nil)
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
	sc := s.scope()
	words, execForm, err := execOrShellWords(args, sc)
	if err != nil {
		return err
	}
	if execForm {
		// Docker substitutes in COPY's exec form too.
		for i, w := range words {
			if words[i], err = sc.expand(w); err != nil {
				return err
			}
		}
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
	// The shell form's shell expands variables from the environment RUN
	// gets, the stage's ENV and ARGs; the exec form runs as written.
	sc := s.scope()
	words, _, err := execOrShellWords(args, sc)
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
	b.env = append(sc.vars(), assigned...)
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

// builtImages replays each artifact's build once per test binary, by
// Dockerfile and build arguments (artifact.build).
var builtImages struct {
	sync.Mutex
	dir     string
	byBuild map[string]*imageBuild
}

type imageBuild struct {
	once sync.Once
	img  *replayed
	err  error
}

// replayIn replays dockerfile, written into a fresh build context holding
// the folder web/ with one file, with buildArgs.
func replayIn(t *testing.T, dockerfile string, buildArgs map[string]string) (*replayed, error) {
	t.Helper()
	dir := t.TempDir()
	ctx := filepath.Join(dir, "context")
	require.NoError(t, os.MkdirAll(filepath.Join(ctx, "web"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(ctx, "web", "x"), []byte("x"), 0o644))
	df := filepath.Join(dir, "Dockerfile")
	require.NoError(t, os.WriteFile(df, []byte(dockerfile), 0o644))
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	work := filepath.Join(dir, "work")
	require.NoError(t, os.MkdirAll(work, 0o755))
	return replayDockerfile(ctx, df, buildArgs, work, goBin, goBuildEnv())
}

// The replay substitutes ARGs and ENVs where Docker does: FROM (from the
// ARGs before it), ENV, WORKDIR, COPY, RUN's command (through the
// environment, as its shell would), USER and EXPOSE; never ENTRYPOINT.
func TestReplayDockerfile_SubstitutesArguments(t *testing.T) {
	img, err := replayIn(t, `ARG BASE=golang:1.26.8
FROM ${BASE} AS build
ARG APP
ARG PORT=3000 VAR=GOWORK
ARG BASE
ENV DIR=/src/$APP MODE=${APP}-mode
WORKDIR ${DIR}
COPY ${APP}/ ./
RUN go env ${VAR}
USER ${APP}:$APP
EXPOSE $PORT 9090
FROM scratch
COPY --from=build /src/web/x /x
ENTRYPOINT ["/$APP"]
`, map[string]string{"APP": "web"})
	require.NoError(t, err)
	build, final := img.stages[0], img.final()
	assert.Equal(t, "golang:1.26.8", build.from, "the global ARG's default")
	assert.Equal(t, map[string]string{"DIR": "/src/web", "MODE": "web-mode"}, build.env)
	assert.Equal(t, "/src/web", build.workdir)
	assert.Equal(t, []copied{{src: "web", dest: "/src/web"}}, build.copies)
	require.Len(t, build.goBuilds, 1)
	b := build.goBuilds[0]
	assert.Equal(t, []string{"env", "GOWORK"}, b.args)
	assert.Equal(t, []string{"APP=web", "BASE=golang:1.26.8", "DIR=/src/web", "MODE=web-mode", "PORT=3000", "VAR=GOWORK"}, b.env,
		"RUN's environment: the ENVs and the ARGs, a redeclared global one with its value")
	assert.Equal(t, "web", b.context)
	assert.Equal(t, "web:web", build.user)
	assert.Equal(t, []string{"3000", "9090"}, build.expose)
	assert.FileExists(t, final.hostPath("/x"))
	assert.Equal(t, []string{"/$APP"}, final.entrypoint, "ENTRYPOINT as written")
	assert.Empty(t, final.args, "the ARGs stay in the stage that declares them")
}

func TestReplayDockerfile_RefusesWhatItCannotSubstitute(t *testing.T) {
	for name, c := range map[string]struct {
		dockerfile string
		args       map[string]string
		err        string
	}{
		"an ARG without a value": {"FROM scratch\nARG APP\nWORKDIR /$APP\n", nil,
			"ARG APP has no default and no build argument sets it"},
		"an ARG of another stage": {"FROM scratch AS a\nARG APP\nFROM scratch\nWORKDIR /$APP\n", map[string]string{"APP": "web"},
			"$APP: not set"},
		"a global ARG in a stage": {"ARG APP=web\nFROM scratch\nWORKDIR /${APP}\n", nil,
			"$APP: not set"},
		"a variable never declared": {"FROM scratch\nCOPY ${APP}/ /web/\n", nil,
			"$APP: not set"},
		"a required ARG unset": {"FROM scratch\nARG APP\nENV APP=${APP:?}\n", nil,
			"APP: is not allowed to be unset"},
		"a required ARG empty": {"FROM scratch\nARG APP\nENV APP=${APP:?}\n", map[string]string{"APP": ""},
			"APP: is not allowed to be empty"},
		"a required ARG with a message": {"FROM scratch\nARG APP\nENV APP=${APP?pass-it}\n", nil,
			"APP: pass-it"},
		"a default": {"FROM scratch\nARG APP\nWORKDIR /${APP:-web}\n", nil,
			"only ${NAME}, ${NAME?message} and ${NAME:?message} are replayed"},
		"an unquoted value of two words": {"FROM scratch\nARG APP\nWORKDIR /$APP\n", map[string]string{"APP": "a b"},
			"only a plain word is replayed unquoted"},
		"a build argument no ARG declares": {"FROM scratch\n", map[string]string{"APP": "web"},
			"no ARG declares the build arguments [APP]"},
		"ENTRYPOINT's shell form": {"FROM scratch\nARG APP=web\nENTRYPOINT /$APP\n", nil,
			"needs a shell"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := replayIn(t, c.dockerfile, c.args)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.err)
		})
	}
}

// The services' Dockerfile stops at once without SERVICE, as Docker would,
// before it copies anything.
func TestDockerfile_NeedsTheServiceBuildArgument(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err)
	for _, c := range []struct {
		args map[string]string
		err  string
	}{
		{nil, "SERVICE: is not allowed to be unset"},
		{map[string]string{"SERVICE": ""}, "SERVICE: is not allowed to be empty"},
		{map[string]string{"SERVICE": "tickets", "SERIVCE": "tickets"}, "no ARG declares the build arguments [SERIVCE]"},
	} {
		_, err := replayDockerfile(repoRoot, filepath.Join(repoRoot, "Dockerfile"), c.args, t.TempDir(), goBin, goBuildEnv())
		if assert.Error(t, err, "%v", c.args) {
			assert.Contains(t, err.Error(), c.err, "%v", c.args)
		}
	}
}
