package k8s_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// skaffoldAPIVersion is the skaffold.yaml version, the one of the schema in
// testdata.
const skaffoldAPIVersion = "skaffold/v4beta13"

// skaffoldConfig is the part of skaffold.yaml the tests follow; the schema
// checks the rest.
type skaffoldConfig struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Build      skaffoldBuild     `json:"build"`
	Manifests  skaffoldManifests `json:"manifests"`
	Deploy     struct {
		Kubectl *struct {
			Hooks struct {
				Before []struct {
					Host *struct {
						Command []string `json:"command"`
					} `json:"host"`
				} `json:"before"`
			} `json:"hooks"`
		} `json:"kubectl"`
	} `json:"deploy"`
	Profiles []skaffoldProfile `json:"profiles"`
}

type skaffoldBuild struct {
	Local *struct {
		Push *bool `json:"push"`
	} `json:"local"`
	Artifacts []artifact `json:"artifacts"`
}

type skaffoldManifests struct {
	RawYaml   []string `json:"rawYaml"`
	Kustomize *struct {
		Paths []string `json:"paths"`
	} `json:"kustomize"`
}

// skaffoldProfile is a profile as these tests read it: it replaces the
// build, the manifests or both. Profiles that patch, or that turn
// themselves on, would deploy something the tests do not follow.
type skaffoldProfile struct {
	Name       string             `json:"name"`
	Build      *skaffoldBuild     `json:"build"`
	Manifests  *skaffoldManifests `json:"manifests"`
	Deploy     json.RawMessage    `json:"deploy"`
	Patches    json.RawMessage    `json:"patches"`
	Activation json.RawMessage    `json:"activation"`
}

// artifact is an image skaffold builds.
type artifact struct {
	Image   string `json:"image"`
	Context string `json:"context"`
	Docker  *struct {
		Dockerfile string            `json:"dockerfile"`
		BuildArgs  map[string]string `json:"buildArgs"`
	} `json:"docker"`
}

// dockerfile is the artifact's Dockerfile, relative to the repository root.
func (a artifact) dockerfile() string {
	name := "Dockerfile"
	if a.Docker != nil && a.Docker.Dockerfile != "" {
		name = a.Docker.Dockerfile
	}
	return filepath.Join(a.Context, name)
}

// buildArgs are the artifact's build arguments (docker build --build-arg).
func (a artifact) buildArgs() map[string]string {
	if a.Docker == nil {
		return nil
	}
	return a.Docker.BuildArgs
}

// build names what is built: the Dockerfile and the build arguments, such
// as "Dockerfile SERVICE=tickets". Artifacts with the same build get the
// same image.
func (a artifact) build() string {
	words := []string{a.dockerfile()}
	for _, k := range slices.Sorted(maps.Keys(a.buildArgs())) {
		words = append(words, k+"="+a.buildArgs()[k])
	}
	return strings.Join(words, " ")
}

// skaffoldFor returns skaffold.yaml as the overlay's profile makes it: the
// profile's build and manifests, where it has them, replace the top
// level's. A profile here states each of them whole (the build with its
// local settings and every artifact), so that reading it so is right
// whichever way skaffold merges the fields of a section.
func skaffoldFor(t *testing.T, o overlay) skaffoldConfig {
	t.Helper()
	c := readSkaffold(t)
	profiles := c.Profiles
	c.Profiles = nil
	if o.profile == "" {
		return c
	}
	i := slices.IndexFunc(profiles, func(p skaffoldProfile) bool { return p.Name == o.profile })
	require.GreaterOrEqual(t, i, 0, "skaffold.yaml has no profile %s", o.profile)
	p := profiles[i]
	require.Empty(t, p.Patches, "profile %s: patches", p.Name)
	require.Empty(t, p.Activation, "profile %s: activation", p.Name)
	require.Empty(t, p.Deploy, "profile %s: deploy", p.Name)
	if p.Build != nil {
		require.NotNil(t, p.Build.Local, "profile %s states its build whole", p.Name)
		require.NotEmpty(t, p.Build.Artifacts, "profile %s states its build whole", p.Name)
		c.Build = *p.Build
	}
	if p.Manifests != nil {
		c.Manifests = *p.Manifests
	}
	return c
}

func readSkaffold(t *testing.T) skaffoldConfig {
	t.Helper()
	raw, err := os.ReadFile(repoRoot + "/skaffold.yaml")
	require.NoError(t, err)
	var c skaffoldConfig
	require.NoError(t, yaml.Unmarshal(raw, &c))
	return c
}

func skaffoldSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open("testdata/skaffold-v4beta13.json")
	require.NoError(t, err)
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("skaffold-v4beta13.json", doc))
	s, err := c.Compile("skaffold-v4beta13.json")
	require.NoError(t, err)
	return s
}

func validateSkaffold(t *testing.T, raw []byte) error {
	t.Helper()
	js, err := yaml.YAMLToJSON(raw)
	require.NoError(t, err)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	require.NoError(t, err)
	return skaffoldSchema(t).Validate(inst)
}

func TestSkaffold_ValidatesAgainstTheV4beta13Schema(t *testing.T) {
	raw, err := os.ReadFile(repoRoot + "/skaffold.yaml")
	require.NoError(t, err)
	c := readSkaffold(t)
	assert.Equal(t, skaffoldAPIVersion, c.APIVersion)
	assert.Equal(t, "Config", c.Kind)
	assert.NoError(t, validateSkaffold(t, raw))
}

func TestSkaffoldSchema_RejectsAMisplacedField(t *testing.T) {
	err := validateSkaffold(t, []byte(`
apiVersion: skaffold/v4beta13
kind: Config
build:
  artifacts:
    - image: ticketing/auth
      dockerfile: Dockerfile
`))
	assert.Error(t, err, "dockerfile belongs under docker:")
}

// skaffold deploys each overlay, and nothing but the overlays: dev
// without a profile, the others by the profiles of their names.
func TestSkaffold_DeploysEachOverlay(t *testing.T) {
	c := readSkaffold(t)
	assert.NotNil(t, c.Deploy.Kubectl, "deployed with kubectl")
	names := []string{""}
	for _, p := range c.Profiles {
		names = append(names, p.Name)
	}
	deployedBy := map[string][]string{} // overlay folder → profiles
	here, err := filepath.Abs(".")
	require.NoError(t, err)
	for _, name := range names {
		label := name
		if label == "" {
			label = "(no profile)"
		}
		sk := skaffoldFor(t, overlay{profile: name})
		assert.Empty(t, sk.Manifests.RawYaml, "%s: the manifests are rendered by kustomize only", label)
		if !assert.NotNil(t, sk.Manifests.Kustomize, label) || !assert.Len(t, sk.Manifests.Kustomize.Paths, 1, label) {
			continue
		}
		abs, err := filepath.Abs(filepath.Join(repoRoot, sk.Manifests.Kustomize.Paths[0]))
		require.NoError(t, err)
		dir, err := filepath.Rel(here, abs)
		require.NoError(t, err)
		dir = filepath.ToSlash(dir)
		deployedBy[dir] = append(deployedBy[dir], name)
		i := slices.IndexFunc(overlays, func(o overlay) bool { return o.dir == dir })
		if assert.GreaterOrEqual(t, i, 0, "%s deploys %s, which is no overlay these tests check", label, dir) {
			assert.True(t, overlays[i].deployed, "%s deploys %s", label, dir)
			assert.Equal(t, overlays[i].profile, name, "%s is deployed by profile %q", dir, overlays[i].profile)
		}
	}
	for _, o := range overlays {
		if o.deployed {
			assert.Len(t, deployedBy[o.dir], 1, "%s is deployed by one profile", o.dir)
		} else {
			assert.Empty(t, deployedBy[o.dir], "%s is not deployed on its own", o.dir)
		}
	}
}

// imageRef splits an image reference into name and tag (or digest).
func imageRef(ref string) (name, tag string) {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// skaffold builds the ticketing services' images and replaces their tags
// in the manifests; every other image is pinned. An overlay that names
// released images (prod) tags them with the release and names them in the
// registry skaffold pushes to; the others leave the tag to skaffold.
func TestSkaffold_HasAnArtifactForEveryImageTheManifestsDoNotPin(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		c := skaffoldFor(t, o)
		if assert.NotNil(t, c.Build.Local, "built by the local Docker") && assert.NotNil(t, c.Build.Local.Push) {
			assert.Equal(t, o.registry != "", *c.Build.Local.Push, "images are pushed exactly when they go to a registry")
		}
		artifacts := map[string]artifact{}
		for _, a := range c.Build.Artifacts {
			_, dup := artifacts[a.Image]
			assert.False(t, dup, "artifact %s twice", a.Image)
			artifacts[a.Image] = a
			assert.True(t, strings.HasPrefix(a.Image, o.registry+"ticketing/"), "%s: %s is named in %sticketing/", o, a.Image, o.registry)
			_, tag := imageRef(a.Image)
			assert.Empty(t, tag, "%s: skaffold tags the images it builds", a.Image)
			assert.Equal(t, ".", a.Context, "%s: the context is the repository root, so that common/ is in it", a.Image)
			require.NotNil(t, a.Docker, a.Image)
			assert.FileExists(t, filepath.Join(repoRoot, a.dockerfile()))
			// One Dockerfile builds every service, told which by SERVICE:
			// the service's folder, the last part of the image's name.
			assert.Equal(t, "Dockerfile", a.dockerfile(), "%s: built by the Dockerfile at the repository root", a.Image)
			assert.Equal(t, path.Base(a.Image), a.buildArgs()["SERVICE"], "%s: the build argument SERVICE", a.Image)
		}
		used := map[string]bool{}
		for _, d := range m.workloads {
			for _, ctr := range allContainers(d.Template.Spec) {
				name, tag := imageRef(ctr.Image)
				if _, built := artifacts[name]; built {
					used[name] = true
					assert.Equal(t, o.releaseTag, tag, "%s/%s: %s is built by skaffold", d.Name, ctr.Name, ctr.Image)
					continue
				}
				assert.True(t, tag != "" && tag != "latest",
					"%s/%s: image %s is neither built by skaffold nor pinned to a version", d.Name, ctr.Name, ctr.Image)
			}
		}
		for image := range artifacts {
			assert.True(t, used[image], "artifact %s is deployed by nothing", image)
		}
	})
}

// serviceDeployment is a Deployment running an image skaffold builds: one of
// the ticketing services.
type serviceDeployment struct {
	workload   *workload
	deployment *appsv1.Deployment
	container  corev1.Container
	artifact   artifact
}

func serviceDeployments(t *testing.T, m *manifests, c skaffoldConfig) []serviceDeployment {
	t.Helper()
	var out []serviceDeployment
	for _, w := range m.workloads {
		d, ok := w.obj.(*appsv1.Deployment)
		if !ok {
			continue
		}
		for _, ctr := range allContainers(d.Spec.Template.Spec) {
			name, _ := imageRef(ctr.Image)
			for _, a := range c.Build.Artifacts {
				if name == a.Image {
					out = append(out, serviceDeployment{workload: w, deployment: d, container: ctr, artifact: a})
				}
			}
		}
	}
	return out
}

// fakeKubectl is a kubectl on PATH that knows the Secrets named in have,
// and records every Secret created: name → keys and values.
func fakeKubectl(t *testing.T, have ...string) (dir string, created func() map[string]map[string]string) {
	t.Helper()
	dir = t.TempDir()
	log := filepath.Join(dir, "created")
	script := "#!/bin/sh\n" +
		"case \"$1 $2\" in\n" +
		"\"get secret\") case \" " + strings.Join(have, " ") + " \" in *\" $3 \"*) exit 0;; esac; exit 1;;\n" +
		"\"create secret\") shift 3; echo \"$*\" >> " + log + "; exit 0;;\n" +
		"esac\necho \"unexpected kubectl $*\" >&2; exit 2\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kubectl"), []byte(script), 0o755))
	return dir, func() map[string]map[string]string {
		out := map[string]map[string]string{}
		raw, err := os.ReadFile(log)
		if errors.Is(err, os.ErrNotExist) {
			return out
		}
		require.NoError(t, err)
		for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			fields := strings.Fields(line)
			values := map[string]string{}
			for _, f := range fields[1:] {
				kv, ok := strings.CutPrefix(f, "--from-literal=")
				require.True(t, ok, "kubectl create secret generic %s: %s", fields[0], f)
				k, v, _ := strings.Cut(kv, "=")
				values[k] = v
			}
			out[fields[0]] = values
		}
		return out
	}
}

func runSecretsScript(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command("sh", "infra/k8s/secrets.sh")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "PATH="+path+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return string(out)
}

// skaffold runs infra/k8s/secrets.sh before deploying, so that `skaffold
// dev` needs no setup: it must make every Secret the guide tells operators
// to create (but the real Stripe keys), with the same keys, and change
// nothing that exists.
func TestSecretsScript_MakesTheGuidesSecretsWhenMissing(t *testing.T) {
	c := readSkaffold(t)
	require.NotNil(t, c.Deploy.Kubectl)
	var hooks [][]string
	for _, h := range c.Deploy.Kubectl.Hooks.Before {
		if h.Host != nil {
			hooks = append(hooks, h.Host.Command)
		}
	}
	assert.Contains(t, hooks, []string{"sh", "infra/k8s/secrets.sh"}, "skaffold runs the script before deploying")

	documented := secretsInREADME(t)
	delete(documented, "stripe-secret") // real keys: its owner's
	dir, created := fakeKubectl(t)
	runSecretsScript(t, dir)
	made := created()
	require.Len(t, made, len(documented), "made %v", made)
	for name, keys := range documented {
		values, ok := made[name]
		if !assert.True(t, ok, "%s not made", name) {
			continue
		}
		assert.ElementsMatch(t, keys, slices.Collect(maps.Keys(values)), name)
		for k, v := range values {
			if k == "MONGO_INITDB_ROOT_USERNAME" {
				assert.Equal(t, strings.TrimSuffix(name, "-mongo-secret"), v)
				continue
			}
			assert.Regexp(t, `^[0-9a-f]{48,}$`, v, "%s %s: random hex", name, k)
		}
	}
	assert.Len(t, made["jwt-secret"]["JWT_KEY"], 96, "48 random bytes: JWT_KEY must be 32 bytes at least")

	// Run again with everything there: nothing is touched.
	have := slices.Collect(maps.Keys(documented))
	dir, created = fakeKubectl(t, have...)
	assert.Empty(t, runSecretsScript(t, dir))
	assert.Empty(t, created())
}
