package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocs_ServedDocumentIsTheValidatedOne: the document a REST client reads
// through the gateway is the one every exchange of these tests is checked
// against.
func TestDocs_ServedDocumentIsTheValidatedOne(t *testing.T) {
	want, err := os.ReadFile(specPath)
	require.NoError(t, err)
	resp, err := http.Get(base + "/docs/openapi.yaml")
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, string(want), string(got))
}

// postman is the part of a Postman v2.1 collection the story runner reads.
type postman struct {
	Variable []struct{ Key, Value string }
	Item     []postmanItem
}

type postmanItem struct {
	Name    string
	Item    []postmanItem
	Request struct {
		Method string
		URL    struct{ Raw string }
		Body   struct{ Raw string }
	}
	Event []struct {
		Listen string
		Script struct{ Exec []string }
	}
}

var (
	setVar       = regexp.MustCompile(`pm\.collectionVariables\.set\("(\w+)", pm\.response\.json\(\)\.id\)`)
	expectStatus = regexp.MustCompile(`pm\.response\.to\.have\.status\((\d+)\)`)
	placeholder  = regexp.MustCompile(`\{\{(\$?\w+)\}\}`)
)

// TestPostman_StoryRunsAsWritten runs the collection's "Story" folder in
// order against the stack, as Postman's runner would: one cookie jar, the
// variables its test scripts save, the statuses they expect.
func TestPostman_StoryRunsAsWritten(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "client", "docs", "ticketing.postman_collection.json"))
	require.NoError(t, err)
	var coll postman
	require.NoError(t, json.Unmarshal(raw, &coll))
	vars := map[string]string{}
	for _, v := range coll.Variable {
		vars[v.Key] = v.Value
	}
	vars["baseUrl"] = base
	vars["$timestamp"] = strconv.FormatInt(time.Now().UnixNano(), 10)
	expand := func(s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(m string) string {
			v, ok := vars[placeholder.FindStringSubmatch(m)[1]]
			require.True(t, ok, "unknown variable %s", m)
			return v
		})
	}

	require.NotEmpty(t, coll.Item)
	require.Equal(t, "Story", coll.Item[0].Name)
	u := newUser(t, base)
	for _, item := range coll.Item[0].Item {
		script := ""
		for _, e := range item.Event {
			if e.Listen == "test" {
				script += strings.Join(e.Script.Exec, "\n")
			}
		}
		want := http.StatusOK
		if m := expectStatus.FindStringSubmatch(script); m != nil {
			want, _ = strconv.Atoi(m[1])
		}
		path := strings.TrimPrefix(expand(item.Request.URL.Raw), base)
		var body any
		if item.Request.Body.Raw != "" {
			require.NoError(t, json.Unmarshal([]byte(expand(item.Request.Body.Raw)), &body), item.Name)
		}
		var out json.RawMessage
		// As the collection's descriptions say: an event may not have
		// reached the next service yet; send again a moment later.
		eventually(t, 10*time.Second, func() bool {
			return u.do(item.Request.Method, path, body, &out) == want
		}, item.Name)
		if m := setVar.FindStringSubmatch(script); m != nil {
			var saved struct{ ID string }
			require.NoError(t, json.Unmarshal(out, &saved), item.Name)
			require.NotEmpty(t, saved.ID, item.Name)
			vars[m[1]] = saved.ID
		}
	}
	var o order
	eventually(t, 10*time.Second, func() bool { o = u.order(vars["orderId"]); return o.Status == "complete" }, "order complete")
}
