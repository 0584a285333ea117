package grafana_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"ticketing.dev/common/metrics"
)

// dashboard is the part of Grafana's dashboard model the test reads.
type dashboard struct {
	Title  string  `json:"title"`
	UID    string  `json:"uid"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile("ticketing.json")
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(raw, &d))
	return d
}

// metricName finds the names of the services' metrics in a PromQL query.
var metricName = regexp.MustCompile(`\bticketing_[a-z0-9_]+`)

// registered returns the metric a queried series belongs to: a histogram's
// series add _bucket, _sum and _count to its name.
func registered(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok && slices.Contains(metrics.Names(), base) {
			return base
		}
	}
	return series
}

func TestDashboard_QueriesOnlyMetricsTheServicesRegister(t *testing.T) {
	d := readDashboard(t)
	require.NotEmpty(t, d.Panels)
	queried := map[string]bool{}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, target := range p.Targets {
			names := metricName.FindAllString(target.Expr, -1)
			assert.NotEmpty(t, names, "panel %q %s queries none of the services' metrics: %s", p.Title, target.RefID, target.Expr)
			for _, n := range names {
				m := registered(n)
				assert.Contains(t, metrics.Names(), m, "panel %q queries %s, which no service registers", p.Title, n)
				queried[m] = true
			}
		}
	}
	for _, n := range metrics.Names() {
		assert.True(t, queried[n], "no panel shows %s", n)
	}
}

func TestDashboard_IsWellFormed(t *testing.T) {
	d := readDashboard(t)
	assert.Equal(t, "ticketing", d.UID)
	assert.NotEmpty(t, d.Title)
	ids := map[int]string{}
	for _, p := range d.Panels {
		assert.NotEmpty(t, p.Title, "panel %d", p.ID)
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.Type == "row" {
			continue
		}
		if assert.NotNil(t, p.Datasource, "panel %q", p.Title) {
			assert.Equal(t, "${datasource}", p.Datasource.UID, "panel %q uses the dashboard's data source", p.Title)
		}
		refs := map[string]bool{}
		for _, target := range p.Targets {
			assert.False(t, refs[target.RefID], "panel %q repeats refId %s", p.Title, target.RefID)
			refs[target.RefID] = true
			assert.Equal(t, strings.Count(target.Expr, "("), strings.Count(target.Expr, ")"), "panel %q %s: %s", p.Title, target.RefID, target.Expr)
		}
	}
}
