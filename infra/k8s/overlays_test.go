package k8s_test

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// stripeMockImage is stripe-mock's official image.
const stripeMockImage = "stripe/stripe-mock"

// stripeMockTestKey is the shape of key stripe-mock accepts: a secret key of
// test mode in three parts, as its server's validateAuth checks
// (sk_test_123 passes, sk_test_a_b and sk_live_1 do not).
var stripeMockTestKey = regexp.MustCompile(`^sk_test_[^_]+$`)

// toolsStripeMock reads the stripe-mock version the tests and `make run`
// run, from tools/go.mod.
func toolsStripeMock(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(repoRoot + "/tools/go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*github\.com/stripe/stripe-mock (v\S+)`).FindStringSubmatch(string(raw))
	require.NotNil(t, m, "tools/go.mod requires stripe-mock")
	return m[1]
}

// paymentsContainer returns the payments service's container.
func paymentsContainer(t *testing.T, m *manifests) corev1.Container {
	t.Helper()
	d := m.deploymentNamed("payments-depl")
	require.NotNil(t, d, "Deployment payments-depl")
	require.NotEmpty(t, d.Spec.Template.Spec.Containers)
	return d.Spec.Template.Spec.Containers[0]
}

// In the overlays for a laptop, payments charges through stripe-mock in
// the cluster with a dummy test key that the overlay brings: nobody needs
// a Stripe account, and no charge leaves the cluster. Elsewhere it charges
// through Stripe with the operator's key.
func TestStripe_PaymentsChargesThroughStripeMockWhereNoKeyIsNeeded(t *testing.T) {
	documented := secretsInREADME(t)
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		c := paymentsContainer(t, m)
		key, ok := secretRef(c, "STRIPE_KEY")
		require.True(t, ok, "STRIPE_KEY comes from a Secret")
		base, hasBase := envVar(c, "STRIPE_API_BASE")
		var mocks []*workload
		for _, w := range m.workloads {
			for _, ctr := range w.Template.Spec.Containers {
				if name, _ := imageRef(ctr.Image); name == stripeMockImage {
					mocks = append(mocks, w)
				}
			}
		}
		if !o.stripeMock {
			assert.False(t, hasBase, "payments charges through Stripe itself")
			assert.Empty(t, mocks, "no stripe-mock")
			assert.Contains(t, documented["stripe-secret"], "STRIPE_KEY", "operators make stripe-secret")
			assert.Equal(t, "stripe-secret", key.Name, "the operator's Stripe key")
			return
		}

		mock := containerRunning(t, m, stripeMockImage)
		_, tag := imageRef(mock.Image)
		assert.Equal(t, toolsStripeMock(t), tag, "the stripe-mock of the tests and of make run")
		require.Len(t, mocks, 1)

		require.True(t, hasBase, "STRIPE_API_BASE points payments at stripe-mock")
		u, err := url.Parse(base.Value)
		require.NoError(t, err)
		assert.Equal(t, "http", u.Scheme)
		s := m.serviceNamed(u.Hostname())
		require.NotNil(t, s, "STRIPE_API_BASE names Service %s", u.Hostname())
		assert.Same(t, mocks[0], m.workloadOfService(t, s), "Service %s selects stripe-mock's pods", s.Name)
		i := slices.IndexFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return strconv.Itoa(int(p.Port)) == u.Port() })
		require.GreaterOrEqual(t, i, 0, "Service %s has port %s", s.Name, u.Port())
		target := s.Spec.Ports[i].TargetPort
		cp, ok := containerPort(mocks[0].Template.Spec, target.StrVal, target.IntVal)
		if assert.True(t, ok, "port %s of Service %s reaches a container port", u.Port(), s.Name) {
			assert.EqualValues(t, 12111, cp.ContainerPort, "stripe-mock's HTTP port")
		}

		assert.NotContains(t, documented, key.Name, "the dummy key needs no operator")
		secret := m.secretNamed(key.Name)
		require.NotNil(t, secret, "%s brings Secret %s", o, key.Name)
		assert.Regexp(t, stripeMockTestKey, string(secret.Data[key.Key]), "a test key stripe-mock accepts")
	})
}

// stripeMockTestKey must refuse what stripe-mock refuses, or the test above
// proves nothing.
func TestStripeMockTestKey_IsTheShapeStripeMockAccepts(t *testing.T) {
	for key, ok := range map[string]bool{
		"sk_test_123":         true,
		"sk_test_stripemock":  true,
		"sk_test_stripe_mock": false,
		"sk_live_123":         false,
		"pk_test_123":         false,
		"sk_test_":            false,
	} {
		assert.Equal(t, ok, stripeMockTestKey.MatchString(key), key)
	}
}

// requests sums what every pod of the manifests requests, replicas
// included.
func requests(m *manifests) corev1.ResourceList {
	sum := corev1.ResourceList{corev1.ResourceCPU: resource.Quantity{}, corev1.ResourceMemory: resource.Quantity{}}
	for _, w := range m.workloads {
		replicas := int32(1)
		if w.Replicas != nil {
			replicas = *w.Replicas
		}
		for _, c := range w.Template.Spec.Containers {
			for name, q := range c.Resources.Requests {
				total := sum[name]
				for range replicas {
					total.Add(q)
				}
				sum[name] = total
			}
		}
	}
	return sum
}

// The overlays for a laptop fit a 4 GiB minikube: what every pod requests
// stays within the budget, so that the scheduler places them all beside
// the cluster's own pods and the ingress controller.
func TestOverlays_RequestsFitTheirCluster(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		sum := requests(m)
		cpu, mem := sum[corev1.ResourceCPU], sum[corev1.ResourceMemory]
		t.Logf("%s requests %s CPU and %s of memory", o, cpu.String(), mem.String())
		if o.maxRequests == nil {
			return
		}
		for name, limit := range o.maxRequests {
			got := sum[name]
			assert.LessOrEqual(t, got.Cmp(limit), 0, "%s requests %s of %s, over %s", o, got.String(), name, limit.String())
		}
	})
}

func TestRequests_SumEveryReplicasContainers(t *testing.T) {
	three := int32(3)
	m := new(manifests)
	m.workloads = []*workload{{Replicas: &three, Template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("100Mi")}}},
		{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("28Mi")}}},
	}}}}}
	got := requests(m)[corev1.ResourceMemory]
	assert.Zero(t, got.Cmp(resource.MustParse("384Mi")), got.String())
}

// ingressController is where ingress-nginx's controller answers inside the
// cluster, in both installs docs/kubernetes.md describes.
const ingressController = "ingress-nginx-controller.ingress-nginx.svc.cluster.local"

// The client renders pages with the API's answers, asked through the way
// in: the ingress controller's Service, or the one a Gateway API
// implementation makes for the Gateway, named <gateway>-<class> as the
// Gateway API asks (GEP-1762), on the Gateway's HTTP listener.
func TestClient_CallsTheAPIThroughTheWayIn(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		v, ok := deploymentVar(t, m, "client-depl", "API_BASE_URL")
		require.True(t, ok, "API_BASE_URL")
		u, err := url.Parse(v)
		require.NoError(t, err)
		assert.Equal(t, "http", u.Scheme, "inside the cluster")
		assert.Contains(t, []string{"", "/"}, u.Path)
		if !o.gateway {
			assert.Equal(t, ingressController, u.Host)
			return
		}
		require.Len(t, m.gateways, 1)
		gw := m.gateways[0]
		assert.Equal(t, gw.Name+"-"+string(gw.Spec.GatewayClassName), u.Hostname(), "the Gateway's Service")
		assert.Empty(t, u.Port(), "the Gateway's HTTP listener, on port 80")
		assert.True(t, slices.ContainsFunc(gw.Spec.Listeners, func(l gatewayv1.Listener) bool {
			return l.Port == 80 && l.Protocol == gatewayv1.HTTPProtocolType
		}), "the Gateway listens for HTTP on port 80")
	})
}

// The guide tells how to deploy each overlay skaffold knows.
func TestKubernetesDoc_NamesEveryProfile(t *testing.T) {
	doc, err := os.ReadFile(repoRoot + "/docs/kubernetes.md")
	require.NoError(t, err)
	c := readSkaffold(t)
	require.NotEmpty(t, c.Profiles)
	for _, p := range c.Profiles {
		assert.Regexp(t, `skaffold (dev|run) -p `+regexp.QuoteMeta(p.Name)+`\b`, string(doc), "docs/kubernetes.md: profile %s", p.Name)
	}
	for _, o := range overlays {
		assert.True(t, strings.Contains(string(doc), "infra/k8s/"+o.dir), "docs/kubernetes.md names infra/k8s/%s", o.dir)
	}
}
