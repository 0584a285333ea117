package k8s_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	natsd "github.com/nats-io/nats-server/v2/server"
	stand "github.com/nats-io/nats-streaming-server/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"ticketing.dev/common/bus"
	"ticketing.dev/common/embedded"
	"ticketing.dev/common/events"
)

// secretRef returns the Secret and key a variable of c comes from.
func secretRef(c corev1.Container, name string) (*corev1.SecretKeySelector, bool) {
	e, ok := envVar(c, name)
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		return nil, false
	}
	return e.ValueFrom.SecretKeyRef, true
}

// substituted matches a $(NAME) the kubelet replaces with the variable's value.
var substituted = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// credentialsOf returns the user and password of a URI, as written.
func credentialsOf(uri string) (user, password string, ok bool) {
	_, rest, found := strings.Cut(uri, "://")
	if !found {
		return "", "", false
	}
	info, _, found := strings.Cut(rest, "@")
	if !found {
		return "", "", false
	}
	user, password, _ = strings.Cut(info, ":")
	return user, password, true
}

// containerRunning returns the one container of the manifests whose image
// is image (without its tag).
func containerRunning(t *testing.T, m *manifests, image string) corev1.Container {
	t.Helper()
	var found []corev1.Container
	for _, w := range m.workloads {
		for _, c := range w.Template.Spec.Containers {
			if name, _ := imageRef(c.Image); name == image {
				found = append(found, c)
			}
		}
	}
	require.Len(t, found, 1, "one container runs %s", image)
	return found[0]
}

// TestDatastores_RequireTheCredentialsTheirServiceReadsFromTheSameSecret
// follows each service's MONGO_URI and REDIS_URL to the datastore it names:
// the datastore takes its root user or password from a Secret, and the
// service's URI carries that very Secret's values, substituted by the
// kubelet from variables of its own, never written out.
func TestDatastores_RequireTheCredentialsTheirServiceReadsFromTheSameSecret(t *testing.T) {
	forEachOverlay(t, datastoreCredentials)
}

func datastoreCredentials(t *testing.T, o overlay, m *manifests) {
	seen := 0
	for _, sd := range serviceDeployments(t, m, skaffoldFor(t, o)) {
		c := sd.container
		_, hasHost := envVar(c, "REDIS_HOST")
		assert.False(t, hasHost, "%s: REDIS_HOST carries no password; use REDIS_URL", c.Name)
		for _, name := range []string{"MONGO_URI", "REDIS_URL"} {
			e, ok := envVar(c, name)
			if !ok {
				continue
			}
			seen++
			t.Run(c.Name+"/"+name, func(t *testing.T) {
				user, password, ok := credentialsOf(e.Value)
				require.True(t, ok, "%s carries credentials: %s", name, e.Value)
				store := m.workloadOfService(t, m.serviceNamed(hostOf(e.Value)))
				want := map[string][2]string{} // part of the URI → the datastore's variable it must equal
				switch name {
				case "MONGO_URI":
					want["user"] = [2]string{user, "MONGO_INITDB_ROOT_USERNAME"}
					want["password"] = [2]string{password, "MONGO_INITDB_ROOT_PASSWORD"}
					assert.Contains(t, e.Value, "authSource=admin", "the root user is the admin database's")
				case "REDIS_URL":
					assert.Empty(t, user, "Redis's default user")
					want["password"] = [2]string{password, "REDIS_PASSWORD"}
				}
				storeCtr := store.Template.Spec.Containers[0]
				for part, w := range want {
					m := substituted.FindStringSubmatch(w[0])
					require.NotNil(t, m, "the %s in %s is a $(VARIABLE), not written out", part, name)
					require.Equal(t, m[0], w[0], "the %s is one variable", part)
					i := slices.IndexFunc(c.Env, func(v corev1.EnvVar) bool { return v.Name == m[1] })
					j := slices.IndexFunc(c.Env, func(v corev1.EnvVar) bool { return v.Name == name })
					require.True(t, i >= 0 && i < j, "%s is defined before %s, or the kubelet leaves it as written", m[1], name)
					ref, ok := secretRef(c, m[1])
					require.True(t, ok, "%s comes from a Secret", m[1])
					storeRef, ok := secretRef(storeCtr, w[1])
					require.True(t, ok, "%s: %s comes from a Secret", store.Name, w[1])
					assert.Equal(t, storeRef.Name, ref.Name, "%s: the %s is the datastore's", name, part)
					assert.Equal(t, storeRef.Key, ref.Key, "%s: the %s is the datastore's", name, part)
				}
				if name == "REDIS_URL" {
					assert.Equal(t, "$(REDIS_PASSWORD)", argAfter(storeCtr.Args, "--requirepass"), "Redis requires the password")
				}
			})
		}
	}
	assert.Equal(t, 5, seen, "four MongoDB URIs and a Redis URL")
}

// natsConf returns the NATS server's configuration in nats-config.
func natsConf(t *testing.T, m *manifests) string {
	t.Helper()
	cm := m.configMapNamed("nats-config")
	require.NotNil(t, cm, "ConfigMap nats-config")
	conf, ok := cm.Data["nats.conf"]
	require.True(t, ok, "nats-config holds nats.conf")
	return conf
}

// confPasswords finds the variables the configuration's passwords are.
var confPasswords = regexp.MustCompile(`(?m)password:\s*(\S+)`)

func TestNATSConfig_PasswordsComeFromSecrets(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		conf := natsConf(t, m)
		c := containerRunning(t, m, natsImage(o))
		found := confPasswords.FindAllStringSubmatch(conf, -1)
		require.NotEmpty(t, found)
		for _, f := range found {
			name, ok := strings.CutPrefix(strings.TrimSuffix(f[1], "}"), "$")
			require.True(t, ok, "a password is a $VARIABLE, not written out: %s", f[0])
			_, ok = secretRef(c, name)
			assert.True(t, ok, "%s comes from a Secret", name)
		}
	})
}

// TestNATSConfig_RunsWithEachServicesPermissions starts the overlay's
// server (NATS Streaming, or a NATS server with JetStream) with the
// container's arguments and the ConfigMap's configuration, as the image
// does, and connects with each service's password as its Deployment reads
// it: each may publish its own subjects and no other. The users'
// permissions are bus.ServiceGrants', and the operator's
// bus.OperatorGrant's, on the overlay's transport.
func TestNATSConfig_RunsWithEachServicesPermissions(t *testing.T) {
	forEachOverlay(t, natsPermissions)
}

func natsPermissions(t *testing.T, o overlay, m *manifests) {
	c := containerRunning(t, m, natsImage(o))
	setSecretStandIns(t, c)
	cfg := bus.Config{Transport: o.transport}
	if o.transport == bus.JetStream {
		cfg.URL = startJetStream(t, m)
	} else {
		cfg.URL, cfg.ClusterID = startNATSStreaming(t, m, c)
	}

	services := 0
	for _, sd := range serviceDeployments(t, m, skaffoldFor(t, o)) {
		user, ok := envVar(sd.container, "NATS_USER")
		if !ok {
			_, hasURL := envVar(sd.container, "NATS_URL")
			assert.False(t, hasURL, "%s connects to NATS without a user", sd.deployment.Name)
			continue
		}
		services++
		ref, ok := secretRef(sd.container, "NATS_PASSWORD")
		require.True(t, ok, "%s: NATS_PASSWORD comes from a Secret", sd.deployment.Name)
		t.Run(user.Value, func(t *testing.T) {
			g, ok := bus.ServiceGrants()[user.Value]
			require.True(t, ok, "NATS_USER %s is a service of bus.ServiceGrants", user.Value)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			cfg := cfg
			cfg.ClientID, cfg.User, cfg.Password = "k8s-test-"+user.Value, user.Value, "test-"+ref.Key
			conn, err := bus.Connect(ctx, cfg, slog.New(slog.DiscardHandler))
			require.NoError(t, err, "%s's password is its user's", user.Value)
			defer func() { _ = conn.Close() }()
			for _, s := range events.Subjects() {
				err := conn.Publish(ctx, string(s), []byte(`{}`))
				if slices.Contains(g.Publish, s) {
					assert.NoError(t, err, s)
				} else {
					assert.ErrorIs(t, err, bus.ErrNotPermitted, s)
				}
			}
		})
	}
	assert.Equal(t, len(bus.ServiceGrants()), services, "a Deployment per service of bus.ServiceGrants")
}

// setSecretStandIns sets each variable of c that comes from a Secret to a
// stand-in, "test-" and the Secret's key, for a server that reads its
// configuration's $VARIABLES from its environment.
func setSecretStandIns(t *testing.T, c corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if ref, ok := secretRef(c, e.Name); ok {
			t.Setenv(e.Name, "test-"+ref.Key)
		}
	}
}

// startNATSStreaming starts NATS Streaming as container c runs it, on a
// free port of this machine with a store of its own, and returns its URL
// and cluster id. Its users are the grants' (assertUsersHoldTheGrants)
// and the streaming server's own, who reaches every subject.
func startNATSStreaming(t *testing.T, m *manifests, c corev1.Container) (url, clusterID string) {
	t.Helper()
	clusterID = argAfter(c.Args, "-cid")
	require.Equal(t, "ticketing", clusterID)
	dir := t.TempDir()
	confFile := filepath.Join(dir, "nats.conf")
	require.NoError(t, os.WriteFile(confFile, []byte(natsConf(t, m)), 0o600))
	port, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	args := slices.Clone(c.Args)
	for flag, v := range map[string]string{"-c": confFile, "-p": fmt.Sprint(port), "-m": "0", "-dir": filepath.Join(dir, "store")} {
		i := slices.Index(args, flag)
		require.True(t, i >= 0 && i+1 < len(args), "%s is an argument", flag)
		args[i+1] = v
	}
	noop := func() {}
	sopts, nopts, err := stand.ConfigureOptions(flag.NewFlagSet("nats-streaming-server", flag.ContinueOnError), args, noop, noop, noop)
	require.NoError(t, err, "the image's arguments and configuration")
	nopts.Host, nopts.NoLog, nopts.NoSigs = "127.0.0.1", true, true

	assertUsersHoldTheGrants(t, nopts.Users, bus.STAN, clusterID, sopts.Username)
	i := slices.IndexFunc(nopts.Users, func(u *natsd.User) bool { return u.Username == sopts.Username })
	if assert.GreaterOrEqual(t, i, 0, "streaming.username is a user") {
		assert.Nil(t, nopts.Users[i].Permissions, "the streaming server's own user reaches every subject")
		assert.Equal(t, nopts.Users[i].Password, sopts.Password, "streaming.password is its user's")
	}

	srv, err := stand.RunServerWithOpts(sopts, nopts)
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	return fmt.Sprintf("nats://127.0.0.1:%d", port), clusterID
}

// assertUsersHoldTheGrants checks that the configuration's users are the
// services of bus.ServiceGrants and the operator, each allowed exactly
// what its grant needs on transport, and no one else but the server's own
// user, own ("" for none).
func assertUsersHoldTheGrants(t *testing.T, users []*natsd.User, transport, clusterID, own string) {
	t.Helper()
	grants := bus.ServiceGrants()
	grants["operator"] = bus.OperatorGrant()
	found := map[string]bool{}
	for _, u := range users {
		found[u.Username] = true
		if own != "" && u.Username == own {
			continue
		}
		g, ok := grants[u.Username]
		if !assert.True(t, ok, "user %s has no grant", u.Username) || !assert.NotNil(t, u.Permissions, u.Username) {
			continue
		}
		want := g.PermissionsOn(transport, clusterID)
		if assert.NotNil(t, u.Permissions.Publish, u.Username) && assert.NotNil(t, u.Permissions.Subscribe, u.Username) {
			assert.Equal(t, want.Publish, u.Permissions.Publish.Allow, "%s may publish", u.Username)
			assert.Equal(t, want.Subscribe, u.Permissions.Subscribe.Allow, "%s may subscribe to", u.Username)
			assert.Empty(t, u.Permissions.Publish.Deny, u.Username)
			assert.Empty(t, u.Permissions.Subscribe.Deny, u.Username)
		}
		assert.Nil(t, u.Permissions.Response, "%s: no replies beyond its subjects", u.Username)
	}
	for name := range grants {
		assert.True(t, found[name], "nats.conf has no user %s", name)
	}
}

// patchVersion is an image tag naming a release exactly, such as 7.0.40,
// or v0.203.0 for projects that tag their releases with a v.
var patchVersion = regexp.MustCompile(`^v?\d+\.\d+\.\d+$`)

func TestImages_ThatSkaffoldDoesNotBuildArePinnedToAPatchVersion(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		built := map[string]bool{}
		for _, a := range skaffoldFor(t, o).Build.Artifacts {
			built[a.Image] = true
		}
		for _, w := range m.workloads {
			for _, c := range allContainers(w.Template.Spec) {
				name, tag := imageRef(c.Image)
				if built[name] {
					continue
				}
				assert.Regexp(t, patchVersion, tag, "%s/%s: %s", w.Name, c.Name, c.Image)
			}
		}
	})
}

// credentialName matches the variables that hold a password or key.
var credentialName = regexp.MustCompile(`PASSWORD|_KEY$|^MONGO_(INITDB_ROOT_)?USERNAME$`)

func TestCredentials_ComeFromSecretsNeverWrittenOut(t *testing.T) {
	forEachOverlay(t, func(t *testing.T, o overlay, m *manifests) {
		found := 0
		for _, w := range m.workloads {
			for _, c := range allContainers(w.Template.Spec) {
				for _, e := range c.Env {
					if !credentialName.MatchString(e.Name) {
						continue
					}
					found++
					_, ok := secretRef(c, e.Name)
					assert.True(t, ok, "%s/%s: %s comes from a Secret", w.Name, c.Name, e.Name)
				}
			}
		}
		assert.NotZero(t, found)
	})
}
