package k8s_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"ticketing.dev/common/bus"
)

// statefulSetRunning returns the one StatefulSet with a container whose
// image is image (without its tag), and that container.
func statefulSetRunning(t *testing.T, m *manifests, image string) (*appsv1.StatefulSet, corev1.Container) {
	t.Helper()
	found, ctrs := statefulSetsRunning(m, image)
	require.Len(t, found, 1, "one StatefulSet runs %s", image)
	return found[0], ctrs[0]
}

// statefulSetsRunning returns the StatefulSets with a container whose image
// is image (without its tag), and those containers.
func statefulSetsRunning(m *manifests, image string) ([]*appsv1.StatefulSet, []corev1.Container) {
	var found []*appsv1.StatefulSet
	var ctrs []corev1.Container
	for _, s := range m.statefulSets {
		for _, c := range s.Spec.Template.Spec.Containers {
			if name, _ := imageRef(c.Image); name == image {
				found, ctrs = append(found, s), append(ctrs, c)
			}
		}
	}
	return found, ctrs
}

// claimedMount checks that path is on a volume of one of the StatefulSet's
// PersistentVolumeClaim templates, and that the claim asks for storage.
func claimedMount(t *testing.T, s *appsv1.StatefulSet, c corev1.Container, path string) {
	t.Helper()
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if path == m.MountPath || strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			mount = &c.VolumeMounts[i]
		}
	}
	require.NotNil(t, mount, "%s: %s is on no volume", s.Name, path)
	i := slices.IndexFunc(s.Spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == mount.Name })
	require.GreaterOrEqual(t, i, 0, "%s: volume %s (%s) is no PersistentVolumeClaim template", s.Name, mount.Name, path)
	claim := s.Spec.VolumeClaimTemplates[i]
	assert.Contains(t, claim.Spec.AccessModes, corev1.ReadWriteOnce, s.Name)
	size, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	assert.True(t, ok && !size.IsZero(), "%s: the claim asks for storage", s.Name)
	assert.False(t, slices.ContainsFunc(s.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == mount.Name }),
		"%s: a pod volume named %s would shadow the claim", s.Name, mount.Name)
}

// argAfter returns the argument that follows flag.
func argAfter(args []string, flag string) string {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return ""
	}
	return args[i+1]
}

// NATS Streaming keeps channels, messages and durable subscriptions in a
// file store on a PersistentVolumeClaim: a rescheduled pod loses no event.
// JetStream's cluster keeps its store on claims as well (see
// TestJetStream_RunsAClusterOfThreeServersOnPersistentVolumes).
func TestNATSStreaming_KeepsItsFileStoreOnAPersistentVolume(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		if o.transport != bus.STAN {
			t.Skipf("%s runs JetStream", o)
		}
		s, c := statefulSetRunning(t, m, "nats-streaming")
		require.NotNil(t, s.Spec.Replicas)
		assert.EqualValues(t, 1, *s.Spec.Replicas, "one server per cluster id")
		assert.Equal(t, "file", argAfter(c.Args, "-store"))
		dir := argAfter(c.Args, "-dir")
		require.NotEmpty(t, dir, "-dir names the store")
		claimedMount(t, s, c, dir)
	})
}

// Redis writes every scheduled expiry to its append-only file, on a
// PersistentVolumeClaim.
func TestExpirationRedis_KeepsItsAppendOnlyFileOnAPersistentVolume(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		s, c := statefulSetRunning(t, m, "redis")
		require.NotNil(t, s.Spec.Replicas)
		assert.EqualValues(t, 1, *s.Spec.Replicas)
		assert.Equal(t, "yes", argAfter(c.Args, "--appendonly"))
		assert.Contains(t, []string{"", "everysec", "always"}, argAfter(c.Args, "--appendfsync"))
		// The image's working directory, where Redis writes its files.
		claimedMount(t, s, c, "/data")
	})
}

// mongoDataDir is where the mongo image keeps its databases.
const mongoDataDir = "/data/db"

// Each MongoDB is a StatefulSet of one, so that two mongod processes never
// share its files, not even during a rollout. In the overlays that keep
// data, the files are on a PersistentVolumeClaim; elsewhere on an emptyDir,
// which goes with the pod.
func TestMongoDB_RunsOneServerPerDatabaseOnTheOverlaysVolume(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		sets, ctrs := statefulSetsRunning(m, "mongo")
		require.Len(t, sets, 4, "a MongoDB for each of auth, tickets, orders and payments")
		for i, s := range sets {
			t.Run(s.Name, func(t *testing.T) {
				require.NotNil(t, s.Spec.Replicas)
				assert.EqualValues(t, 1, *s.Spec.Replicas)
				if o.durableMongo {
					claimedMount(t, s, ctrs[i], mongoDataDir)
					return
				}
				assert.Empty(t, s.Spec.VolumeClaimTemplates, "%s keeps no data past its pod", o)
				for _, mnt := range ctrs[i].VolumeMounts {
					if mnt.MountPath != mongoDataDir {
						continue
					}
					j := slices.IndexFunc(s.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == mnt.Name })
					if assert.GreaterOrEqual(t, j, 0, "volume %s", mnt.Name) {
						assert.NotNil(t, s.Spec.Template.Spec.Volumes[j].EmptyDir, "%s: the data is on an emptyDir", s.Name)
					}
				}
			})
		}
	})
}

// A StatefulSet names the Service that governs it, and that Service
// selects its pods.
func TestStatefulSets_NameTheirGoverningService(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		require.NotEmpty(t, m.statefulSets)
		for _, s := range m.statefulSets {
			svc := m.serviceNamed(s.Spec.ServiceName)
			if assert.NotNil(t, svc, "%s: serviceName %q is no Service here", s.Name, s.Spec.ServiceName) {
				assert.Equal(t, s.Name, m.workloadOfService(t, svc).Name, "%s: its Service selects its pods", s.Name)
			}
		}
	})
}
