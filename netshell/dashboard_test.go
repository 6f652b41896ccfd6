package netshell

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// dashboardPath is the Grafana dashboard shipped for operators (issue 14).
const dashboardPath = "../deploy/grafana/nexusd.json"

// dashboardDatasource is the only datasource a dashboard may name: its
// template variable, so an import never carries someone else's uid.
const dashboardDatasource = "${DS_PROMETHEUS}"

type dashboardPanel struct {
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's panels
}

type dashboard struct {
	SchemaVersion int              `json:"schemaVersion"`
	Panels        []dashboardPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// dashboardQuery is one PromQL expression and where the dashboard uses it.
type dashboardQuery struct{ where, expr string }

// loadDashboard reads the dashboard twice: typed, for panels and queries,
// and as plain JSON, for datasource references wherever they sit.
func loadDashboard(t *testing.T) (dashboard, any) {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	var tree any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	if err := json.Unmarshal(raw, &tree); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d, tree
}

// checkPanels reports panels without a title or a query, and queries that
// ignore the instance variable; it returns every query.
func checkPanels(panels []dashboardPanel) (queries []dashboardQuery, problems []string) {
	for i, p := range panels {
		if p.Title == "" {
			problems = append(problems, fmt.Sprintf("panel %d (%s) has no title", i, p.Type))
		}
		if p.Type == "row" {
			q, pr := checkPanels(p.Panels)
			queries, problems = append(queries, q...), append(problems, pr...)
			continue
		}
		if len(p.Targets) == 0 {
			problems = append(problems, fmt.Sprintf("panel %q has no target", p.Title))
		}
		for _, tg := range p.Targets {
			switch {
			case strings.TrimSpace(tg.Expr) == "":
				problems = append(problems, fmt.Sprintf("panel %q has a target without an expression", p.Title))
			case !strings.Contains(tg.Expr, `instance=~"$instance"`):
				problems = append(problems, fmt.Sprintf("panel %q: %s ignores the instance variable", p.Title, tg.Expr))
			}
			queries = append(queries, dashboardQuery{where: fmt.Sprintf("panel %q", p.Title), expr: tg.Expr})
		}
	}
	return queries, problems
}

// hardCodedDatasources lists every datasource reference in the tree that
// is not the template variable.
func hardCodedDatasources(node any, path string) []string {
	var out []string
	switch n := node.(type) {
	case map[string]any:
		for k, v := range n {
			if k == "datasource" {
				switch ds := v.(type) {
				case string:
					if ds != dashboardDatasource {
						out = append(out, fmt.Sprintf("%s.datasource = %q", path, ds))
					}
				case map[string]any:
					if ds["uid"] != dashboardDatasource {
						out = append(out, fmt.Sprintf("%s.datasource.uid = %v", path, ds["uid"]))
					}
				}
				continue
			}
			out = append(out, hardCodedDatasources(v, path+"."+k)...)
		}
	case []any:
		for i, v := range n {
			out = append(out, hardCodedDatasources(v, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

// metricName finds metric names in PromQL: the daemon's own and the Go and
// process collectors'. Label names and $__ variables do not match.
var metricName = regexp.MustCompile(`\b(?:nexusd|go|process)_[a-z0-9_]*[a-z0-9]\b`)

// exportedNames are the series names g gathers; a histogram or a summary
// also answers to its _bucket, _sum and _count series.
func exportedNames(g prometheus.Gatherer) (map[string]bool, error) {
	families, err := g.Gather()
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool)
	for _, f := range families {
		n := f.GetName()
		out[n] = true
		switch f.GetType().String() {
		case "HISTOGRAM", "GAUGE_HISTOGRAM":
			out[n+"_bucket"], out[n+"_sum"], out[n+"_count"] = true, true, true
		case "SUMMARY":
			out[n+"_sum"], out[n+"_count"] = true, true
		}
	}
	return out, nil
}

// unexported lists, one line each, the metrics queries use that exported
// lacks, naming where each is used.
func unexported(queries []dashboardQuery, exported map[string]bool) []string {
	var out []string
	for _, q := range queries {
		for _, m := range metricName.FindAllString(q.expr, -1) {
			if !exported[m] {
				out = append(out, fmt.Sprintf("%s queries %s, which the daemon does not export", q.where, m))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestDashboardQueriesOnlyExportedMetrics: every metric the Grafana
// dashboard queries is one a running daemon exports, every panel has a
// title and a query, and no datasource is hard-coded.
func TestDashboardQueriesOnlyExportedMetrics(t *testing.T) {
	d, tree := loadDashboard(t)
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want a current Grafana schema (39)", d.SchemaVersion)
	}
	queries, problems := checkPanels(d.Panels)
	for _, p := range problems {
		t.Error(p)
	}
	if len(queries) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Definition != "" {
			queries = append(queries, dashboardQuery{where: "variable " + v.Name, expr: v.Definition})
		}
	}
	if vars["DS_PROMETHEUS"] != "datasource" || vars["instance"] != "query" {
		t.Errorf("template variables %v: want DS_PROMETHEUS (datasource) and instance (query)", vars)
	}
	for _, ds := range hardCodedDatasources(tree, "$") {
		t.Errorf("%s: use %s so importers pick their own Prometheus", ds, dashboardDatasource)
	}

	// A daemon with a little traffic, so labelled series (delivered by
	// origin, sidecar refusals) exist.
	ts := startServer(t, nil)
	ctx := ctx5(t)
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"dash/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, st, 1) // subscription_info
	if _, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "dash/a", Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if m := recvUntil(t, st, 1)[0].GetMessage(); m == nil {
		t.Fatal("the subscriber got no message")
	}
	if _, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "dash/+"}); err == nil {
		t.Fatal("publishing to a wildcard topic succeeded; the test wanted a refusal")
	}
	exported, err := exportedNames(ts.s.metrics.reg)
	if err != nil {
		t.Fatal(err)
	}

	// Counters labelled by keys the node adds on first use (shed by
	// store, numbers passed by why) need peers and full stores to appear;
	// the daemon declares them from the start, and that is checked here.
	for _, def := range coreMetricDefs() {
		if n := "nexusd_" + def.name; !exported[n] && def.label != "" {
			t.Logf("%s has no series yet (no %s seen); accepted as declared", n, def.label)
			exported[n] = true
		}
	}

	if bad := unexported([]dashboardQuery{{where: "self-check", expr: "rate(nexusd_mesage_published_total[5m])"}}, exported); len(bad) != 1 {
		t.Fatalf("a misspelled metric was not caught: %v", bad)
	}
	for _, m := range unexported(queries, exported) {
		t.Error(m)
	}
}
