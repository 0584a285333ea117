package k8s_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"ticketing.dev/common/bus"
)

// namespace stands for the one skaffold deploys to, whatever its name.
const namespace = "ticketing"

// endpoint is one end of a connection: a pod, here or in another
// namespace, or an address outside the cluster.
type endpoint struct {
	name      string
	namespace string            // "" for an address outside the cluster
	nsLabels  map[string]string // the namespace's labels
	labels    map[string]string // the pod's
	ip        netip.Addr
	ports     []corev1.ContainerPort // what it listens on
}

func (e endpoint) local() bool { return e.namespace == namespace }

func tcp(ports ...int32) []corev1.ContainerPort {
	var out []corev1.ContainerPort
	for _, p := range ports {
		out = append(out, corev1.ContainerPort{ContainerPort: p, Protocol: corev1.ProtocolTCP})
	}
	return out
}

// outsiders are the endpoints the flows involve beyond the namespace's
// pods, and some that no flow should reach.
func outsiders() []endpoint {
	ns := func(name string) map[string]string { return map[string]string{"kubernetes.io/metadata.name": name} }
	return []endpoint{
		{name: "ingress-controller", namespace: "ingress-nginx", nsLabels: ns("ingress-nginx"),
			labels: map[string]string{"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
			ip:     netip.MustParseAddr("10.244.9.1"), ports: tcp(80, 443)},
		{name: "kube-dns", namespace: "kube-system", nsLabels: ns("kube-system"),
			labels: map[string]string{"k8s-app": "kube-dns"}, ip: netip.MustParseAddr("10.244.9.2"),
			ports: append(tcp(53), corev1.ContainerPort{ContainerPort: 53, Protocol: corev1.ProtocolUDP})},
		// NGINX Gateway Fabric's control plane, which configures the
		// Gateway's proxy.
		{name: "gateway-controller", namespace: "nginx-gateway", nsLabels: ns("nginx-gateway"),
			labels: map[string]string{"app.kubernetes.io/name": "nginx-gateway", "app.kubernetes.io/instance": "nginx-gateway"},
			ip:     netip.MustParseAddr("10.244.9.6"), ports: tcp(8443, 9113)},
		{name: "prometheus", namespace: "monitoring", nsLabels: ns("monitoring"),
			labels: map[string]string{"app.kubernetes.io/name": "prometheus"}, ip: netip.MustParseAddr("10.244.9.3"), ports: tcp(9090)},
		// A pod of another namespace wearing the labels of one of ours.
		{name: "impostor", namespace: "default", nsLabels: ns("default"),
			labels: map[string]string{"app": "tickets"}, ip: netip.MustParseAddr("10.244.9.4"), ports: tcp(3000)},
		// A pod of ours that no policy names, such as a debugging shell.
		{name: "stranger", namespace: namespace, nsLabels: ns(namespace),
			labels: map[string]string{"app": "debug"}, ip: netip.MustParseAddr("10.244.9.5"), ports: tcp(3000)},
		{name: "internet", ip: netip.MustParseAddr("54.187.174.169"), ports: tcp(80, 443)},
		{name: "internet6", ip: netip.MustParseAddr("2600:1f14::1"), ports: tcp(443)},
		{name: "cloud-metadata", ip: netip.MustParseAddr("169.254.169.254"), ports: tcp(80, 443)},
		{name: "node", ip: netip.MustParseAddr("192.168.49.2"), ports: tcp(443, 10250)},
	}
}

// gatewayProxy is the pod that a Gateway API implementation runs for the
// overlay's Gateway, in the namespace: labelled with the Gateway's name as
// every in-cluster implementation must (GEP-1762), and with the Gateway's
// infrastructure labels, listening on the listeners' ports.
func gatewayProxy(t *testing.T, m *manifests) (endpoint, bool) {
	t.Helper()
	if len(m.gateways) == 0 {
		return endpoint{}, false
	}
	require.Len(t, m.gateways, 1)
	gw := m.gateways[0]
	e := endpoint{name: "gateway", namespace: namespace, nsLabels: map[string]string{"kubernetes.io/metadata.name": namespace},
		labels: map[string]string{gatewayv1.GatewayNameLabelKey: gw.Name}, ip: netip.MustParseAddr("10.244.1.200")}
	if gw.Spec.Infrastructure != nil {
		for k, v := range gw.Spec.Infrastructure.Labels {
			e.labels[string(k)] = string(v)
		}
	}
	seen := map[gatewayv1.PortNumber]bool{}
	for _, l := range gw.Spec.Listeners {
		if !seen[l.Port] {
			seen[l.Port] = true
			e.ports = append(e.ports, tcp(int32(l.Port))...)
		}
	}
	return e, true
}

// acmeSolver is the pod cert-manager runs in the namespace to answer an
// HTTP-01 challenge, while it obtains or renews a certificate.
var acmeSolver = endpoint{name: "acme-solver", namespace: namespace, nsLabels: map[string]string{"kubernetes.io/metadata.name": namespace},
	labels: map[string]string{"acme.cert-manager.io/http01-solver": "true"}, ip: netip.MustParseAddr("10.244.1.201"), ports: tcp(8089)}

// endpoints returns the namespace's pods, one per workload and named by its
// app label, the pods that controllers run there for the overlay (the
// Gateway's proxy, cert-manager's solver), and the outsiders.
func endpoints(t *testing.T, o overlay, m *manifests) []endpoint {
	t.Helper()
	var out []endpoint
	if proxy, ok := gatewayProxy(t, m); ok {
		out = append(out, proxy)
	}
	if o.certManager {
		out = append(out, acmeSolver)
	}
	for i, w := range m.workloads {
		e := endpoint{name: app(w), namespace: namespace, nsLabels: map[string]string{"kubernetes.io/metadata.name": namespace},
			labels: w.Template.Labels, ip: netip.AddrFrom4([4]byte{10, 244, 1, byte(i + 1)})}
		for _, c := range w.Template.Spec.Containers {
			for _, p := range c.Ports {
				p.Protocol = protocolOrTCP(p.Protocol)
				e.ports = append(e.ports, p)
			}
		}
		out = append(out, e)
	}
	return append(out, outsiders()...)
}

func selects(t *testing.T, s *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	sel, err := metav1.LabelSelectorAsSelector(s)
	require.NoError(t, err)
	return sel.Matches(labels.Set(l))
}

// peerMatches tells whether a policy's peer, in the policy's namespace,
// names e.
func peerMatches(t *testing.T, p networkingv1.NetworkPolicyPeer, e endpoint) bool {
	if p.IPBlock != nil {
		cidr := netip.MustParsePrefix(p.IPBlock.CIDR)
		if !cidr.Contains(e.ip) {
			return false
		}
		for _, ex := range p.IPBlock.Except {
			if netip.MustParsePrefix(ex).Contains(e.ip) {
				return false
			}
		}
		return true
	}
	if e.namespace == "" {
		return false // selectors name pods, not addresses
	}
	if p.NamespaceSelector == nil {
		return e.local() && selects(t, p.PodSelector, e.labels)
	}
	return selects(t, p.NamespaceSelector, e.nsLabels) && (p.PodSelector == nil || selects(t, p.PodSelector, e.labels))
}

// portMatches tells whether a rule's ports admit port of dst. Named ports
// are the destination pod's.
func portMatches(rule []networkingv1.NetworkPolicyPort, port corev1.ContainerPort) bool {
	if len(rule) == 0 {
		return true
	}
	for _, p := range rule {
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if proto != port.Protocol {
			continue
		}
		switch {
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String:
			if p.Port.StrVal == port.Name && port.Name != "" {
				return true
			}
		case p.EndPort != nil:
			if port.ContainerPort >= p.Port.IntVal && port.ContainerPort <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == port.ContainerPort:
			return true
		}
	}
	return false
}

// allowed tells whether the namespace's policies let src connect to port
// of dst: the egress of a source here and the ingress of a destination
// here must both allow it. A pod that no policy of a direction selects is
// not isolated in that direction.
func allowed(t *testing.T, pols []*networkingv1.NetworkPolicy, src, dst endpoint, port corev1.ContainerPort) bool {
	out, in := !src.local(), !dst.local()
	outIsolated, inIsolated := false, false
	for _, np := range pols {
		if src.local() && selects(t, &np.Spec.PodSelector, src.labels) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
			outIsolated = true
			for _, r := range np.Spec.Egress {
				if portMatches(r.Ports, port) && (len(r.To) == 0 || slices.ContainsFunc(r.To, func(p networkingv1.NetworkPolicyPeer) bool { return peerMatches(t, p, dst) })) {
					out = true
				}
			}
		}
		if dst.local() && selects(t, &np.Spec.PodSelector, dst.labels) && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			inIsolated = true
			for _, r := range np.Spec.Ingress {
				if portMatches(r.Ports, port) && (len(r.From) == 0 || slices.ContainsFunc(r.From, func(p networkingv1.NetworkPolicyPeer) bool { return peerMatches(t, p, src) })) {
					in = true
				}
			}
		}
	}
	return (out || !outIsolated) && (in || !inIsolated)
}

// flow names a connection as "src → dst:port/protocol".
func flow(src, dst string, port int32, proto corev1.Protocol) string {
	return fmt.Sprintf("%s → %s:%d/%s", src, dst, port, proto)
}

// routed are the apps the way in routes to.
var routed = []string{"auth", "tickets", "orders", "payments", "client"}

// expectedFlows are the connections the system needs in an overlay, and
// the only ones its NetworkPolicies may allow.
func expectedFlows(o overlay) []string {
	var want []string
	if o.gateway {
		// The proxy is a pod of the namespace, and the site's front door:
		// anything outside the namespace may reach it, the client's pods
		// too, and it reaches the routed services, the cluster's DNS and
		// its control plane.
		for _, e := range outsiders() {
			if e.namespace != namespace {
				want = append(want, flow(e.name, "gateway", 80, corev1.ProtocolTCP), flow(e.name, "gateway", 443, corev1.ProtocolTCP))
			}
		}
		for _, s := range routed {
			want = append(want, flow("gateway", s, 3000, corev1.ProtocolTCP))
		}
		want = append(want, flow("client", "gateway", 80, corev1.ProtocolTCP),
			flow("gateway", "kube-dns", 53, corev1.ProtocolUDP), flow("gateway", "kube-dns", 53, corev1.ProtocolTCP),
			flow("gateway", "gateway-controller", 8443, corev1.ProtocolTCP))
	} else {
		for _, s := range routed {
			want = append(want, flow("ingress-controller", s, 3000, corev1.ProtocolTCP))
		}
		want = append(want, flow("client", "ingress-controller", 80, corev1.ProtocolTCP))
		if o.certManager {
			want = append(want, flow("ingress-controller", "acme-solver", 8089, corev1.ProtocolTCP))
		}
	}
	for _, s := range []string{"auth", "tickets", "orders", "payments"} {
		want = append(want, flow(s, s+"-mongo", 27017, corev1.ProtocolTCP))
	}
	want = append(want, flow("expiration", "expiration-redis", 6379, corev1.ProtocolTCP))
	for _, s := range []string{"tickets", "orders", "payments", "expiration"} {
		want = append(want, flow(s, "nats", 4222, corev1.ProtocolTCP))
	}
	if o.transport == bus.JetStream {
		// The cluster's routes, to the servers' names.
		want = append(want, flow("nats", "nats", 6222, corev1.ProtocolTCP),
			flow("nats", "kube-dns", 53, corev1.ProtocolUDP), flow("nats", "kube-dns", 53, corev1.ProtocolTCP))
	}
	for _, s := range []string{"auth", "tickets", "orders", "payments", "expiration", "client"} {
		want = append(want,
			flow(s, "kube-dns", 53, corev1.ProtocolUDP), flow(s, "kube-dns", 53, corev1.ProtocolTCP),
			flow("prometheus", s, metricsPort, corev1.ProtocolTCP))
	}
	if o.stripeMock {
		want = append(want, flow("payments", "stripe-mock", 12111, corev1.ProtocolTCP))
	} else {
		want = append(want, flow("payments", "internet", 443, corev1.ProtocolTCP), flow("payments", "internet6", 443, corev1.ProtocolTCP))
	}
	slices.Sort(want)
	return want
}

func TestNetworkPolicies_AllowEveryNeededFlowAndNothingElse(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		require.NotEmpty(t, m.netpols)
		eps := endpoints(t, o, m)
		var got []string
		for _, src := range eps {
			for _, dst := range eps {
				// From one endpoint to itself is from a pod to another
				// of the same workload, such as NATS's cluster routes.
				if !src.local() && !dst.local() {
					continue
				}
				for _, p := range dst.ports {
					if allowed(t, m.netpols, src, dst, p) {
						got = append(got, flow(src.name, dst.name, p.ContainerPort, p.Protocol))
					}
				}
			}
		}
		slices.Sort(got)
		want := expectedFlows(o)
		assert.Empty(t, diff(got, want), "allowed but not needed")
		assert.Empty(t, diff(want, got), "needed but not allowed")
		t.Logf("allowed:\n%s", strings.Join(got, "\n"))
	})
}

// diff returns what a holds and b does not.
func diff(a, b []string) []string {
	return slices.DeleteFunc(slices.Clone(a), func(s string) bool { return slices.Contains(b, s) })
}

func TestNetworkPolicies_DenyEveryPodsIngressAndEgressByDefault(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		var found []string
		for _, np := range m.netpols {
			everyPod := len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0
			if everyPod && len(np.Spec.Ingress) == 0 && len(np.Spec.Egress) == 0 &&
				slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) &&
				slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
				found = append(found, np.Name)
			}
		}
		assert.Len(t, found, 1, "one policy selects every pod and allows nothing in or out")
	})
}

// The evaluation above must see what a cluster would: these cases check
// it on policies written for them.
func TestAllowed_ReadsPoliciesAsAClusterDoes(t *testing.T) {
	here := func(name string, l map[string]string, ports ...int32) endpoint {
		return endpoint{name: name, namespace: namespace, nsLabels: map[string]string{"kubernetes.io/metadata.name": namespace},
			labels: l, ip: netip.MustParseAddr("10.244.0.1"), ports: tcp(ports...)}
	}
	a, b := here("a", map[string]string{"app": "a"}), here("b", map[string]string{"app": "b"}, 80)
	b.ports[0].Name = "http"
	port := b.ports[0]
	udp := corev1.ProtocolUDP
	ingressFromA := func(p networkingv1.NetworkPolicyPort) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "b"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}}}},
				Ports: []networkingv1.NetworkPolicyPort{p},
			}},
		}}
	}
	denyAll := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
	}}
	named, number, wrong := intstr.FromString("http"), intstr.FromInt32(80), intstr.FromInt32(81)
	tests := []struct {
		name string
		pols []*networkingv1.NetworkPolicy
		want bool
	}{
		{"no policy isolates nobody", nil, true},
		{"deny all", []*networkingv1.NetworkPolicy{denyAll}, false},
		{"ingress alone leaves egress open", []*networkingv1.NetworkPolicy{ingressFromA(networkingv1.NetworkPolicyPort{Port: &number})}, true},
		{"ingress but egress denied", []*networkingv1.NetworkPolicy{denyAll, ingressFromA(networkingv1.NetworkPolicyPort{Port: &number})}, false},
		{"named port", []*networkingv1.NetworkPolicy{ingressFromA(networkingv1.NetworkPolicyPort{Port: &named})}, true},
		{"other port", []*networkingv1.NetworkPolicy{ingressFromA(networkingv1.NetworkPolicyPort{Port: &wrong})}, false},
		{"other protocol", []*networkingv1.NetworkPolicy{ingressFromA(networkingv1.NetworkPolicyPort{Protocol: &udp, Port: &number})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, allowed(t, tt.pols, a, b, port))
		})
	}
	impostor := b
	impostor.namespace, impostor.nsLabels = "default", map[string]string{"kubernetes.io/metadata.name": "default"}
	pol := ingressFromA(networkingv1.NetworkPolicyPort{Port: &number})
	assert.False(t, allowed(t, []*networkingv1.NetworkPolicy{pol}, impostor, b, port), "a pod selector names pods of the policy's namespace only")
}

func TestNATSService_ExposesOnlyTheClientPort(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		s := m.serviceNamed("nats-srv")
		require.NotNil(t, s)
		require.Len(t, s.Spec.Ports, 1, "monitoring is for the probes")
		assert.EqualValues(t, 4222, s.Spec.Ports[0].Port)
	})
}
