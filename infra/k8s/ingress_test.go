package k8s_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"ticketing.dev/infra/routes"
)

// routePath is one path of the way in, an Ingress or an HTTPRoute, for
// the site's host: how it matches, and the Service and app it sends to.
type routePath struct {
	from     string // the Ingress or HTTPRoute
	path     string
	exact    bool // an Exact path, not a prefix of whole segments
	service  string
	port     int32
	app      string
	pathType string // as the object says it
}

// servicePort checks that Service name has port number (or name) and
// returns the app of the pods it selects.
func servicePort(t *testing.T, m *manifests, where, name string, portName string, port int32) string {
	t.Helper()
	s := m.serviceNamed(name)
	require.NotNil(t, s, "%s: no Service %s", where, name)
	assert.True(t, slices.ContainsFunc(s.Spec.Ports, func(sp corev1.ServicePort) bool {
		return (portName != "" && sp.Name == portName) || (portName == "" && sp.Port == port)
	}), "%s: Service %s has no port %s%d", where, s.Name, portName, port)
	return app(m.workloadOfService(t, s))
}

// wayInPaths gathers the paths the overlay's way in routes for its host:
// those of every Ingress (ingress-nginx merges them into one server), or
// those of every HTTPRoute, and never both.
func wayInPaths(t *testing.T, o overlay, m *manifests) []routePath {
	t.Helper()
	if o.gateway {
		assert.Empty(t, m.ingresses, "%s: the Gateway is the way in, not an Ingress", o)
		return httpRoutePaths(t, o, m)
	}
	assert.Empty(t, m.gateways, "%s: the Ingress is the way in, not a Gateway", o)
	assert.Empty(t, m.httpRoutes, "%s: the Ingress is the way in", o)
	return ingressPaths(t, o, m)
}

func ingressPaths(t *testing.T, o overlay, m *manifests) []routePath {
	t.Helper()
	require.NotEmpty(t, m.ingresses)
	var out []routePath
	for _, ing := range m.ingresses {
		if assert.NotNil(t, ing.Spec.IngressClassName, "%s: ingressClassName", ing.Name) {
			assert.Equal(t, "nginx", *ing.Spec.IngressClassName, ing.Name)
		}
		assert.Nil(t, ing.Spec.DefaultBackend, "%s: everything is routed by path", ing.Name)
		for _, rule := range ing.Spec.Rules {
			assert.Equal(t, o.host, rule.Host, ing.Name)
			require.NotNil(t, rule.HTTP, ing.Name)
			for _, p := range rule.HTTP.Paths {
				require.NotNil(t, p.PathType, "%s: path %s needs a pathType", ing.Name, p.Path)
				assert.Contains(t, []networkingv1.PathType{networkingv1.PathTypePrefix, networkingv1.PathTypeExact}, *p.PathType,
					"%s: path %s: ImplementationSpecific means something else to every controller", ing.Name, p.Path)
				require.NotNil(t, p.Backend.Service, "%s: path %s routes to a Service", ing.Name, p.Path)
				b := p.Backend.Service
				out = append(out, routePath{
					from: "Ingress " + ing.Name, path: p.Path, exact: *p.PathType == networkingv1.PathTypeExact,
					service: b.Name, port: b.Port.Number, pathType: string(*p.PathType),
					app: servicePort(t, m, ing.Name+" "+p.Path, b.Name, b.Port.Name, b.Port.Number),
				})
			}
		}
	}
	return out
}

// httpRoutePaths reads the HTTPRoutes attached to the overlay's Gateway. A
// rule with several matches, or a match on more than the path, would route
// in ways the local gateway does not: they are refused.
func httpRoutePaths(t *testing.T, o overlay, m *manifests) []routePath {
	t.Helper()
	require.Len(t, m.gateways, 1, "one Gateway")
	gw := m.gateways[0]
	require.NotEmpty(t, m.httpRoutes)
	var out []routePath
	for _, r := range m.httpRoutes {
		require.Len(t, r.Spec.ParentRefs, 1, "%s attaches to the Gateway", r.Name)
		parent := r.Spec.ParentRefs[0]
		assert.Equal(t, gw.Name, string(parent.Name), "%s: parent", r.Name)
		assert.True(t, parent.Kind == nil || *parent.Kind == "Gateway", "%s: parent is a Gateway", r.Name)
		assert.Nil(t, parent.Namespace, "%s: the Gateway of this namespace", r.Name)
		assert.Nil(t, parent.SectionName, "%s: every listener of the Gateway, HTTP for the client's pods and HTTPS for browsers", r.Name)
		assert.Equal(t, []gatewayv1.Hostname{gatewayv1.Hostname(o.host)}, r.Spec.Hostnames, r.Name)
		for i, rule := range r.Spec.Rules {
			where := fmt.Sprintf("%s rule %d", r.Name, i+1)
			assert.Empty(t, rule.Filters, "%s: no rewriting or redirect", where)
			require.Len(t, rule.Matches, 1, "%s: one match per rule", where)
			match := rule.Matches[0]
			assert.Empty(t, match.Headers, where)
			assert.Empty(t, match.QueryParams, where)
			assert.Nil(t, match.Method, where)
			require.NotNil(t, match.Path, "%s: matches a path", where)
			require.NotNil(t, match.Path.Type, "%s: a path type, as the Ingress has", where)
			require.NotNil(t, match.Path.Value, where)
			assert.Contains(t, []gatewayv1.PathMatchType{gatewayv1.PathMatchPathPrefix, gatewayv1.PathMatchExact}, *match.Path.Type,
				"%s: a regular expression means something else to every implementation", where)
			require.Len(t, rule.BackendRefs, 1, "%s: one backend", where)
			b := rule.BackendRefs[0].BackendObjectReference
			assert.True(t, (b.Kind == nil || *b.Kind == "Service") && (b.Group == nil || *b.Group == ""), "%s: the backend is a Service", where)
			assert.Nil(t, b.Namespace, "%s: a Service of this namespace", where)
			require.NotNil(t, b.Port, "%s: the backend names its port", where)
			out = append(out, routePath{
				from: "HTTPRoute " + r.Name, path: *match.Path.Value, exact: *match.Path.Type == gatewayv1.PathMatchExact,
				service: string(b.Name), port: int32(*b.Port), pathType: string(*match.Path.Type),
				app: servicePort(t, m, where, string(b.Name), "", int32(*b.Port)),
			})
		}
	}
	return out
}

// routeMatch routes a request path as the Ingress API and the Gateway API
// both specify: an exact path matches itself; a prefix matches when its
// /-separated elements begin the request's; the longest matching path
// wins, exact before prefix.
func routeMatch(paths []routePath, request string) (routePath, bool) {
	var best routePath
	found := false
	for _, p := range paths {
		var ok bool
		if p.exact {
			ok = request == p.path
		} else {
			ok = elementPrefix(p.path, request)
		}
		if !ok {
			continue
		}
		longer := len(p.path) > len(best.path) || (len(p.path) == len(best.path) && p.exact)
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

func TestWayIn_HasAPrefixPathForEachRouteOfTheLocalGatewaysTable(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		paths := wayInPaths(t, o, m)
		var prefixes []string
		for _, p := range paths {
			if !p.exact {
				prefixes = append(prefixes, p.path)
			}
		}
		var want []string
		for _, r := range routes.Table {
			want = append(want, r.Prefix)
			i := slices.IndexFunc(paths, func(p routePath) bool { return p.path == r.Prefix && !p.exact })
			if assert.GreaterOrEqual(t, i, 0, "no prefix path %s", r.Prefix) {
				assert.Equal(t, r.Service, paths[i].app, "%s goes to %s in the local gateway", r.Prefix, r.Service)
			}
		}
		assert.ElementsMatch(t, want, prefixes, "the prefix paths are exactly the routing table's prefixes")
	})
}

func TestWayIn_RoutesEveryPathToTheSameServiceAsTheLocalGateway(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		paths := wayInPaths(t, o, m)
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
			got, ok := routeMatch(paths, req)
			if assert.True(t, ok, "%s routes %s nowhere", o, req) {
				assert.Equal(t, want, got.app, "%s: the local gateway sends it to %s, %s (%s %s) to %s",
					req, want, got.from, got.pathType, got.path, got.app)
			}
		}
	})
}

func TestWayIn_PathsAreUnique(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		seen := map[string]string{}
		for _, p := range wayInPaths(t, o, m) {
			key := fmt.Sprintf("%s %t", p.path, p.exact)
			if prev, dup := seen[key]; dup {
				t.Errorf("%s is in both %s and %s", p.path, prev, p.from)
			}
			seen[key] = p.from
		}
	})
}

// The Gateway API variant replaces the Ingress path for path: whatever the
// base's Ingress sends where, an HTTPRoute rule of the same kind of match
// sends to the same Service and port.
func TestGateway_HasAnHTTPRouteRuleForEveryIngressPath(t *testing.T) {
	base := overlayNamed(t, "base")
	ingress := ingressPaths(t, base, render(t, base))
	for _, o := range overlays {
		if !o.gateway {
			continue
		}
		t.Run(o.String(), func(t *testing.T) {
			rules := httpRoutePaths(t, o, render(t, o))
			for _, ip := range ingress {
				i := slices.IndexFunc(rules, func(r routePath) bool { return r.path == ip.path && r.exact == ip.exact })
				if assert.GreaterOrEqual(t, i, 0, "no HTTPRoute rule for the Ingress's %s %s", ip.pathType, ip.path) {
					assert.Equal(t, ip.service, rules[i].service, ip.path)
					assert.Equal(t, ip.port, rules[i].port, ip.path)
				}
			}
			assert.Len(t, rules, len(ingress), "the HTTPRoutes route the Ingress's paths and no other")
		})
	}
}

// documentedTLSSecret checks that the Kubernetes guide tells how to make
// the TLS Secret called name.
func documentedTLSSecret(t *testing.T, name string) {
	t.Helper()
	guide, err := os.ReadFile(repoRoot + "/docs/kubernetes.md")
	require.NoError(t, err)
	assert.Contains(t, string(guide), "kubectl create secret tls "+name+" ", "the guide makes %s", name)
}

// The way in serves the host with a certificate of its own: from the TLS
// Secret the Kubernetes guide tells how to make, or, in production, from
// the one cert-manager issues.
func TestWayIn_ServesTheHostOverTLS(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		if o.gateway {
			gatewayTLS(t, o, m)
			return
		}
		require.NotEmpty(t, m.ingresses)
		for _, ing := range m.ingresses {
			var secret string
			for _, tls := range ing.Spec.TLS {
				if slices.Contains(tls.Hosts, o.host) {
					secret = tls.SecretName
				}
			}
			if !assert.NotEmpty(t, secret, "%s: a tls block for %s with a secret", ing.Name, o.host) {
				continue
			}
			issuer := ing.Annotations["cert-manager.io/cluster-issuer"]
			if o.certManager {
				assert.NotEmpty(t, issuer, "%s: cert-manager issues the certificate of %s into %s", ing.Name, o.host, secret)
				continue
			}
			assert.Empty(t, issuer, "%s: the certificate is made by hand", ing.Name)
			documentedTLSSecret(t, secret)
		}
	})
}

// gatewayTLS checks the Gateway's listeners: HTTPS for browsers, with the
// documented certificate, and HTTP, which only the client's pods use.
func gatewayTLS(t *testing.T, o overlay, m *manifests) {
	t.Helper()
	require.Len(t, m.gateways, 1)
	gw := m.gateways[0]
	var protocols []gatewayv1.ProtocolType
	for _, l := range gw.Spec.Listeners {
		protocols = append(protocols, l.Protocol)
		if assert.NotNil(t, l.Hostname, "listener %s: a hostname", l.Name) {
			assert.Equal(t, o.host, string(*l.Hostname), "listener %s", l.Name)
		}
		switch l.Protocol {
		case gatewayv1.HTTPSProtocolType:
			assert.EqualValues(t, 443, l.Port)
			require.NotNil(t, l.TLS, "listener %s: TLS", l.Name)
			assert.True(t, l.TLS.Mode == nil || *l.TLS.Mode == gatewayv1.TLSModeTerminate, "listener %s terminates TLS", l.Name)
			require.Len(t, l.TLS.CertificateRefs, 1, "listener %s: a certificate", l.Name)
			ref := l.TLS.CertificateRefs[0]
			assert.True(t, (ref.Kind == nil || *ref.Kind == "Secret") && (ref.Group == nil || *ref.Group == ""), "a Secret")
			assert.Nil(t, ref.Namespace, "a Secret of this namespace")
			if o.certManager {
				assert.NotEmpty(t, gw.Annotations["cert-manager.io/cluster-issuer"], "cert-manager issues %s", ref.Name)
			} else {
				documentedTLSSecret(t, string(ref.Name))
			}
		case gatewayv1.HTTPProtocolType:
			assert.EqualValues(t, 80, l.Port)
		default:
			t.Errorf("listener %s: protocol %s", l.Name, l.Protocol)
		}
	}
	assert.ElementsMatch(t, []gatewayv1.ProtocolType{gatewayv1.HTTPSProtocolType, gatewayv1.HTTPProtocolType}, protocols)
}
