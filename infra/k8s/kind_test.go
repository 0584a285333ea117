package k8s_test

import (
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// kindConfigFile is the kind cluster docs/kubernetes.md creates.
const kindConfigFile = "kind/kind-config.yaml"

// kindCluster is the part of kind's v1alpha4 Cluster configuration the
// file may use, field for field as kind names them
// (sigs.k8s.io/kind/pkg/apis/config/v1alpha4): strict decoding refuses a
// misspelt field, which kind would ignore.
type kindCluster struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Name       string `json:"name"`
	Networking struct {
		PodSubnet string `json:"podSubnet"`
	} `json:"networking"`
	Nodes []struct {
		Role              string            `json:"role"`
		Labels            map[string]string `json:"labels"`
		ExtraPortMappings []struct {
			ContainerPort int32  `json:"containerPort"`
			HostPort      int32  `json:"hostPort"`
			ListenAddress string `json:"listenAddress"`
			Protocol      string `json:"protocol"`
		} `json:"extraPortMappings"`
	} `json:"nodes"`
}

// The kind cluster serves ticketing.dev on the machine's own ports 80 and
// 443: ingress-nginx's kind manifest runs the controller with those host
// ports on the node labelled ingress-ready, and the node's container
// publishes them. Its pods get addresses in the range auth and the client
// trust for X-Forwarded-For.
func TestKindConfig_PublishesTheIngressPortsOfALabelledNode(t *testing.T) {
	raw, err := os.ReadFile(kindConfigFile)
	require.NoError(t, err)
	var c kindCluster
	require.NoError(t, yaml.UnmarshalStrict(raw, &c))
	assert.Equal(t, "Cluster", c.Kind)
	assert.Equal(t, "kind.x-k8s.io/v1alpha4", c.APIVersion)

	require.Len(t, c.Nodes, 1, "one node, which runs everything")
	node := c.Nodes[0]
	assert.Equal(t, "control-plane", node.Role)
	assert.Equal(t, "true", node.Labels["ingress-ready"], "ingress-nginx's kind manifest selects the node by this label")
	published := map[int32]int32{}
	for _, p := range node.ExtraPortMappings {
		published[p.ContainerPort] = p.HostPort
		assert.Contains(t, []string{"", "TCP"}, p.Protocol)
		assert.Equal(t, "127.0.0.1", p.ListenAddress, "port %d: for this machine only", p.HostPort)
	}
	assert.Equal(t, map[int32]int32{80: 80, 443: 443}, published)

	pods, err := netip.ParsePrefix(c.Networking.PodSubnet)
	require.NoError(t, err, "the pod network is stated")
	trusted, _ := deploymentVar(t, render(t, overlayNamed(t, "base")), "auth-depl", "TRUSTED_PROXIES")
	within := false
	for _, p := range strings.Split(trusted, ",") {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
		require.NoError(t, err)
		within = within || (prefix.Bits() <= pods.Bits() && prefix.Contains(pods.Addr()))
	}
	assert.True(t, within, "kind's pod network %s lies in TRUSTED_PROXIES (%s)", pods, trusted)

	doc, err := os.ReadFile(repoRoot + "/docs/kubernetes.md")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "kind create cluster --config infra/k8s/"+kindConfigFile)
}
