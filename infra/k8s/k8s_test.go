package k8s_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// repoRoot is the repository root, seen from this package's folder (go test
// runs in it).
const repoRoot = "../.."

// kustomization is the whole of kustomization.yaml: anything else kustomize
// could do would make the deployed objects differ from the files tested here.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// object is one YAML document of a manifest, decoded.
type object struct {
	file string
	doc  int
	obj  runtime.Object
}

func (o object) String() string { return fmt.Sprintf("%s document %d", o.file, o.doc) }

// manifests is everything kustomization.yaml deploys, by kind.
type manifests struct {
	objects      []object
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	workloads    []*workload // Deployments and StatefulSets
	services     []*corev1.Service
	ingresses    []*networkingv1.Ingress
	pdbs         []*policyv1.PodDisruptionBudget
	netpols      []*networkingv1.NetworkPolicy
	configMaps   []*corev1.ConfigMap
	decodeErrors []error
}

// strictDecoder decodes YAML or JSON into the Kubernetes API types of the
// kinds these manifests may use, failing on unknown and duplicate fields.
func strictDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, corev1.AddToScheme, networkingv1.AddToScheme, policyv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// yamlDocuments splits a multi-document YAML stream, dropping empty ones.
func yamlDocuments(r io.Reader) ([][]byte, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var probe map[string]any
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if len(probe) > 0 {
			docs = append(docs, doc)
		}
	}
}

func readKustomization(t *testing.T) kustomization {
	t.Helper()
	raw, err := os.ReadFile("kustomization.yaml")
	require.NoError(t, err)
	var k kustomization
	require.NoError(t, yaml.UnmarshalStrict(raw, &k), "kustomization.yaml may hold only apiVersion, kind and resources")
	return k
}

var (
	loadOnce   sync.Once
	loaded     *manifests
	loadFailed error
)

// loadManifests decodes every resource kustomization.yaml lists, once per
// test binary. Strict decoding errors are kept for the test that reports
// them; the other tests look at whatever decoded.
func loadManifests(t *testing.T) *manifests {
	t.Helper()
	loadOnce.Do(func() {
		raw, err := os.ReadFile("kustomization.yaml")
		if err != nil {
			loadFailed = err
			return
		}
		var k kustomization
		if err := yaml.UnmarshalStrict(raw, &k); err != nil {
			loadFailed = fmt.Errorf("kustomization.yaml: %w", err)
			return
		}
		loaded, loadFailed = decodeFiles(k.Resources)
	})
	require.NoError(t, loadFailed)
	return loaded
}

func decodeFiles(files []string) (*manifests, error) {
	m := new(manifests)
	decoder := strictDecoder()
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		docs, err := yamlDocuments(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		for i, doc := range docs {
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				m.decodeErrors = append(m.decodeErrors, fmt.Errorf("%s document %d: %w", file, i+1, err))
				if !runtime.IsStrictDecodingError(err) {
					continue
				}
			}
			m.add(object{file: file, doc: i + 1, obj: obj})
		}
	}
	return m, nil
}

func (m *manifests) add(o object) {
	m.objects = append(m.objects, o)
	switch v := o.obj.(type) {
	case *appsv1.Deployment:
		m.deployments = append(m.deployments, v)
		m.workloads = append(m.workloads, &workload{Kind: "Deployment", Name: v.Name, Selector: v.Spec.Selector,
			Template: &v.Spec.Template, Replicas: v.Spec.Replicas, obj: v})
	case *appsv1.StatefulSet:
		m.statefulSets = append(m.statefulSets, v)
		m.workloads = append(m.workloads, &workload{Kind: "StatefulSet", Name: v.Name, Selector: v.Spec.Selector,
			Template: &v.Spec.Template, Replicas: v.Spec.Replicas, obj: v})
	case *corev1.Service:
		m.services = append(m.services, v)
	case *networkingv1.Ingress:
		m.ingresses = append(m.ingresses, v)
	case *policyv1.PodDisruptionBudget:
		m.pdbs = append(m.pdbs, v)
	case *networkingv1.NetworkPolicy:
		m.netpols = append(m.netpols, v)
	case *corev1.ConfigMap:
		m.configMaps = append(m.configMaps, v)
	}
}

// manifestFiles lists the YAML files in this folder but kustomization.yaml.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		matches, err := filepath.Glob(pattern)
		require.NoError(t, err)
		files = append(files, matches...)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return f == "kustomization.yaml" })
	slices.Sort(files)
	return files
}

// workload is what runs pods: a Deployment or a StatefulSet.
type workload struct {
	Kind, Name string
	Selector   *metav1.LabelSelector
	Template   *corev1.PodTemplateSpec
	Replicas   *int32
	obj        runtime.Object
}

// podsOf returns the workloads whose pods the selector selects.
func (m *manifests) podsOf(selector labels.Selector) []*workload {
	var out []*workload
	for _, w := range m.workloads {
		if selector.Matches(labels.Set(w.Template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// serviceNamed returns the Service called name, or nil.
func (m *manifests) serviceNamed(name string) *corev1.Service {
	for _, s := range m.services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// configMapNamed returns the ConfigMap called name, or nil.
func (m *manifests) configMapNamed(name string) *corev1.ConfigMap {
	for _, c := range m.configMaps {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// workloadOfService returns the one workload a Service selects.
func (m *manifests) workloadOfService(t *testing.T, s *corev1.Service) *workload {
	t.Helper()
	require.NotEmpty(t, s.Spec.Selector, "Service %s selects no pods", s.Name)
	ws := m.podsOf(labels.SelectorFromSet(s.Spec.Selector))
	require.Len(t, ws, 1, "Service %s must select the pods of exactly one workload", s.Name)
	return ws[0]
}

// app is the app label that names a workload's pods; the routing table and
// the NetworkPolicies speak of services by it.
func app(w *workload) string { return w.Template.Labels["app"] }

// containerPort finds a container port of the pod template by name or
// number, as a Service targetPort or a probe port names it.
func containerPort(spec corev1.PodSpec, name string, number int32) (corev1.ContainerPort, bool) {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if (name != "" && p.Name == name) || (name == "" && p.ContainerPort == number) {
				return p, true
			}
		}
	}
	return corev1.ContainerPort{}, false
}

// allContainers returns the pod's init and app containers.
func allContainers(spec corev1.PodSpec) []corev1.Container {
	return append(slices.Clone(spec.InitContainers), spec.Containers...)
}

// envVar returns the container's variable called name.
func envVar(c corev1.Container, name string) (corev1.EnvVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return corev1.EnvVar{}, false
}
