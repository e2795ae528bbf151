package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPercentile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3} // unsorted on purpose
	cases := []struct{ p, want float64 }{{0, 1}, {25, 2}, {50, 3}, {75, 4}, {100, 5}, {90, 4.6}, {99, 4.96}, {-5, 1}, {150, 5}}
	for _, c := range cases {
		if got := Percentile(xs, c.p); !near(got, c.want) {
			t.Errorf("Percentile(%v, %v) = %v, want %v", xs, c.p, got, c.want)
		}
	}
	if xs[0] != 5 {
		t.Errorf("Percentile sorted its input: %v", xs)
	}
	if got := Percentile([]float64{7}, 99); got != 7 {
		t.Errorf("single value: got %v", got)
	}
	if got := Percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("empty: got %v, want NaN", got)
	}
	// p99 of 1..100 interpolates between the 99th and 100th values.
	var h []float64
	for i := 1; i <= 100; i++ {
		h = append(h, float64(i))
	}
	if got := Percentile(h, 99); !near(got, 99.01) {
		t.Errorf("p99(1..100) = %v, want 99.01", got)
	}
}

func TestMedianAndRatio(t *testing.T) {
	if got := Median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("odd median = %v", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("even median = %v", got)
	}
	if got := Median([]float64{math.NaN(), 10, 30}); got != 20 {
		t.Errorf("median skipping NaN = %v", got)
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("empty median = %v", got)
	}
	if got := Ratio(3, 4); got != 0.75 {
		t.Errorf("Ratio(3,4) = %v", got)
	}
	for _, c := range [][2]float64{{1, 0}, {math.NaN(), 1}, {1, math.NaN()}} {
		if got := Ratio(c[0], c[1]); !math.IsNaN(got) {
			t.Errorf("Ratio(%v, %v) = %v, want NaN", c[0], c[1], got)
		}
	}
}

func TestSummarizeFigures(t *testing.T) {
	ratio := metricDef{name: "t", unit: "req/s", ref: "direct", kind: KindRatio, goal: 0.5, goalText: ">= 0.50x"}
	rounds := []Round{{100, 40, 0.4}, {100, 60, 0.6}, {90, 54, 0.6}}
	m := ratio.summarize(rounds)
	if float64(m.Figure) != 0.6 || float64(m.Reference) != 100 || float64(m.Measured) != 54 {
		t.Errorf("medians: %+v", m)
	}
	if m.Meets == nil || !*m.Meets {
		t.Errorf("0.6 >= 0.5 should meet the goal")
	}
	added := metricDef{name: "l", unit: "ms", ref: "direct", kind: KindAdded, goal: 0.25}
	added.pick = func(rr roundResults, b string) float64 { return rr.lat50[b] }
	r := added.round(roundResults{lat50: map[string]float64{"d": 0.1, "p": 0.5}}, path{base: "d"}, path{base: "p"})
	if !near(float64(r.Figure), 0.4) {
		t.Errorf("added figure = %v, want 0.4", r.Figure)
	}
	if m := added.summarize([]Round{r}); m.Meets == nil || *m.Meets {
		t.Errorf("+0.4ms should miss a +0.25ms goal")
	}
}

func TestNumJSON(t *testing.T) {
	b, err := json.Marshal([]Num{1.5, Num(math.NaN()), Num(math.Inf(1))})
	if err != nil || string(b) != "[1.5,null,null]" {
		t.Fatalf("got %s, %v", b, err)
	}
}

// TestTinyRun runs the whole bench against the builtin proxy with very short
// measurements and checks bench.json is well formed. It asserts shape, never
// speed.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		Rounds: 2, Duration: 60 * time.Millisecond, Conns: []int{1, 4}, Rate: 100, StreamConc: 2, StreamChunks: 4,
		StreamGap: time.Millisecond, IdleStreams: -1, RejectConns: 4, ReportDir: dir, ToolVersion: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bench.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("bench.json does not parse: %v\n%s", err, b)
	}
	if len(got.Targets) != 1 || got.Targets[0].Kind != "builtin" {
		t.Fatalf("targets: %+v", got.Targets)
	}
	wantNames := []string{"throughput 1 conns", "throughput 4 conns", "latency p50 @100/s", "latency p99 @100/s",
		"ndjson first chunk p50", "ndjson inter-chunk p99", "sse first chunk p50", "sse inter-chunk p99", "401 rejections 4 conns", "401 rejections GET 4 conns"}
	ms := got.Targets[0].Metrics
	if len(ms) != len(wantNames) {
		t.Fatalf("got %d metrics, want %d: %+v", len(ms), len(wantNames), ms)
	}
	for i, m := range ms {
		if m.Name != wantNames[i] {
			t.Errorf("metric %d is %q, want %q", i, m.Name, wantNames[i])
		}
		if len(m.Rounds) != 2 {
			t.Errorf("%s: %d rounds, want 2", m.Name, len(m.Rounds))
		}
		if math.IsNaN(float64(m.Reference)) || math.IsNaN(float64(m.Measured)) || math.IsNaN(float64(m.Figure)) {
			t.Errorf("%s: unmeasured figure: %+v", m.Name, m)
		}
		if m.Unit == "req/s" && !(m.Measured > 0 && m.Reference > 0) {
			t.Errorf("%s: no requests counted: %+v", m.Name, m)
		}
		if m.Kind != KindRatio && m.Kind != KindAdded {
			t.Errorf("%s: kind %q", m.Name, m.Kind)
		}
	}
	if got.Settings.Rounds != 2 || got.Machine.CPUs < 1 || got.Date == "" {
		t.Errorf("header: %+v %+v %q", got.Settings, got.Machine, got.Date)
	}
	var sb stringsBuilder
	rep.WriteTable(&sb)
	if len(sb.b) == 0 {
		t.Error("empty table")
	}
}

type stringsBuilder struct{ b []byte }

func (s *stringsBuilder) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
