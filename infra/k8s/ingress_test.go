package k8s_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"ticketing.dev/infra/routes"
)

const host = "ticketing.dev"

// ingressPath is one path of the Ingresses for the host, with the app its
// backend Service sends to.
type ingressPath struct {
	ingress  string
	path     string
	pathType networkingv1.PathType
	app      string
}

// ingressPaths gathers the paths of every Ingress for the host: ingress-nginx
// merges them into one server.
func ingressPaths(t *testing.T) []ingressPath {
	t.Helper()
	m := loadManifests(t)
	require.NotEmpty(t, m.ingresses)
	var out []ingressPath
	for _, ing := range m.ingresses {
		if assert.NotNil(t, ing.Spec.IngressClassName, "%s: ingressClassName", ing.Name) {
			assert.Equal(t, "nginx", *ing.Spec.IngressClassName, ing.Name)
		}
		assert.Nil(t, ing.Spec.DefaultBackend, "%s: everything is routed by path", ing.Name)
		for _, rule := range ing.Spec.Rules {
			assert.Equal(t, host, rule.Host, ing.Name)
			require.NotNil(t, rule.HTTP, ing.Name)
			for _, p := range rule.HTTP.Paths {
				require.NotNil(t, p.PathType, "%s: path %s needs a pathType", ing.Name, p.Path)
				assert.Contains(t, []networkingv1.PathType{networkingv1.PathTypePrefix, networkingv1.PathTypeExact}, *p.PathType,
					"%s: path %s: ImplementationSpecific means something else to every controller", ing.Name, p.Path)
				require.NotNil(t, p.Backend.Service, "%s: path %s routes to a Service", ing.Name, p.Path)
				s := m.serviceNamed(p.Backend.Service.Name)
				require.NotNil(t, s, "%s: path %s: no Service %s", ing.Name, p.Path, p.Backend.Service.Name)
				port := p.Backend.Service.Port
				assert.True(t, slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool {
					return (port.Name != "" && sp.Name == port.Name) || (port.Name == "" && sp.Port == port.Number)
				}), "%s: path %s: Service %s has no port %v", ing.Name, p.Path, s.Name, port)
				out = append(out, ingressPath{ingress: ing.Name, path: p.Path, pathType: *p.PathType, app: app(m.workloadOfService(t, s))})
			}
		}
	}
	return out
}

// ingressMatch routes a request path as the Ingress API specifies: an Exact
// path matches itself; a Prefix path matches when its /-separated elements
// begin the request's; the longest matching path wins, Exact before Prefix.
func ingressMatch(paths []ingressPath, request string) (ingressPath, bool) {
	var best ingressPath
	found := false
	for _, p := range paths {
		var ok bool
		switch p.pathType {
		case networkingv1.PathTypeExact:
			ok = request == p.path
		case networkingv1.PathTypePrefix:
			ok = elementPrefix(p.path, request)
		}
		if !ok {
			continue
		}
		longer := len(p.path) > len(best.path) ||
			(len(p.path) == len(best.path) && p.pathType == networkingv1.PathTypeExact)
		if !found || longer {
			best, found = p, true
		}
	}
	return best, found
}

func elementPrefix(prefix, path string) bool {
	split := func(s string) []string {
		return strings.FieldsFunc(s, func(r rune) bool { return r == '/' })
	}
	want, got := split(prefix), split(path)
	return strings.HasPrefix(path, "/") && len(want) <= len(got) && slices.Equal(want, got[:len(want)])
}

func TestIngress_HasAPrefixPathForEachRouteOfTheGatewayTable(t *testing.T) {
	paths := ingressPaths(t)
	var prefixes []string
	for _, p := range paths {
		if p.pathType == networkingv1.PathTypePrefix {
			prefixes = append(prefixes, p.path)
		}
	}
	var want []string
	for _, r := range routes.Table {
		want = append(want, r.Prefix)
		i := slices.IndexFunc(paths, func(p ingressPath) bool {
			return p.path == r.Prefix && p.pathType == networkingv1.PathTypePrefix
		})
		if assert.GreaterOrEqual(t, i, 0, "no Prefix path %s", r.Prefix) {
			assert.Equal(t, r.Service, paths[i].app, "%s goes to %s in the gateway", r.Prefix, r.Service)
		}
	}
	assert.ElementsMatch(t, want, prefixes, "the Ingress's Prefix paths are exactly the routing table's prefixes")
}

func TestIngress_RoutesEveryPathToTheSameServiceAsTheGateway(t *testing.T) {
	paths := ingressPaths(t)
	requests := []string{"/", "/api", "/api/", "/x", "/tickets/new", "/orders/507f1f77bcf86cd799439011",
		"/api/users/currentuser", "/api/tickets/507f1f77bcf86cd799439011", "/healthz"}
	for _, r := range routes.Table {
		requests = append(requests, r.Prefix, r.Prefix+"/", r.Prefix+"/x", r.Prefix+"x", r.Prefix+"/x/y", r.Prefix+"-x/y")
	}
	for _, p := range paths {
		requests = append(requests, p.path, p.path+"/", p.path+"x", p.path+"/x")
	}
	for _, req := range requests {
		want, ok := routes.Match(req)
		require.True(t, ok, req)
		got, ok := ingressMatch(paths, req)
		if assert.True(t, ok, "the Ingress routes %s nowhere", req) {
			assert.Equal(t, want, got.app, "%s: the gateway sends it to %s, the Ingress (%s %s %s) to %s",
				req, want, got.ingress, got.pathType, got.path, got.app)
		}
	}
}

func TestIngress_PathsAreUnique(t *testing.T) {
	seen := map[string]string{}
	for _, p := range ingressPaths(t) {
		key := string(p.pathType) + " " + p.path
		if prev, dup := seen[key]; dup {
			t.Errorf("%s is in both %s and %s", key, prev, p.ingress)
		}
		seen[key] = p.ingress
	}
}

// The Ingress serves ticketing.dev with a certificate of its own, from the
// TLS Secret the Kubernetes guide tells how to make.
func TestIngress_ServesTheHostOverTLSFromTheDocumentedSecret(t *testing.T) {
	m := loadManifests(t)
	guide, err := os.ReadFile(repoRoot + "/docs/kubernetes.md")
	require.NoError(t, err)
	require.NotEmpty(t, m.ingresses)
	for _, ing := range m.ingresses {
		var secret string
		for _, tls := range ing.Spec.TLS {
			if slices.Contains(tls.Hosts, host) {
				secret = tls.SecretName
			}
		}
		if assert.NotEmpty(t, secret, "%s: a tls block for %s with a secret", ing.Name, host) {
			assert.Contains(t, string(guide), "kubectl create secret tls "+secret+" ", "the guide makes %s", secret)
		}
	}
}
