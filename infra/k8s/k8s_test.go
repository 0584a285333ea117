package k8s_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kustypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"ticketing.dev/common/bus"
)

// repoRoot is the repository root, seen from this package's folder (go test
// runs in it).
const repoRoot = "../.."

// overlay is one kustomization the tests render and check as skaffold
// would deploy it, and what sets it apart from the others. Every check runs
// on every overlay; the fields say what a check should find in each.
type overlay struct {
	// dir is the kustomization's folder, relative to this one.
	dir string
	// deployed tells whether skaffold deploys it: the base is there to be
	// built upon, not deployed on its own.
	deployed bool
	// profile is the skaffold profile that deploys it, "" for skaffold.yaml
	// without one. Its build decides which images skaffold builds for it.
	profile string
	// replicas is the number of pods of each ticketing service.
	replicas int32
	// stripeMock tells whether payments charges through stripe-mock in the
	// cluster, with a dummy key, rather than through Stripe.
	stripeMock bool
	// gateway tells whether the way in is a Gateway API Gateway rather than
	// an ingress-nginx Ingress.
	gateway bool
	// transport is the event bus the services speak, bus.STAN (NATS
	// Streaming) or bus.JetStream, and so what the StatefulSet nats runs.
	transport string
	// host is the site's host name.
	host string
	// certManager tells whether cert-manager issues the site's certificate,
	// rather than an operator making its Secret by hand.
	certManager bool
	// durableMongo tells whether the MongoDBs keep their data on
	// PersistentVolumeClaims.
	durableMongo bool
	// registry prefixes the images of the ticketing services, and
	// releaseTag tags them, when the overlay names released images; both
	// are empty when skaffold alone tags what it builds.
	registry, releaseTag string
	// maxRequests bounds the sum of every pod's resource requests, for the
	// overlays meant for a laptop's cluster.
	maxRequests corev1.ResourceList
}

func (o overlay) String() string { return path.Base(o.dir) }

// laptop is what the overlays for a local cluster may request in all: a
// 4 GiB minikube with 2 CPUs runs its own pods (about 0.75 CPU and 0.3 GiB
// of requests) and the ingress controller beside the application.
var laptop = corev1.ResourceList{
	corev1.ResourceCPU:    resource.MustParse("1"),
	corev1.ResourceMemory: resource.MustParse("1.5Gi"),
}

// overlays are every kustomization skaffold can deploy, and the base they
// share.
var overlays = []overlay{
	{dir: "base", replicas: 2, transport: bus.STAN, host: "ticketing.dev"},
	{dir: "overlays/dev", deployed: true, replicas: 1, stripeMock: true, transport: bus.STAN, host: "ticketing.dev", maxRequests: laptop},
	{dir: "overlays/gateway", deployed: true, profile: "gateway", replicas: 1, stripeMock: true, gateway: true,
		transport: bus.STAN, host: "ticketing.dev", maxRequests: laptop},
	{dir: "overlays/jetstream", deployed: true, profile: "jetstream", replicas: 1, stripeMock: true,
		transport: bus.JetStream, host: "ticketing.dev", maxRequests: laptop},
	{dir: "overlays/prod", deployed: true, profile: "prod", replicas: 2, transport: bus.STAN, host: "ticketing.example.com",
		certManager: true, durableMongo: true, registry: "registry.example.com/", releaseTag: "v0.1.0"},
}

// natsImage is the image of the StatefulSet nats in overlay o: NATS
// Streaming's, or the NATS server's for JetStream.
func natsImage(o overlay) string {
	if o.transport == bus.JetStream {
		return "nats"
	}
	return "nats-streaming"
}

// overlayNamed returns the overlay in folder dir.
func overlayNamed(t *testing.T, dir string) overlay {
	t.Helper()
	i := slices.IndexFunc(overlays, func(o overlay) bool { return o.dir == dir })
	require.GreaterOrEqual(t, i, 0, "no overlay %s", dir)
	return overlays[i]
}

// forEachOverlay runs check as a subtest per overlay, on what it renders.
func forEachOverlay(t *testing.T, check func(t *testing.T, o overlay, m *manifests)) {
	t.Helper()
	for _, o := range overlays {
		t.Run(o.String(), func(t *testing.T) { check(t, o, render(t, o)) })
	}
}

// forEachOverlayInParallel is forEachOverlay for checks that mostly wait,
// such as on the processes they start: the overlays' subtests run in
// parallel with one another.
func forEachOverlayInParallel(t *testing.T, check func(t *testing.T, o overlay, m *manifests)) {
	t.Helper()
	for _, o := range overlays {
		t.Run(o.String(), func(t *testing.T) {
			t.Parallel()
			check(t, o, render(t, o))
		})
	}
}

// baseKustomization is the whole of the base's kustomization.yaml: the
// base is deployed as written, and what differs is the overlays' business.
type baseKustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

// object is one object an overlay renders, decoded.
type object struct {
	overlay string
	kind    string
	name    string
	obj     runtime.Object
}

func (o object) String() string { return fmt.Sprintf("%s: %s/%s", o.overlay, o.kind, o.name) }

// manifests is everything an overlay renders, by kind.
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
	secrets      []*corev1.Secret
	gateways     []*gatewayv1.Gateway
	httpRoutes   []*gatewayv1.HTTPRoute
	decodeErrors []error
}

// strictDecoder decodes YAML or JSON into the Kubernetes API types of the
// kinds these manifests may use, failing on unknown and duplicate fields.
func strictDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		appsv1.AddToScheme, corev1.AddToScheme, networkingv1.AddToScheme, policyv1.AddToScheme, gatewayv1.Install,
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

func readBaseKustomization(t *testing.T) baseKustomization {
	t.Helper()
	raw, err := os.ReadFile("base/kustomization.yaml")
	require.NoError(t, err)
	var k baseKustomization
	require.NoError(t, yaml.UnmarshalStrict(raw, &k), "base/kustomization.yaml may hold only apiVersion, kind and resources")
	return k
}

// readKustomization reads the kustomization.yaml of folder dir.
func readKustomization(t *testing.T, dir string) kustypes.Kustomization {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	require.NoError(t, err)
	var k kustypes.Kustomization
	require.NoError(t, yaml.UnmarshalStrict(raw, &k), "%s/kustomization.yaml", dir)
	return k
}

// rendered holds an overlay's manifests, rendered once per test binary.
var rendered sync.Map // dir → *renderOnce

type renderOnce struct {
	once sync.Once
	m    *manifests
	err  error
}

// render builds the overlay with kustomize, as skaffold does, and decodes
// what it makes, once per test binary. Strict decoding errors are kept for
// the test that reports them; the other tests look at whatever decoded.
func render(t *testing.T, o overlay) *manifests {
	t.Helper()
	v, _ := rendered.LoadOrStore(o.dir, new(renderOnce))
	r := v.(*renderOnce)
	r.once.Do(func() { r.m, r.err = build(o) })
	require.NoError(t, r.err, "kustomize build %s", o.dir)
	return r.m
}

func build(o overlay) (*manifests, error) {
	resources, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), o.dir)
	if err != nil {
		return nil, err
	}
	m := new(manifests)
	decoder := strictDecoder()
	for _, res := range resources.Resources() {
		doc, err := res.AsYAML()
		if err != nil {
			return nil, err
		}
		id := object{overlay: o.String(), kind: res.GetKind(), name: res.GetName()}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if err != nil {
			m.decodeErrors = append(m.decodeErrors, fmt.Errorf("%s: %w", id, err))
			if !runtime.IsStrictDecodingError(err) {
				continue
			}
		}
		id.obj = obj
		m.add(id)
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
	case *corev1.Secret:
		m.secrets = append(m.secrets, v)
	case *gatewayv1.Gateway:
		m.gateways = append(m.gateways, v)
	case *gatewayv1.HTTPRoute:
		m.httpRoutes = append(m.httpRoutes, v)
	}
}

// kustomizeDirs lists the folders under this one that hold a
// kustomization.yaml: the base, the overlays and the components.
func kustomizeDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "kustomization.yaml" {
			dirs = append(dirs, filepath.Dir(p))
		}
		return nil
	})
	require.NoError(t, err)
	slices.Sort(dirs)
	return dirs
}

// manifestFiles lists the YAML files in folder dir but its
// kustomization.yaml.
func manifestFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		matches, err := filepath.Glob(filepath.Join(dir, pattern))
		require.NoError(t, err)
		for _, f := range matches {
			files = append(files, filepath.Base(f))
		}
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

// named returns the object of objs called name, or nil.
func named[T metav1.Object](objs []T, name string) T {
	for _, o := range objs {
		if o.GetName() == name {
			return o
		}
	}
	var none T
	return none
}

// serviceNamed returns the Service called name, or nil.
func (m *manifests) serviceNamed(name string) *corev1.Service { return named(m.services, name) }

// configMapNamed returns the ConfigMap called name, or nil.
func (m *manifests) configMapNamed(name string) *corev1.ConfigMap { return named(m.configMaps, name) }

// secretNamed returns the Secret called name, or nil.
func (m *manifests) secretNamed(name string) *corev1.Secret { return named(m.secrets, name) }

// deploymentNamed returns the Deployment called name, or nil.
func (m *manifests) deploymentNamed(name string) *appsv1.Deployment {
	return named(m.deployments, name)
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

// decodeYAMLStream decodes every document of a YAML stream strictly, for
// the tests that compare another tool's rendering with this one.
func decodeYAMLStream(t *testing.T, raw []byte) []runtime.Object {
	t.Helper()
	docs, err := yamlDocuments(bytes.NewReader(raw))
	require.NoError(t, err)
	decoder := strictDecoder()
	var out []runtime.Object
	for _, doc := range docs {
		obj, _, err := decoder.Decode(doc, nil, nil)
		require.NoError(t, err)
		out = append(out, obj)
	}
	return out
}
