package k8s_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The base is deployed as written: its kustomization only lists files.
func TestBaseKustomization_ListsEveryManifestInTheFolder(t *testing.T) {
	k := readBaseKustomization(t)
	assert.Equal(t, "kustomize.config.k8s.io/v1beta1", k.APIVersion)
	assert.Equal(t, "Kustomization", k.Kind)
	listed := slices.Clone(k.Resources)
	slices.Sort(listed)
	assert.Equal(t, manifestFiles(t, "base"), listed, "base/kustomization.yaml must list each YAML file of infra/k8s/base once")
}

// A file in an overlay's or a component's folder that its kustomization
// does not name would be deployed by nothing, and read by no test.
func TestKustomizations_UseEveryManifestInTheirFolder(t *testing.T) {
	dirs := kustomizeDirs(t)
	for _, o := range overlays {
		assert.Contains(t, dirs, o.dir, "overlay %s has no kustomization.yaml", o)
	}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == kindConfigFile {
			return err
		}
		if ext := filepath.Ext(p); ext == ".yaml" || ext == ".yml" {
			assert.Contains(t, dirs, filepath.Dir(p), "%s is in no kustomization's folder", p)
		}
		return nil
	})
	require.NoError(t, err)
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			k := readKustomization(t, dir)
			used := map[string]bool{}
			for _, r := range k.Resources {
				used[r] = true
			}
			for _, p := range k.Patches {
				if p.Path != "" {
					used[p.Path] = true
				}
			}
			for _, f := range manifestFiles(t, dir) {
				assert.True(t, used[f], "%s/kustomization.yaml does not use %s", dir, f)
			}
			for _, c := range k.Components {
				comp := filepath.Join(dir, c)
				assert.Equal(t, "Component", readKustomization(t, comp).Kind, "%s: %s is a component", dir, c)
			}
		})
	}
}

func TestManifests_DecodeStrictlyIntoKubernetesTypes(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		for _, err := range m.decodeErrors {
			t.Error(err)
		}
		assert.NotEmpty(t, m.deployments)
		seen := map[string]object{}
		for _, obj := range m.objects {
			meta, ok := obj.obj.(metav1.Object)
			require.True(t, ok, obj.String())
			assert.NotEmpty(t, meta.GetName(), "%s has no name", obj)
			assert.Empty(t, meta.GetNamespace(), "%s: objects go to the namespace skaffold deploys to", obj)
			key := obj.obj.GetObjectKind().GroupVersionKind().Kind + "/" + meta.GetName()
			if prev, dup := seen[key]; dup {
				t.Errorf("%s is declared twice (%s)", key, prev)
			}
			seen[key] = obj
		}
	})
}

func TestStrictDecoding_RejectsUnknownFields(t *testing.T) {
	doc := []byte(`
apiVersion: v1
kind: Service
metadata:
  name: typo
spec:
  selector:
    app: x
  ports:
    - port: 3000
      tragetPort: 3000
`)
	_, _, err := strictDecoder().Decode(doc, nil, nil)
	require.Error(t, err)
	assert.True(t, runtime.IsStrictDecodingError(err), err.Error())
	assert.Contains(t, err.Error(), "tragetPort")
}

// skaffold renders with the kustomize binary when there is one, and with
// kubectl kustomize otherwise, whose kustomize is older than the library
// these tests render with: both must make the same objects.
func TestKustomizations_BuildTheSameObjectsWithKubectl(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed; skaffold may render the overlays with kubectl kustomize")
	}
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		out, err := exec.Command(kubectl, "kustomize", o.dir).Output()
		require.NoError(t, err, "kubectl kustomize works offline")
		var names []string
		for _, obj := range decodeYAMLStream(t, out) {
			names = append(names, obj.GetObjectKind().GroupVersionKind().Kind+"/"+obj.(metav1.Object).GetName())
		}
		var want []string
		for _, obj := range m.objects {
			want = append(want, obj.kind+"/"+obj.name)
		}
		assert.ElementsMatch(t, want, names)
	})
}

func TestWorkloads_SelectTheirOwnPodTemplates(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		for _, d := range m.workloads {
			require.NotNil(t, d.Selector, d.Name)
			sel, err := metav1.LabelSelectorAsSelector(d.Selector)
			require.NoError(t, err, d.Name)
			assert.False(t, sel.Empty(), "%s: empty selector", d.Name)
			assert.True(t, sel.Matches(labels.Set(d.Template.Labels)), "%s: selector does not match its pod template", d.Name)
			assert.NotEmpty(t, app(d), "%s: pods need an app label", d.Name)
			for _, other := range m.workloads {
				if other != d {
					assert.False(t, sel.Matches(labels.Set(other.Template.Labels)), "%s also selects the pods of %s", d.Name, other.Name)
				}
			}
			for _, c := range allContainers(d.Template.Spec) {
				assert.NotEmpty(t, c.Name, d.Name)
				assert.NotEmpty(t, c.Image, "%s/%s", d.Name, c.Name)
			}
		}
	})
}

func TestServices_SelectAWorkloadAndTargetADeclaredContainerPort(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		require.NotEmpty(t, m.services)
		for _, s := range m.services {
			t.Run(s.Name, func(t *testing.T) {
				assert.Contains(t, []corev1.ServiceType{"", corev1.ServiceTypeClusterIP}, s.Spec.Type)
				d := m.workloadOfService(t, s)
				require.NotEmpty(t, s.Spec.Ports)
				for _, p := range s.Spec.Ports {
					target := p.TargetPort
					if target.Type == intstr.Int && target.IntVal == 0 {
						target = intstr.FromInt32(p.Port) // unset: the Service port
					}
					cp, ok := containerPort(d.Template.Spec, target.StrVal, target.IntVal)
					if assert.True(t, ok, "port %d targets %s, which no container of %s declares", p.Port, target.String(), d.Name) {
						assert.Equal(t, protocolOrTCP(p.Protocol), protocolOrTCP(cp.Protocol), "port %d", p.Port)
					}
				}
			})
		}
	})
}

func protocolOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// TestServiceDeployments_RunTheirReplicasBehindAServiceOnPort3000 checks
// the Deployments of the images skaffold builds: the ticketing services.
func TestServiceDeployments_RunTheirReplicasBehindAServiceOnPort3000(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		sk := skaffoldFor(t, o)
		built := serviceDeployments(t, m, sk)
		var names []string
		for _, sd := range built {
			names = append(names, sd.deployment.Name)
		}
		require.Len(t, names, len(sk.Build.Artifacts), "one Deployment per skaffold artifact")
		for _, sd := range built {
			d, c := sd.deployment, sd.container
			t.Run(d.Name, func(t *testing.T) {
				require.NotNil(t, d.Spec.Replicas)
				assert.Equal(t, o.replicas, *d.Spec.Replicas, "replicas of each stateless service")

				port, ok := containerPort(d.Spec.Template.Spec, "http", 0)
				require.True(t, ok, "container port named http")
				assert.EqualValues(t, 3000, port.ContainerPort)
				if env, ok := envVar(c, "PORT"); assert.True(t, ok, "PORT is set") {
					assert.Equal(t, "3000", env.Value, "PORT is the container port")
				}

				var services []string
				for _, s := range m.services {
					if m.workloadOfService(t, s) == sd.workload {
						services = append(services, s.Name)
						for _, p := range s.Spec.Ports {
							assert.EqualValues(t, 3000, p.Port, "Service %s", s.Name)
						}
					}
				}
				assert.Len(t, services, 1, "one ClusterIP Service on 3000")

				assertHTTPProbe(t, d, c.LivenessProbe, "liveness", "/healthz")
				assertHTTPProbe(t, d, c.ReadinessProbe, "readiness", "/readyz")
				assertHTTPProbe(t, d, c.StartupProbe, "startup", "/healthz")
			})
		}
	})
}

// metricsPort is where every service serves its Prometheus metrics
// (DEBUG_ADDR) in the cluster.
const metricsPort = 9090

// TestServiceDeployments_ExposeMetricsToPrometheus checks what Prometheus's
// Kubernetes pod discovery needs of every service: DEBUG_ADDR on the
// metrics port, the port declared by that name, and the annotations that
// tell it to scrape the port's /metrics. No Service exposes the port: the
// metrics are for Prometheus, never for the ingress.
func TestServiceDeployments_ExposeMetricsToPrometheus(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		built := serviceDeployments(t, m, skaffoldFor(t, o))
		require.NotEmpty(t, built)
		for _, sd := range built {
			d, c := sd.deployment, sd.container
			t.Run(d.Name, func(t *testing.T) {
				if env, ok := envVar(c, "DEBUG_ADDR"); assert.True(t, ok, "DEBUG_ADDR is set") {
					assert.Equal(t, fmt.Sprintf(":%d", metricsPort), env.Value)
				}
				port, ok := containerPort(d.Spec.Template.Spec, "metrics", 0)
				if assert.True(t, ok, "container port named metrics") {
					assert.EqualValues(t, metricsPort, port.ContainerPort)
				}
				assert.Equal(t, map[string]string{
					"prometheus.io/scrape": "true",
					"prometheus.io/port":   fmt.Sprint(metricsPort),
					"prometheus.io/path":   "/metrics",
				}, d.Spec.Template.Annotations, "pod annotations")
				for _, s := range m.services {
					if m.workloadOfService(t, s) != sd.workload {
						continue
					}
					for _, p := range s.Spec.Ports {
						assert.NotEqual(t, "metrics", p.TargetPort.StrVal, "Service %s exposes the metrics port", s.Name)
						assert.NotEqual(t, int32(metricsPort), p.TargetPort.IntVal, "Service %s exposes the metrics port", s.Name)
					}
				}
			})
		}
	})
}

// TestWorkloads_ServeNoProfiles: profiles (PPROF_ADDR) show a process's
// memory and command line and cost CPU, and whatever may reach the metrics
// port (Prometheus by NetworkPolicy; any pod where policies are not
// enforced) must not take them. No overlay sets PPROF_ADDR, by a variable
// or through a ConfigMap or Secret the containers read whole, and nothing
// rendered mentions pprof at all: no port, probe, annotation or argument.
func TestWorkloads_ServeNoProfiles(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		for _, w := range m.workloads {
			for _, c := range allContainers(w.Template.Spec) {
				_, ok := envVar(c, "PPROF_ADDR")
				assert.False(t, ok, "%s/%s sets PPROF_ADDR", w.Name, c.Name)
				for _, from := range c.EnvFrom {
					if ref := from.ConfigMapRef; ref != nil {
						if cm := m.configMapNamed(ref.Name); cm != nil {
							assert.NotContains(t, cm.Data, from.Prefix+"PPROF_ADDR", "%s/%s: ConfigMap %s", w.Name, c.Name, ref.Name)
						}
					}
					if ref := from.SecretRef; ref != nil {
						if sec := m.secretNamed(ref.Name); sec != nil {
							assert.NotContains(t, sec.StringData, from.Prefix+"PPROF_ADDR", "%s/%s: Secret %s", w.Name, c.Name, ref.Name)
							assert.NotContains(t, sec.Data, from.Prefix+"PPROF_ADDR", "%s/%s: Secret %s", w.Name, c.Name, ref.Name)
						}
					}
				}
			}
		}
		for _, obj := range m.objects {
			b, err := json.Marshal(obj.obj)
			require.NoError(t, err, obj)
			// Case matters: seccompProfile holds the letters "pprof".
			assert.NotContains(t, string(b), "pprof", obj)
			assert.NotContains(t, string(b), "PPROF", obj)
		}
	})
}

func assertHTTPProbe(t *testing.T, d *appsv1.Deployment, p *corev1.Probe, kind, path string) {
	t.Helper()
	if !assert.NotNil(t, p, "%s probe", kind) || !assert.NotNil(t, p.HTTPGet, "%s probe is an HTTP GET", kind) {
		return
	}
	assert.Equal(t, path, p.HTTPGet.Path, "%s probe", kind)
	cp, ok := containerPort(d.Spec.Template.Spec, p.HTTPGet.Port.StrVal, p.HTTPGet.Port.IntVal)
	if assert.True(t, ok, "%s probe port %s is declared", kind, p.HTTPGet.Port.String()) {
		assert.EqualValues(t, 3000, cp.ContainerPort, "%s probe port", kind)
	}
}

func TestContainers_HaveResourceRequestsAndLimits(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		for _, d := range m.workloads {
			for _, c := range allContainers(d.Template.Spec) {
				for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
					req, hasReq := c.Resources.Requests[name]
					lim, hasLim := c.Resources.Limits[name]
					assert.True(t, hasReq, "%s/%s requests %s", d.Name, c.Name, name)
					assert.True(t, hasLim, "%s/%s limits %s", d.Name, c.Name, name)
					if hasReq && hasLim {
						assert.LessOrEqual(t, req.Cmp(lim), 0, "%s/%s: %s request above its limit", d.Name, c.Name, name)
					}
				}
			}
		}
	})
}

// TestPods_RunAsNonRoot also requires a numeric user: the kubelet refuses to
// start an image whose USER is a name (distroless's "nonroot") under
// runAsNonRoot unless runAsUser says which uid that is.
func TestPods_RunAsNonRoot(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		for _, d := range m.workloads {
			pod := d.Template.Spec.SecurityContext
			for _, c := range allContainers(d.Template.Spec) {
				nonRoot, uid := false, int64(0)
				if pod != nil {
					nonRoot = pod.RunAsNonRoot != nil && *pod.RunAsNonRoot
					if pod.RunAsUser != nil {
						uid = *pod.RunAsUser
					}
				}
				sc := c.SecurityContext
				if sc != nil && sc.RunAsNonRoot != nil {
					nonRoot = *sc.RunAsNonRoot
				}
				if sc != nil && sc.RunAsUser != nil {
					uid = *sc.RunAsUser
				}
				assert.True(t, nonRoot, "%s/%s: runAsNonRoot", d.Name, c.Name)
				assert.NotZero(t, uid, "%s/%s: runAsUser names a non-root uid", d.Name, c.Name)
				if assert.NotNil(t, sc, "%s/%s: container securityContext", d.Name, c.Name) {
					assert.False(t, sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation,
						"%s/%s: allowPrivilegeEscalation false", d.Name, c.Name)
					if assert.NotNil(t, sc.Capabilities, "%s/%s: capabilities", d.Name, c.Name) {
						assert.Contains(t, sc.Capabilities.Drop, corev1.Capability("ALL"), "%s/%s drops all capabilities", d.Name, c.Name)
					}
				}
			}
		}
	})
}

func TestNATSClientIDs_ComeFromThePodName(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		found := 0
		for _, d := range m.workloads {
			for _, c := range allContainers(d.Template.Spec) {
				e, ok := envVar(c, "NATS_CLIENT_ID")
				if !ok {
					continue
				}
				found++
				ok = e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name"
				assert.True(t, ok, "%s/%s: NATS_CLIENT_ID comes from metadata.name, unique per replica", d.Name, c.Name)
			}
		}
		assert.NotZero(t, found)
	})
}

func TestPodDisruptionBudgets_KeepOneReplicaOfEveryReplicatedDeployment(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		for _, pdb := range m.pdbs {
			require.NotNil(t, pdb.Spec.Selector, pdb.Name)
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			require.NoError(t, err)
			ds := m.podsOf(sel)
			require.Len(t, ds, 1, "PodDisruptionBudget %s selects the pods of one workload", pdb.Name)
			replicas := int(*ds[0].Replicas)
			assert.GreaterOrEqual(t, replicas, 2, "%s: a budget on a single replica blocks node drains", pdb.Name)
			var allowed int // disruptions allowed while every replica is up
			switch {
			case pdb.Spec.MaxUnavailable != nil:
				v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, replicas, false)
				require.NoError(t, err)
				allowed = v
			case pdb.Spec.MinAvailable != nil:
				v, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, replicas, true)
				require.NoError(t, err)
				allowed = replicas - v
			default:
				t.Errorf("%s sets neither minAvailable nor maxUnavailable", pdb.Name)
			}
			assert.True(t, allowed >= 1 && allowed < replicas, "%s allows %d of %d replicas down; want at least one and not all", pdb.Name, allowed, replicas)
		}
		for _, d := range m.workloads {
			if d.Replicas == nil || *d.Replicas < 2 {
				continue
			}
			n := 0
			for _, pdb := range m.pdbs {
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				require.NoError(t, err)
				if sel.Matches(labels.Set(d.Template.Labels)) {
					n++
				}
			}
			assert.Equal(t, 1, n, "%s runs %d replicas and needs one PodDisruptionBudget", d.Name, *d.Replicas)
		}
	})
}

// datastoreVars are the variables through which a service names its database
// or Redis: the Service they point at is the service's own datastore.
var datastoreVars = []string{"MONGO_URI", "REDIS_HOST", "REDIS_URL"}

// hostOf returns the host part of a MongoDB or Redis URI or a host[:port].
func hostOf(v string) string {
	if i := strings.Index(v, "://"); i >= 0 {
		v = v[i+3:]
	}
	if i := strings.LastIndex(v, "@"); i >= 0 {
		v = v[i+1:]
	}
	v = strings.SplitN(v, "/", 2)[0]
	v = strings.SplitN(v, ",", 2)[0]
	if i := strings.LastIndex(v, ":"); i >= 0 {
		v = v[:i]
	}
	return v
}

func TestDatastores_AcceptConnectionsOnlyFromTheirOwnService(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		owners := map[*workload][]string{} // datastore → apps naming it
		for _, d := range m.workloads {
			for _, c := range d.Template.Spec.Containers {
				for _, name := range datastoreVars {
					e, ok := envVar(c, name)
					if !ok {
						continue
					}
					host := hostOf(e.Value)
					s := m.serviceNamed(strings.TrimSuffix(host, ".default.svc.cluster.local"))
					require.NotNil(t, s, "%s: %s names %q, which is no Service here", d.Name, name, host)
					store := m.workloadOfService(t, s)
					owners[store] = append(owners[store], app(d))
				}
			}
		}
		// Every MongoDB and Redis belongs to a service.
		for _, d := range m.workloads {
			for _, c := range d.Template.Spec.Containers {
				image := strings.SplitN(c.Image, ":", 2)[0]
				if image == "mongo" || image == "redis" {
					assert.Contains(t, owners, d, "%s runs %s but no service uses it", d.Name, c.Image)
				}
			}
		}
		for store, apps := range owners {
			t.Run(store.Name, func(t *testing.T) {
				require.Len(t, apps, 1, "one service owns a datastore, found %v", apps)
				owner := apps[0]
				var policies int
				for _, np := range m.netpols {
					sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
					require.NoError(t, err)
					if !sel.Matches(labels.Set(store.Template.Labels)) {
						continue
					}
					policies++
					assert.Contains(t, np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress, np.Name)
					for _, rule := range np.Spec.Ingress {
						require.NotEmpty(t, rule.From, "%s: a rule without from admits every pod", np.Name)
						for _, peer := range rule.From {
							assert.Nil(t, peer.NamespaceSelector, "%s: other namespaces", np.Name)
							assert.Nil(t, peer.IPBlock, "%s: address blocks", np.Name)
							if assert.NotNil(t, peer.PodSelector, np.Name) {
								assert.Equal(t, map[string]string{"app": owner}, peer.PodSelector.MatchLabels, "%s admits only app=%s", np.Name, owner)
								assert.Empty(t, peer.PodSelector.MatchExpressions, np.Name)
							}
						}
						for _, p := range rule.Ports {
							if assert.NotNil(t, p.Port, np.Name) {
								_, ok := containerPort(store.Template.Spec, p.Port.StrVal, p.Port.IntVal)
								assert.True(t, ok, "%s: port %s is the datastore's", np.Name, p.Port.String())
							}
						}
					}
				}
				assert.NotZero(t, policies, "a NetworkPolicy admits only %s to %s", owner, store.Name)
			})
		}
	})
}

// secretsInREADME reads the kubectl create secret commands of the
// Kubernetes guide the README links to (docs/kubernetes.md): secret name →
// keys.
func secretsInREADME(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(repoRoot + "/docs/kubernetes.md")
	require.NoError(t, err)
	section := strings.ReplaceAll(string(raw), "\\\n", " ")
	secrets := map[string][]string{}
	cmd := regexp.MustCompile(`kubectl create secret generic ([a-z0-9.-]+)((?:[ \t]+--from-literal=[A-Za-z0-9_.-]+=\S*)+)`)
	literal := regexp.MustCompile(`--from-literal=([A-Za-z0-9_.-]+)=`)
	for _, match := range cmd.FindAllStringSubmatch(section, -1) {
		for _, key := range literal.FindAllStringSubmatch(match[2], -1) {
			secrets[match[1]] = append(secrets[match[1]], key[1])
		}
	}
	return secrets
}

// TestSecretKeyRefs_NameSecretsTheREADMETellsOperatorsToCreate lets an
// overlay bring Secrets of its own, such as dev's dummy Stripe key: those
// need no operator.
func TestSecretKeyRefs_NameSecretsTheREADMETellsOperatorsToCreate(t *testing.T) {
	documented := secretsInREADME(t)
	require.NotEmpty(t, documented, "README: kubectl create secret generic NAME --from-literal=KEY=...")
	t.Logf("the README creates %v", documented)
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		secrets := map[string][]string{}
		for name, keys := range documented {
			secrets[name] = keys
		}
		for _, s := range m.secrets {
			assert.NotContains(t, documented, s.Name, "%s creates Secret %s, which the README tells operators to create", o, s.Name)
			for k := range s.Data {
				secrets[s.Name] = append(secrets[s.Name], k)
			}
			for k := range s.StringData {
				secrets[s.Name] = append(secrets[s.Name], k)
			}
		}
		secretKeys := map[string]bool{}
		for _, keys := range secrets {
			for _, k := range keys {
				secretKeys[k] = true
			}
		}
		refs := 0
		for _, d := range m.workloads {
			for _, c := range allContainers(d.Template.Spec) {
				assert.Empty(t, c.EnvFrom, "%s/%s: name each variable, so that the tests can see it", d.Name, c.Name)
				for _, e := range c.Env {
					if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
						assert.False(t, secretKeys[e.Name], "%s/%s: %s is a secret, set it from its Secret", d.Name, c.Name, e.Name)
						continue
					}
					refs++
					ref := e.ValueFrom.SecretKeyRef
					assert.Contains(t, secrets[ref.Name], ref.Key, "%s/%s: %s comes from secret %s key %s, which neither the README nor %s creates",
						d.Name, c.Name, e.Name, ref.Name, ref.Key, o)
				}
			}
		}
		assert.NotZero(t, refs)
	})
}
