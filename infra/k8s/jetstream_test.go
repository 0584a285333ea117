package k8s_test

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	natsd "github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
)

// natsServerModule is the module of the NATS server that common/embedded
// runs for make run and the tests.
const natsServerModule = "github.com/nats-io/nats-server/v2"

// jetStreamPod is the pod whose configuration the tests read: the
// configuration names the server after its pod (server_name: $POD_NAME).
const jetStreamPod = "nats-0"

// jetStreamOptions reads the ConfigMap's nats.conf as nats-server does in
// pod jetStreamPod of the StatefulSet nats: with the pod's name, and the
// stand-ins for the passwords from Secrets that the caller sets
// (setSecretStandIns). It checks that the container reads that file.
func jetStreamOptions(t *testing.T, m *manifests) *natsd.Options {
	t.Helper()
	s, c := statefulSetRunning(t, m, "nats")
	e, ok := envVar(c, "POD_NAME")
	require.True(t, ok, "POD_NAME names the server")
	require.True(t, e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name",
		"POD_NAME is the pod's name")
	t.Setenv("POD_NAME", jetStreamPod)

	conf := argAfter(c.Args, "--config")
	require.NotEmpty(t, conf, "--config names the configuration")
	i := slices.IndexFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.MountPath == path.Dir(conf) })
	require.GreaterOrEqual(t, i, 0, "%s is on a volume", conf)
	j := slices.IndexFunc(s.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[i].Name })
	require.GreaterOrEqual(t, j, 0, "volume %s", c.VolumeMounts[i].Name)
	cm := s.Spec.Template.Spec.Volumes[j].ConfigMap
	require.True(t, cm != nil && cm.Name == "nats-config", "%s comes from ConfigMap nats-config", conf)
	require.Equal(t, "nats.conf", path.Base(conf), "the file of nats-config's nats.conf")

	file := filepath.Join(t.TempDir(), "nats.conf")
	require.NoError(t, os.WriteFile(file, []byte(natsConf(t, m)), 0o600))
	opts, err := natsd.ProcessConfigFile(file)
	require.NoError(t, err, "nats.conf")
	return opts
}

// startJetStream starts nats-server with the StatefulSet's configuration
// (jetStreamOptions) as a single server on this machine: on free ports,
// with a store of its own and without the cluster, whose peers are not
// here. It returns the server's URL. The users are the grants', and
// nobody else.
func startJetStream(t *testing.T, m *manifests) string {
	t.Helper()
	opts := jetStreamOptions(t, m)
	require.True(t, opts.JetStream, "JetStream is on")
	assertUsersHoldTheGrants(t, opts.Users, bus.JetStream, "", "")
	assert.Empty(t, opts.Nkeys, "every client is a user of the grants")
	assert.Empty(t, opts.Accounts, "JetStream in the global account, where the users are")

	port, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", port, 0
	opts.StoreDir = t.TempDir()
	opts.Cluster, opts.Routes = natsd.ClusterOpts{}, nil
	opts.NoLog, opts.NoSigs = true, true
	srv, err := natsd.NewServer(opts)
	require.NoError(t, err)
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server started")
	return srv.ClientURL()
}

// TestJetStream_RunsAClusterOfThreeServersOnPersistentVolumes checks the
// StatefulSet nats of the JetStream overlays: three servers, started
// together, each keeping its store on a PersistentVolumeClaim of its own,
// named after its pod and routed to all three through the headless
// Service that gives the pods their names, preferably on three nodes.
func TestJetStream_RunsAClusterOfThreeServersOnPersistentVolumes(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		if o.transport != bus.JetStream {
			t.Skipf("%s runs NATS Streaming", o)
		}
		s, c := statefulSetRunning(t, m, natsImage(o))
		require.NotNil(t, s.Spec.Replicas)
		replicas := int(*s.Spec.Replicas)
		assert.Equal(t, 3, replicas, "a cluster that keeps taking events with one server down")
		assert.Equal(t, appsv1.ParallelPodManagement, s.Spec.PodManagementPolicy,
			"no server is started before a leader is elected, which takes two")
		setSecretStandIns(t, c)
		opts := jetStreamOptions(t, m)
		assert.Equal(t, jetStreamPod, opts.ServerName, "server_name is the pod's name, stable across restarts")

		require.NotEmpty(t, opts.StoreDir, "jetstream.store_dir")
		claimedMount(t, s, c, opts.StoreDir)

		assert.NotEmpty(t, opts.Cluster.Name, "cluster.name")
		port, ok := containerPort(s.Spec.Template.Spec, "cluster", 0)
		require.True(t, ok, "container port named cluster")
		assert.Equal(t, int(port.ContainerPort), opts.Cluster.Port, "cluster.listen is the cluster port")
		headless := m.serviceNamed(s.Spec.ServiceName)
		require.NotNil(t, headless, "serviceName %s", s.Spec.ServiceName)
		assert.Equal(t, corev1.ClusterIPNone, headless.Spec.ClusterIP, "%s is headless: a DNS name per pod", headless.Name)
		assert.True(t, headless.Spec.PublishNotReadyAddresses, "%s names the pods before they are ready, which takes their routes", headless.Name)
		var want, got []string
		for i := range replicas {
			want = append(want, fmt.Sprintf("nats://%s-%d.%s:%d", s.Name, i, headless.Name, port.ContainerPort))
		}
		for _, u := range opts.Routes {
			got = append(got, u.String())
		}
		assert.ElementsMatch(t, want, got, "cluster.routes names every pod through %s", headless.Name)

		monitor, ok := containerPort(s.Spec.Template.Spec, "monitor", 0)
		require.True(t, ok, "container port named monitor")
		assert.Equal(t, int(monitor.ContainerPort), opts.HTTPPort, "http_port is the monitor port")
		for kind, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if assert.NotNil(t, p, "%s probe", kind) && assert.NotNil(t, p.HTTPGet, "%s probe is an HTTP GET", kind) {
				assert.Equal(t, "monitor", p.HTTPGet.Port.StrVal, "%s probe", kind)
				assert.True(t, strings.HasPrefix(p.HTTPGet.Path, "/healthz"), "%s probe: %s", kind, p.HTTPGet.Path)
			}
		}
		if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil {
			assert.Contains(t, p.HTTPGet.Path, "js-", "ready without waiting for the other servers")
		}

		a := s.Spec.Template.Spec.Affinity
		require.True(t, a != nil && a.PodAntiAffinity != nil, "pod anti-affinity")
		assert.Empty(t, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, "preferred: a one-node cluster runs all three")
		spread := slices.ContainsFunc(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution, func(w corev1.WeightedPodAffinityTerm) bool {
			return w.PodAffinityTerm.TopologyKey == corev1.LabelHostname && selects(t, w.PodAffinityTerm.LabelSelector, s.Spec.Template.Labels)
		})
		assert.True(t, spread, "the servers prefer nodes of their own")
	})
}

// embeddedNATSServer reads the version of the NATS server that
// common/embedded runs for make run and the tests, from common/go.mod,
// without its v.
func embeddedNATSServer(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(repoRoot + "/common/go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(natsServerModule) + ` v(\S+)`).FindStringSubmatch(string(raw))
	require.NotNil(t, m, "common/go.mod requires %s", natsServerModule)
	return m[1]
}

// The image runs the NATS server that make run and the tests embed: the
// tests prove the configuration on the very version the cluster runs.
func TestJetStream_ImageIsTheEmbeddedServersVersion(t *testing.T) {
	want := embeddedNATSServer(t)
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		if o.transport != bus.JetStream {
			t.Skipf("%s runs NATS Streaming", o)
		}
		c := containerRunning(t, m, natsImage(o))
		_, tag := imageRef(c.Image)
		assert.Equal(t, want, tag, "%s: the version of %s", c.Image, natsServerModule)
	})
}

// Every service of the bus speaks the overlay's transport; on JetStream
// it keeps the stream on every server of the cluster, and names no NATS
// Streaming cluster.
func TestServiceDeployments_SpeakTheOverlaysBus(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		s, c := statefulSetRunning(t, m, natsImage(o))
		speakers := 0
		for _, sd := range serviceDeployments(t, m, skaffoldFor(t, o)) {
			if _, ok := envVar(sd.container, "NATS_URL"); !ok {
				continue
			}
			speakers++
			t.Run(sd.deployment.Name, func(t *testing.T) {
				transport := bus.STAN
				if e, ok := envVar(sd.container, "BUS"); ok {
					transport = e.Value
				}
				assert.Equal(t, o.transport, transport, "BUS")
				replicas, hasReplicas := envVar(sd.container, "JETSTREAM_REPLICAS")
				clusterID, hasClusterID := envVar(sd.container, "NATS_CLUSTER_ID")
				if o.transport == bus.JetStream {
					if assert.True(t, hasReplicas, "JETSTREAM_REPLICAS") {
						assert.Equal(t, strconv.Itoa(int(*s.Spec.Replicas)), replicas.Value, "the stream on every server of %s", s.Name)
					}
					assert.False(t, hasClusterID, "JetStream has no cluster id")
					return
				}
				assert.False(t, hasReplicas, "JETSTREAM_REPLICAS on NATS Streaming")
				if assert.True(t, hasClusterID, "NATS_CLUSTER_ID") {
					assert.Equal(t, argAfter(c.Args, "-cid"), clusterID.Value, "the server's cluster id")
				}
			})
		}
		assert.Equal(t, len(bus.ServiceGrants()), speakers, "a Deployment per service of bus.ServiceGrants")
	})
}
