package k8s_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deploymentVar returns the value a Deployment's first container sets for
// name, and whether it sets one.
func deploymentVar(t *testing.T, m *manifests, deployment, name string) (string, bool) {
	t.Helper()
	d := m.deploymentNamed(deployment)
	require.NotNil(t, d, "no Deployment %s", deployment)
	require.NotEmpty(t, d.Spec.Template.Spec.Containers)
	e, ok := envVar(d.Spec.Template.Spec.Containers[0], name)
	return e.Value, ok
}

// The web client calls the API from its pods through the ingress, so a
// limit that counted the peer's address would give every browser signing
// in through the pages one budget. auth must count the browser: it limits,
// and believes X-Forwarded-For from the pod network (the controller and
// the client), and the client forwards the browser's address that the
// controller names to it.
func TestSignInLimits_CountTheBrowserBehindTheIngressAndTheClient(t *testing.T) {
	forEachOverlay(t, signInLimits)
}

func signInLimits(t *testing.T, o overlay, m *manifests) {
	limit, ok := deploymentVar(t, m, "auth-depl", "RATE_LIMIT")
	assert.True(t, !ok || (limit != "" && limit != "0"), "auth-depl turns auth's limit off (RATE_LIMIT=%q)", limit)

	authTrusts, ok := deploymentVar(t, m, "auth-depl", "TRUSTED_PROXIES")
	require.True(t, ok, "auth-depl must trust the ingress's and the client's X-Forwarded-For")
	clientTrusts, ok := deploymentVar(t, m, "client-depl", "TRUSTED_PROXIES")
	require.True(t, ok, "client-depl must trust the ingress's X-Forwarded-For")
	assert.Equal(t, authTrusts, clientTrusts, "both trust the pod network, where the controller and the client run")

	for _, p := range strings.Split(authTrusts, ",") {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
		if assert.NoError(t, err, p) {
			assert.True(t, prefix.Addr().IsPrivate(), "%s: only cluster-internal peers may name the client", p)
			assert.GreaterOrEqual(t, prefix.Bits(), 12, "%s: trusting so wide a range lets outsiders in it choose their address", p)
		}
	}

	for _, ing := range m.ingresses {
		for k := range ing.Annotations {
			assert.NotContains(t, k, "nginx.ingress.kubernetes.io/limit-",
				"%s: the controller's limits count the client's pods, not the browsers, for every sign-in through the pages", ing.Name)
		}
	}
}

// auth believes X-Forwarded-For from the whole pod network
// (TRUSTED_PROXIES): any pod that could reach it could choose the address
// its limits count. Only the NetworkPolicies keep the peers that forward an
// address to auth to the way in (the ingress controller, or the Gateway's
// proxy) and, of the namespace's pods, the client behind it.
func TestSignInLimits_OnlyTheWayInAndTheClientForwardAddressesToAuth(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		wayIn := "ingress-controller"
		if o.gateway {
			wayIn = "gateway"
		}
		eps := endpoints(t, o, m)
		named := func(name string) endpoint {
			i := slices.IndexFunc(eps, func(e endpoint) bool { return e.name == name })
			require.GreaterOrEqual(t, i, 0, "no endpoint %s", name)
			return eps[i]
		}
		auth, front := named("auth"), named(wayIn)
		reaches := func(src, dst endpoint, port int32) bool {
			for _, p := range dst.ports {
				if (port == 0 || p.ContainerPort == port) && allowed(t, m.netpols, src, dst, p) {
					return true
				}
			}
			return false
		}
		var toAuth, toWayIn []string
		for _, src := range eps {
			if src.name != "auth" && reaches(src, auth, 3000) {
				toAuth = append(toAuth, src.name)
			}
			if src.local() && src.name != wayIn && reaches(src, front, 0) {
				toWayIn = append(toWayIn, src.name)
			}
		}
		assert.Equal(t, []string{wayIn}, toAuth, "who reaches auth's API port")
		assert.Equal(t, []string{"client"}, toWayIn, "which of the namespace's pods reach the way in")
	})
}

// Without use-forwarded-headers and compute-full-forwarded-for,
// ingress-nginx replaces X-Forwarded-For with its peer's address: the
// browser's address the client forwards would never reach auth.
func TestKubernetesDoc_ConfiguresTheControllerToAppendToXForwardedFor(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "kubernetes.md"))
	require.NoError(t, err)
	trusted, _ := deploymentVar(t, render(t, overlayNamed(t, "base")), "auth-depl", "TRUSTED_PROXIES")
	for _, want := range []string{
		"use-forwarded-headers",
		"compute-full-forwarded-for",
		"proxy-real-ip-cidr",
		strings.ReplaceAll(trusted, ",", `\,`), // the helm --set-string form
		"externalTrafficPolicy=Local",
	} {
		assert.True(t, strings.Contains(string(doc), want), "docs/kubernetes.md does not mention %s", want)
	}
}
