package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"ticketing.dev/common/embedded"
	"ticketing.dev/common/testkit"
)

// testJWTKey is a JWT_KEY of the length the services demand.
const testJWTKey = "auth-test-jwt-key-of-at-least-32-bytes"

func TestRun_FailsAtOnceNamingMissingOrBadConfiguration(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing set", nil, []string{"JWT_KEY must be defined", "MONGO_URI must be defined"}},
		{"no JWT_KEY", map[string]string{"MONGO_URI": "mongodb://127.0.0.1:1/auth"}, []string{"JWT_KEY must be defined"}},
		{"no MONGO_URI", map[string]string{"JWT_KEY": testJWTKey}, []string{"MONGO_URI must be defined"}},
		{"JWT_KEY of 31 bytes", map[string]string{"JWT_KEY": testJWTKey[:31], "MONGO_URI": "mongodb://127.0.0.1:1/auth"}, []string{"JWT_KEY must be at least 32 bytes"}},
		{"bad RATE_LIMIT", map[string]string{"JWT_KEY": testJWTKey, "MONGO_URI": "mongodb://127.0.0.1:1/auth", "RATE_LIMIT": "-1"}, []string{"RATE_LIMIT"}},
		{"bad MONGO_URI", map[string]string{"JWT_KEY": testJWTKey, "MONGO_URI": "postgres://db"}, []string{"MONGO_URI"}},
		{"bad SIGNIN_FAILURE_LIMIT", map[string]string{"JWT_KEY": testJWTKey, "MONGO_URI": "mongodb://127.0.0.1:1/auth", "SIGNIN_FAILURE_LIMIT": "ten"}, []string{"SIGNIN_FAILURE_LIMIT"}},
		{"bad SIGNIN_FAILURE_WINDOW", map[string]string{"JWT_KEY": testJWTKey, "MONGO_URI": "mongodb://127.0.0.1:1/auth", "SIGNIN_FAILURE_WINDOW": "0s"}, []string{"SIGNIN_FAILURE_WINDOW"}},
		{"bad TRUSTED_PROXIES", map[string]string{"JWT_KEY": testJWTKey, "MONGO_URI": "mongodb://127.0.0.1:1/auth", "TRUSTED_PROXIES": "gateway"}, []string{"TRUSTED_PROXIES"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()
			// Bounded, so that a configuration let through fails the test
			// rather than waiting for a database that does not exist.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()

			err := run(ctx, testkit.Getenv(tt.env), &out)

			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.Less(t, time.Since(start), time.Second, "must not try to connect first")
		})
	}
}

func TestRun_ServesUntilCancelledThenShutsDownGracefully(t *testing.T) {
	uri := testkit.MongoURI(t)
	out := &testkit.Buffer{}
	svc := testkit.StartService(t, run, testkit.ServiceEnv(uri, nil, map[string]string{"JWT_KEY": testJWTKey}), testkit.Stdout(out))
	base, port := svc.URL, svc.Env["PORT"]

	resp, err := http.Get(base + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	resp, err = http.Post(base+"/api/users/signup", "application/json",
		strings.NewReader(`{"email":"test@test.com","password":"password"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.NotEmpty(t, resp.Cookies())

	assertStoredWithProductionHash(t, uri)

	// A request in flight when the signal comes is finished, not dropped.
	// One request first makes sure the server has accepted the connection;
	// then half of a second, the signal, and once new connections are
	// refused, the rest.
	conn, err := net.Dial("tcp", "127.0.0.1:"+port)
	require.NoError(t, err)
	defer conn.Close()
	connReader := bufio.NewReader(conn)
	_, err = fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: auth\r\n\r\n")
	require.NoError(t, err)
	first, err := http.ReadResponse(connReader, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, first.Body)
	first.Body.Close()
	body := `{"email":"late@test.com","password":"password"}`
	_, err = fmt.Fprintf(conn, "POST /api/users/signup HTTP/1.1\r\nHost: auth\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	require.NoError(t, err)
	// Give the server a moment to read the headers and count the
	// connection as active; an idle one would rightly be closed.
	time.Sleep(100 * time.Millisecond)

	svc.Stop()
	testkit.Eventually(t, func() bool {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, "auth to stop accepting connections")

	_, err = conn.Write([]byte(body[10:]))
	require.NoError(t, err)
	late, err := http.ReadResponse(connReader, nil)
	require.NoError(t, err)
	late.Body.Close()
	assert.Equal(t, http.StatusCreated, late.StatusCode)

	assert.NoError(t, svc.Wait(t, 30*time.Second))
	testkit.AssertJSONLogs(t, out.String())
}

// assertStoredWithProductionHash reads the user run stored, in the database
// MONGO_URI names, and checks its password was hashed at the default cost.
func assertStoredWithProductionHash(t *testing.T, uri string) {
	t.Helper()
	cs, err := connstring.Parse(uri)
	require.NoError(t, err)
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	require.NoError(t, err)
	defer func() { _ = client.Disconnect(context.Background()) }()
	var doc struct {
		Email    string `bson:"email"`
		Password string `bson:"password"`
	}
	err = client.Database(cs.Database).Collection("users").FindOne(t.Context(), bson.D{}).Decode(&doc)
	require.NoError(t, err)
	assert.Equal(t, "test@test.com", doc.Email)
	assert.True(t, strings.HasPrefix(doc.Password, "scrypt$ln=14,r=8,p=1$"), doc.Password)
}

// TestRun_WaitsForADatabaseThatStartsLater: in Kubernetes a service may start
// before its MongoDB; it waits instead of exiting into a crash loop.
func TestRun_WaitsForADatabaseThatStartsLater(t *testing.T) {
	dbAddr := testkit.FreeAddr(t)
	// The database starts a second after the service, which meanwhile
	// must neither give up nor claim to be ready.
	started := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		f, err := embedded.StartFerretDB(embedded.FerretDBConfig{Addr: dbAddr, Dir: t.TempDir()})
		if err == nil {
			t.Cleanup(f.Stop)
		}
		started <- err
	}()

	svc := testkit.StartService(t, run, map[string]string{"JWT_KEY": testJWTKey, "MONGO_URI": "mongodb://" + dbAddr + "/auth"})

	require.NoError(t, <-started)
	require.NoError(t, svc.StopAndWait(t))
}
