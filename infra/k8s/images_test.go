package k8s_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtImages.dir != "" {
		_ = os.RemoveAll(builtImages.dir)
	}
	os.Exit(code)
}

// goBuildEnv is the environment of a replayed go command before the
// Dockerfile's variables: this process's, without what would make the build
// differ from the golang image's (GOFLAGS, GOWORK, target and cgo settings,
// the user's go env file).
func goBuildEnv() []string {
	drop := []string{"GOFLAGS", "GOWORK", "GOENV", "GOTOOLCHAIN", "GO111MODULE", "GOOS", "GOARCH",
		"GOAMD64", "GOARM", "GOARM64", "GO386", "GOEXPERIMENT", "CGO_ENABLED", "GOROOT", "GOBIN"}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(drop, k)
	})
	return append(env, "GOENV=off", "GOTOOLCHAIN=local")
}

// buildImage replays the artifact's Dockerfile with its build arguments,
// once per build (artifact.build) per test binary.
func buildImage(t *testing.T, a artifact) *replayed {
	t.Helper()
	builtImages.Lock()
	if builtImages.byBuild == nil {
		dir, err := os.MkdirTemp("", "ticketing-images-")
		if err != nil {
			builtImages.Unlock()
			require.NoError(t, err)
		}
		builtImages.dir, builtImages.byBuild = dir, map[string]*imageBuild{}
	}
	b := builtImages.byBuild[a.build()]
	if b == nil {
		b = new(imageBuild)
		builtImages.byBuild[a.build()] = b
	}
	dir := builtImages.dir
	builtImages.Unlock()
	b.once.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			b.err = err
			return
		}
		work, err := os.MkdirTemp(dir, "image-")
		if err != nil {
			b.err = err
			return
		}
		for k, v := range a.buildArgs() {
			if strings.Contains(v, "{{") {
				b.err = fmt.Errorf("build argument %s=%s: skaffold's templates are not replayed", k, v)
				return
			}
		}
		b.img, b.err = replayDockerfile(filepath.Join(repoRoot, a.Context), filepath.Join(repoRoot, a.dockerfile()), a.buildArgs(), work, goBin, goBuildEnv())
	})
	require.NoError(t, b.err, "replaying %s", a.build())
	return b.img
}

// entrypoint is the file the image's ENTRYPOINT runs, in the replay.
func entrypoint(t *testing.T, img *replayed) string {
	t.Helper()
	final := img.final()
	require.True(t, final.execForm, "ENTRYPOINT in exec form: distroless has no shell")
	require.Len(t, final.entrypoint, 1, "ENTRYPOINT is the binary alone")
	return final.hostPath(final.entrypoint[0])
}

// buildStage returns the stage that runs the image's one go build.
func buildStage(t *testing.T, img *replayed) (*stage, goBuild) {
	t.Helper()
	var found []*stage
	for _, s := range img.stages {
		if len(s.goBuilds) > 0 {
			found = append(found, s)
		}
	}
	require.Len(t, found, 1, "one stage builds")
	b, err := found[0].build()
	require.NoError(t, err)
	return found[0], b
}

var goDirective = regexp.MustCompile(`(?m)^go (\d+)\.(\d+)`)

// goVersion reads major and minor version from a go.mod go directive or an
// image tag such as 1.26, 1.26.3 or 1.26-bookworm.
func goVersion(s string, re *regexp.Regexp) (int, int, bool) {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, false
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	return major, minor, true
}

var modulePath = regexp.MustCompile(`(?m)^module\s+(\S+)`)

// maxBinarySize bounds a service binary, and so its image (distroless static
// adds about 2 MiB): linking a test server such as FerretDB would pass it.
const maxBinarySize = 30 << 20

func TestDockerfiles_BuildTheBinaryTheirDeploymentRuns(t *testing.T) {
	forEachOverlay(t, dockerfilesBuildTheBinaries)
}

func dockerfilesBuildTheBinaries(t *testing.T, o overlay, m *manifests) {
	for _, sd := range serviceDeployments(t, m, skaffoldFor(t, o)) {
		d, c := sd.workload, sd.container
		t.Run(sd.artifact.build(), func(t *testing.T) {
			img := buildImage(t, sd.artifact)
			require.GreaterOrEqual(t, len(img.stages), 2, "multi-stage: the toolchain stays out of the image")
			build, b := buildStage(t, img)
			final := img.final()

			// The build compiles the Deployment's service, as a module of its own.
			assert.Equal(t, app(d), b.context, "go build runs in the service's folder")
			for _, pkg := range b.packages() {
				assert.Equal(t, app(d), path.Join(b.context, pkg), "go build builds the service's main package")
			}
			assert.Contains(t, b.env, "CGO_ENABLED=0", "a static binary, for distroless/static")
			assert.Contains(t, b.env, "GOWORK=off", "the module builds alone; go.work is not in the image")
			mod, err := os.ReadFile(filepath.Join(repoRoot, app(d), "go.mod"))
			require.NoError(t, err)
			wantMajor, wantMinor, ok := goVersion(string(mod), goDirective)
			require.True(t, ok)
			name, tag := imageRef(build.from)
			assert.Equal(t, "golang", name, "built with the golang image")
			major, minor, ok := goVersion(tag, regexp.MustCompile(`^(\d+)\.(\d+)`))
			if assert.True(t, ok, "golang image pinned to a Go version, got %s", build.from) {
				assert.True(t, major == wantMajor && minor >= wantMinor, "%s is older than go.mod's go %d.%d", build.from, wantMajor, wantMinor)
			}

			// The image runs what the build produced.
			bin := entrypoint(t, img)
			built := build.hostPath(b.output)
			assert.Equal(t, fileSum(t, built), fileSum(t, bin), "ENTRYPOINT runs the go build output")
			info, err := os.Stat(bin)
			require.NoError(t, err)
			assert.NotZero(t, info.Mode().Perm()&0o111, "executable")
			assert.Less(t, info.Size(), int64(maxBinarySize))
			bi, err := buildinfo.ReadFile(bin)
			require.NoError(t, err)
			want := modulePath.FindStringSubmatch(string(mod))
			require.NotNil(t, want)
			assert.Equal(t, want[1], bi.Path, "the binary is the service's main package")
			assert.Empty(t, c.Command, "the Deployment runs the image's ENTRYPOINT")
			assert.Empty(t, c.Args)

			// The final stage: distroless, non-root, the service's port.
			base, _, _ := strings.Cut(final.from, "@") // a digest may follow the tag
			assert.True(t, strings.HasPrefix(base, "gcr.io/distroless/static") && strings.HasSuffix(base, ":nonroot"), final.from)
			assert.Contains(t, []string{"nonroot", "nonroot:nonroot", "65532", "65532:65532"}, final.user)
			for _, p := range c.Ports {
				assert.Contains(t, final.expose, strconv.Itoa(int(p.ContainerPort)), "EXPOSE the container port")
			}
		})
	}
}

// digest pins an image to its content: the reference ends in
// @sha256:<64 hex digits>.
var digest = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// distrolessRelease is a distroless image whose name pins the Debian
// release, such as gcr.io/distroless/static-debian12:nonroot. Distroless
// publishes no versioned tags, only these and digests: such a tag is as
// pinned as a tag gets, and a digest after it pins the content.
var distrolessRelease = regexp.MustCompile(`^gcr\.io/distroless/[a-z0-9-]+-debian\d+:[a-z0-9-]+$`)

// TestDockerfiles_BaseImagesArePinned: no FROM floats with the registry. An
// image is pinned by a digest, or by a tag naming a patch release
// (golang:1.26.8, not golang:1.26); distroless, which has no versioned
// tags, at least by the Debian release in its name. The checked Dockerfiles
// are the one at the root, which builds every service, any in a folder
// below it, and any other a skaffold profile names: should one come back,
// it builds with the same golang image, so that the services are built by
// one Go release.
func TestDockerfiles_BaseImagesArePinned(t *testing.T) {
	var files []string
	for _, pattern := range []string{"Dockerfile", filepath.Join("*", "Dockerfile")} {
		found, err := filepath.Glob(filepath.Join(repoRoot, pattern))
		require.NoError(t, err)
		files = append(files, found...)
	}
	require.Contains(t, files, filepath.Join(repoRoot, "Dockerfile"), "the services' Dockerfile")
	for _, o := range overlays {
		if !o.deployed {
			continue
		}
		for _, a := range skaffoldFor(t, o).Build.Artifacts {
			if f := filepath.Join(repoRoot, a.dockerfile()); !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
	}
	golang := map[string][]string{} // golang image → Dockerfiles
	for _, f := range files {
		rel, err := filepath.Rel(repoRoot, f)
		require.NoError(t, err)
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		instructions, err := parseDockerfile(bytes.NewReader(raw))
		require.NoError(t, err, rel)
		stages := map[string]bool{}
		froms := 0
		for _, in := range instructions {
			if in.cmd != "FROM" {
				continue
			}
			froms++
			words := slices.DeleteFunc(strings.Fields(in.args), func(w string) bool { return strings.HasPrefix(w, "--") })
			require.NotEmpty(t, words, "%s line %d: FROM names an image", rel, in.line)
			ref := words[0]
			// An earlier stage is pinned where it was named.
			if !stages[strings.ToLower(ref)] {
				assert.NotContains(t, ref, "$", "%s line %d: %s is chosen by a build argument", rel, in.line, ref)
				_, tag := imageRef(ref)
				pinned := digest.MatchString(ref) || patchVersion.MatchString(tag) || distrolessRelease.MatchString(ref)
				assert.True(t, pinned, "%s line %d: FROM %s floats: pin a patch version or a digest", rel, in.line, ref)
				if strings.HasPrefix(ref, "golang:") || strings.HasPrefix(ref, "golang@") {
					golang[ref] = append(golang[ref], rel)
				}
			}
			if len(words) == 3 && strings.EqualFold(words[1], "AS") {
				stages[strings.ToLower(words[2])] = true
			}
		}
		assert.NotZero(t, froms, "%s has no FROM", rel)
	}
	assert.Len(t, golang, 1, "one golang image for every Dockerfile: %v", golang)
}

func fileSum(t *testing.T, name string) [sha256.Size]byte {
	t.Helper()
	raw, err := os.ReadFile(name)
	require.NoError(t, err)
	return sha256.Sum256(raw)
}

func TestDockerignore_KeepsTheContextToTheModulesSources(t *testing.T) {
	ignore, err := contextIgnore(repoRoot)
	require.NoError(t, err)
	for p, excluded := range map[string]bool{
		".git/HEAD":                        true,
		".bin/staticcheck":                 true,
		"results/report.txt":               true,
		"infra/k8s/auth.yaml":              true,
		"tools/go.mod":                     true,
		"auth/internal/user/rules_test.go": true,
		"common/testkit/testdata/x.json":   true,
		"auth/auth":                        true,
		"common/go.mod":                    false,
		"common/web/health.go":             false,
		"auth/go.sum":                      false,
		"auth/main.go":                     false,
	} {
		got, err := ignore.MatchesOrParentMatches(p)
		require.NoError(t, err)
		assert.Equal(t, excluded, got, p)
	}
}

// requiredVariable finds the variables a service names as missing:
// "X must be defined" or "X or Y must be defined".
var requiredVariable = regexp.MustCompile(`([A-Z][A-Z0-9_]*(?: or [A-Z][A-Z0-9_]*)*) must be defined`)

// configError is how a service reports its environment at start.
var configError = regexp.MustCompile(`configuration:|must be defined`)

// runFor runs a binary with env for at most d, and returns its output and,
// when it exited by itself, its exit error.
func runFor(t *testing.T, bin string, env []string, d time.Duration) (out string, exited bool, err error) {
	t.Helper()
	var buf bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &buf, &buf
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	select {
	case err = <-done:
		return buf.String(), true, err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return buf.String(), false, nil
	}
}

// runs memoizes runFor: the overlays share most of their services'
// environments, and a binary started twice with the same environment tells
// nothing new. Each caller still checks the result for its own overlay.
var runs sync.Map // binary and environment → *runResult

type runResult struct {
	once   sync.Once
	out    string
	exited bool
	err    error
}

// runOnce is runFor, once per binary and environment per test binary.
func runOnce(t *testing.T, bin string, env []string, d time.Duration) (out string, exited bool, err error) {
	t.Helper()
	key := bin + "\x00" + strings.Join(env, "\x00")
	v, _ := runs.LoadOrStore(key, new(runResult))
	r := v.(*runResult)
	r.once.Do(func() { r.out, r.exited, r.err = runFor(t, bin, env, d) })
	return r.out, r.exited, r.err
}

// emptyEnvironment is what a service is started with to learn what it
// requires: nothing but PORT=0, so that a service that requires nothing does
// not take port 3000 of the machine running the tests while it runs.
var emptyEnvironment = []string{"PORT=0"}

// Each binary waits two seconds to show whether it stays up: the overlays
// run side by side, and share the runs of identical environments.
func TestServiceDeployments_SetEveryVariableTheServiceRequires(t *testing.T) {
	forEachOverlayInParallel(t, setEveryRequiredVariable)
}

// forEachServiceBinaryInParallel runs check as a subtest per ticketing
// service the overlay deploys, in parallel with one another, on the binary
// the service's image runs.
func forEachServiceBinaryInParallel(t *testing.T, o overlay, m *manifests, check func(t *testing.T, sd serviceDeployment, bin string)) {
	t.Helper()
	for _, sd := range serviceDeployments(t, m, skaffoldFor(t, o)) {
		t.Run(sd.deployment.Name, func(t *testing.T) {
			t.Parallel()
			check(t, sd, entrypoint(t, buildImage(t, sd.artifact)))
		})
	}
}

func setEveryRequiredVariable(t *testing.T, o overlay, m *manifests) {
	forEachServiceBinaryInParallel(t, o, m, func(t *testing.T, sd serviceDeployment, bin string) {
		// What a service requires depends on the bus it speaks:
		// NATS_CLUSTER_ID only with NATS Streaming.
		env := emptyEnvironment
		if b, ok := envVar(sd.container, "BUS"); ok {
			env = append(slices.Clone(env), "BUS="+b.Value)
		}
		out, exited, err := runOnce(t, bin, env, 2*time.Second)
		if !exited {
			assert.NotRegexp(t, configError, out)
			t.Logf("%s requires nothing: it ran without a configuration", sd.deployment.Name)
			return
		}
		require.Error(t, err, "exited at once, and successfully, with no configuration:\n%s", out)
		matches := requiredVariable.FindAllStringSubmatch(out, -1)
		require.NotEmpty(t, matches, "failed, but not for a missing variable:\n%s", out)
		for _, match := range matches {
			names := strings.Split(match[1], " or ")
			assert.True(t, slices.ContainsFunc(names, func(n string) bool {
				_, ok := envVar(sd.container, n)
				return ok
			}), "%s requires %s", sd.deployment.Name, match[1])
		}
	})
}

// deploymentEnv is the container's environment as the kubelet would give it,
// with stand-ins for Secrets and the pod's name, PORT=0 (see
// emptyEnvironment), and DEBUG_ADDR on a free loopback port, so that the
// services run side by side do not contend for the metrics port.
func deploymentEnv(t *testing.T, sd serviceDeployment) []string {
	t.Helper()
	var env []string
	for _, e := range sd.container.Env {
		v := e.Value
		if e.ValueFrom != nil {
			switch ref := e.ValueFrom; {
			case ref.SecretKeyRef != nil:
				// As long as the keys docs/kubernetes.md has operators
				// make: JWT_KEY must be at least 32 bytes.
				v = "test-" + ref.SecretKeyRef.Key + "-" + strings.Repeat("0", 48)
			case ref.FieldRef != nil && ref.FieldRef.FieldPath == "metadata.name":
				v = sd.deployment.Name + "-5f7b9c6d8-x2x9q"
			case ref.ResourceFieldRef != nil && ref.ResourceFieldRef.Resource == "limits.memory":
				q, ok := sd.container.Resources.Limits[corev1.ResourceMemory]
				require.True(t, ok, "%s refers to the memory limit, which is not set", e.Name)
				v = strconv.FormatInt(q.Value(), 10)
			default:
				t.Fatalf("%s: valueFrom %+v has no stand-in here", e.Name, ref)
			}
		}
		switch e.Name {
		case "PORT":
			v = "0"
		case "DEBUG_ADDR":
			v = "127.0.0.1:0"
		}
		env = append(env, e.Name+"="+expand(v, env))
	}
	return env
}

// expand replaces each $(NAME) in v by the value of a variable defined
// before it, as the kubelet does; others stay as written.
func expand(v string, env []string) string {
	return substituted.ReplaceAllStringFunc(v, func(ref string) string {
		name := substituted.FindStringSubmatch(ref)[1]
		for _, kv := range slices.Backward(env) {
			if k, val, _ := strings.Cut(kv, "="); k == name {
				return val
			}
		}
		return ref
	})
}

// substitutedOnly reports whether only other variables of c use the
// variable name, through $(name): the service never reads it itself.
func substitutedOnly(c corev1.Container, name string) bool {
	for _, e := range c.Env {
		for _, m := range substituted.FindAllStringSubmatch(e.Value, -1) {
			if m[1] == name {
				return true
			}
		}
	}
	return false
}

func TestServiceDeployments_EnvironmentPassesTheServicesConfiguration(t *testing.T) {
	forEachOverlayInParallel(t, environmentPassesTheConfiguration)
}

func environmentPassesTheConfiguration(t *testing.T, o overlay, m *manifests) {
	forEachServiceBinaryInParallel(t, o, m, func(t *testing.T, sd serviceDeployment, bin string) {
		// MongoDB, NATS and Redis are not there: the services wait for
		// them, or give up later than this.
		out, exited, err := runOnce(t, bin, deploymentEnv(t, sd), 2*time.Second)
		assert.NotRegexp(t, configError, out)
		if exited {
			var exit *exec.ExitError
			assert.True(t, err == nil || errors.As(err, &exit), "%v", err)
			t.Logf("%s stopped by itself (%v), not for its configuration:\n%s", sd.deployment.Name, err, out)
		}
	})
}

// TestServiceDeployments_SetOnlyVariablesTheServiceReads looks for each
// variable's name in the binary: a name the code never mentions is a typo or
// a leftover, and setting it changes nothing. A variable that other
// variables take in through $(NAME), such as a password from a Secret
// put into MONGO_URI, is there for them.
func TestServiceDeployments_SetOnlyVariablesTheServiceReads(t *testing.T) {
	forEachOverlay(t, setOnlyVariablesTheServiceReads)
}

func setOnlyVariablesTheServiceReads(t *testing.T, o overlay, m *manifests) {
	for _, sd := range serviceDeployments(t, m, skaffoldFor(t, o)) {
		t.Run(sd.deployment.Name, func(t *testing.T) {
			raw, err := os.ReadFile(entrypoint(t, buildImage(t, sd.artifact)))
			require.NoError(t, err)
			for _, e := range sd.container.Env {
				if substitutedOnly(sd.container, e.Name) {
					continue
				}
				mentioned := bytes.Contains(raw, []byte(e.Name))
				assert.True(t, mentioned, "%s sets %s, which the service never mentions", sd.deployment.Name, e.Name)
			}
		})
	}
}
