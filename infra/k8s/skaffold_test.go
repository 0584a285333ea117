package k8s_test

import (
	"bytes"
	"os"
	"path/filepath"
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
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Build      struct {
		Artifacts []artifact `json:"artifacts"`
	} `json:"build"`
	Manifests struct {
		RawYaml   []string `json:"rawYaml"`
		Kustomize *struct {
			Paths []string `json:"paths"`
		} `json:"kustomize"`
	} `json:"manifests"`
	Deploy struct {
		Kubectl *struct{} `json:"kubectl"`
	} `json:"deploy"`
}

// artifact is an image skaffold builds.
type artifact struct {
	Image   string `json:"image"`
	Context string `json:"context"`
	Docker  *struct {
		Dockerfile string `json:"dockerfile"`
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
      dockerfile: auth/Dockerfile
`))
	assert.Error(t, err, "dockerfile belongs under docker:")
}

func TestSkaffold_DeploysTheManifestsTheseTestsRead(t *testing.T) {
	c := readSkaffold(t)
	assert.Empty(t, c.Manifests.RawYaml, "the manifests are rendered by kustomize only")
	require.NotNil(t, c.Manifests.Kustomize)
	require.Len(t, c.Manifests.Kustomize.Paths, 1)
	dir, err := filepath.Abs(filepath.Join(repoRoot, c.Manifests.Kustomize.Paths[0]))
	require.NoError(t, err)
	here, err := filepath.Abs(".")
	require.NoError(t, err)
	assert.Equal(t, here, dir, "skaffold renders this folder's kustomization.yaml")
	assert.NotNil(t, c.Deploy.Kubectl, "deployed with kubectl")
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

func TestSkaffold_HasAnArtifactForEveryImageTheManifestsDoNotPin(t *testing.T) {
	c := readSkaffold(t)
	m := loadManifests(t)
	artifacts := map[string]artifact{}
	for _, a := range c.Build.Artifacts {
		_, dup := artifacts[a.Image]
		assert.False(t, dup, "artifact %s twice", a.Image)
		artifacts[a.Image] = a
		assert.Equal(t, ".", a.Context, "%s: the context is the repository root, so that common/ is in it", a.Image)
		require.NotNil(t, a.Docker, a.Image)
		assert.FileExists(t, filepath.Join(repoRoot, a.dockerfile()))
	}
	used := map[string]bool{}
	for _, d := range m.workloads {
		for _, ctr := range allContainers(d.Template.Spec) {
			name, tag := imageRef(ctr.Image)
			if _, ok := artifacts[ctr.Image]; ok {
				used[ctr.Image] = true
				continue
			}
			assert.True(t, tag != "" && tag != "latest",
				"%s/%s: image %s is neither built by skaffold nor pinned to a version", d.Name, ctr.Name, ctr.Image)
			_, built := artifacts[name]
			assert.False(t, built, "%s/%s: %s is built by skaffold; leave the tag to it", d.Name, ctr.Name, ctr.Image)
		}
	}
	for image := range artifacts {
		assert.True(t, used[image], "artifact %s is deployed by nothing", image)
	}
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
			for _, a := range c.Build.Artifacts {
				if ctr.Image == a.Image {
					out = append(out, serviceDeployment{workload: w, deployment: d, container: ctr, artifact: a})
				}
			}
		}
	}
	return out
}
