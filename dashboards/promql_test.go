package dashboards_test

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

var (
	stringLit = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	rangeSel  = regexp.MustCompile(`\[[^\]]*\]`)
	matchers  = regexp.MustCompile(`\{[^}]*\}`)
	grouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords  = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "atan2", "inf", "nan"}
)

// metricNames lists the metric names an expression selects. It is a
// lexer, not a parser (the real parse is Prometheus's, in the live test):
// it drops string literals, matchers, ranges and grouping label lists,
// then takes every identifier that is not a function call or keyword.
// A selector written only as {__name__=~"..."} names no metric.
func metricNames(expr string) []string {
	s := stringLit.ReplaceAllString(expr, `""`)
	s = rangeSel.ReplaceAllString(s, "")
	s = matchers.ReplaceAllString(s, "")
	s = grouping.ReplaceAllString(s, "")
	var out []string
	for _, loc := range ident.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && (s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9' || s[loc[0]-1] == '.') {
			continue // the tail of a number such as 1e3
		}
		if strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") || slices.Contains(keywords, strings.ToLower(name)) {
			continue
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func TestMetricNames(t *testing.T) {
	for _, c := range []struct {
		name string
		expr string
		want []string
	}{
		{"plain", `nsagent_namespaces`, []string{"nsagent_namespaces"}},
		{"selector", `nsagent_namespaces{job=~"$job",type="net"}`, []string{"nsagent_namespaces"}},
		{"aggregation", `sum by (type) (nsagent_namespaces{type=~"a|b"})`, []string{"nsagent_namespaces"}},
		{"aggregation after", `sum(x) by (type)`, []string{"x"}},
		{"rate and range", `rate(process_cpu_seconds_total{job="j"}[$__rate_interval])`, []string{"process_cpu_seconds_total"}},
		{"join", `(a{x="1"}) * on (job, instance, id) group_left (name, image) b{name=~"$c"}`, []string{"a", "b"}},
		{"topk", `topk(10, nsagent_namespace_processes{type=~".+"})`, []string{"nsagent_namespace_processes"}},
		{"name matcher only", `count by (__name__) ({__name__=~"nsagent_.+",job="x"})`, nil},
		{"keywords and numbers", `a > bool 1e3 or b unless c offset 5m`, []string{"a", "b", "c"}},
		{"string with braces", `label_replace(a, "dst", "{x}", "src", "(.*)")`, []string{"a"}},
		{"comparison", `nsagent_scrape_collector_success{job="j"} == 0`, []string{"nsagent_scrape_collector_success"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := metricNames(c.expr); !slices.Equal(got, c.want) {
				t.Errorf("metricNames(%q) = %q, want %q", c.expr, got, c.want)
			}
		})
	}
}
