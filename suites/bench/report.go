package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Num is a float64 that encodes NaN and infinities as JSON null (a figure
// that could not be measured).
type Num float64

func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatFloat(f, 'g', 6, 64)), nil
}

func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = Num(f)
	return err
}

// Figure kinds: how a metric's figure relates the measured value to its
// reference measured in the same round.
const (
	KindRatio = "ratio" // measured / reference, higher is better
	KindAdded = "added" // measured - reference, lower is better
)

// Round is one round of one metric.
type Round struct {
	Reference Num `json:"reference"`
	Measured  Num `json:"measured"`
	Figure    Num `json:"figure"`
}

// Metric is one line of the table: the medians over rounds.
type Metric struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`      // of reference and measured: "req/s" or "ms"
	RefLabel  string  `json:"reference"` // what the reference is: "direct" or "proxied"
	Kind      string  `json:"kind"`      // ratio or added
	Reference Num     `json:"reference_median"`
	Measured  Num     `json:"measured_median"`
	Figure    Num     `json:"figure_median"` // median of the per-round figures
	Goal      string  `json:"goal,omitempty"`
	Meets     *bool   `json:"meets_goal,omitempty"`
	Rounds    []Round `json:"rounds"`
	goal      float64
}

// Idle is the 1,000 idle streams measurement of one target.
type Idle struct {
	Streams        int     `json:"streams"`
	Opened         int     `json:"opened"` // requests the mock saw in flight at the peak
	Skipped        string  `json:"skipped,omitempty"`
	Process        string  `json:"process,omitempty"` // what was measured
	RSSBaselineMiB Num     `json:"rss_baseline_mib"`
	RSSPeakMiB     Num     `json:"rss_peak_mib"`
	RSSAfterMiB    Num     `json:"rss_after_mib"`
	RSSAddedMiB    Num     `json:"rss_added_mib"` // peak - baseline
	FDsBaseline    int     `json:"fds_baseline"`
	FDsPeak        int     `json:"fds_peak"`
	FDsAfter       int     `json:"fds_after"`
	ThreadsPeak    int     `json:"threads_peak"`
	Goroutines     *[3]int `json:"goroutines,omitempty"` // baseline, peak, after, when observable
	FDsReleased    bool    `json:"fds_released"`         // FDs back to baseline within 10s of cancelling
	RSSReleased    bool    `json:"rss_released"`         // RSS back within half the added amount within 10s
	Goal           string  `json:"goal"`
	Meets          *bool   `json:"meets_goal,omitempty"`
}

// TargetReport is every figure for one proxy.
type TargetReport struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Desc    string   `json:"description"`
	Metrics []Metric `json:"metrics"`
	Idle    *Idle    `json:"idle_streams,omitempty"`
}

// Report is bench.json.
type Report struct {
	Tool     string         `json:"tool_version"`
	Date     string         `json:"date"`
	Machine  Machine        `json:"machine"`
	Settings Settings       `json:"settings"`
	LoadLib  string         `json:"load_library"`
	Targets  []TargetReport `json:"targets"`
	Notes    []string       `json:"notes,omitempty"`
	Elapsed  string         `json:"elapsed"`
}

// Machine describes where the numbers came from.
type Machine struct {
	CPUs   int    `json:"cpus"`
	MemGiB Num    `json:"mem_gib"`
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	Go     string `json:"go"`
	Kernel string `json:"kernel,omitempty"`
}

// Settings are the run's parameters, as recorded.
type Settings struct {
	Rounds       int    `json:"rounds"`
	Duration     string `json:"duration"`
	Conns        []int  `json:"conns"`
	Rate         int    `json:"latency_rate_per_s"`
	StreamChunks int    `json:"stream_chunks"`
	StreamGap    string `json:"stream_interval"`
	StreamConc   int    `json:"stream_concurrency"`
	IdleStreams  int    `json:"idle_streams"`
	RejectConns  int    `json:"rejection_conns"`
}

// WriteJSON writes bench.json into dir and returns its path.
func (r *Report) WriteJSON(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, "bench.json")
	return p, os.WriteFile(p, append(b, '\n'), 0o644)
}

func fmtNum(v Num, unit string) string {
	f := float64(v)
	if math.IsNaN(f) {
		return "n/a"
	}
	switch unit {
	case "req/s":
		return fmt.Sprintf("%.0f/s", f)
	case "ms":
		return fmt.Sprintf("%.3fms", f)
	}
	return fmt.Sprintf("%.3g", f)
}

func fmtFigure(m Metric) string {
	f := float64(m.Figure)
	switch {
	case math.IsNaN(f):
		return "n/a"
	case m.Kind == KindRatio:
		return fmt.Sprintf("%.2fx", f)
	default:
		return fmt.Sprintf("%+.3fms", f)
	}
}

func verdict(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "ok"
	}
	return "MISS"
}

// WriteTable prints one table per target and, with several targets, a
// side-by-side comparison of the figures.
func (r *Report) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "tollgate bench %s  %s  %d CPUs, %.0f GiB, %s  load: %s\n", r.Tool, r.Date, r.Machine.CPUs, float64(r.Machine.MemGiB), r.Machine.Go, r.LoadLib)
	fmt.Fprintf(w, "medians of %d rounds, %s per measurement, direct and proxied alternating\n", r.Settings.Rounds, r.Settings.Duration)
	for _, t := range r.Targets {
		fmt.Fprintf(w, "\n%s (%s)\n", t.Name, t.Desc)
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "metric\treference\tmeasured\tfigure\tgoal\t\t")
		for _, m := range t.Metrics {
			fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\t\n", m.Name, m.RefLabel, fmtNum(m.Reference, m.Unit), fmtNum(m.Measured, m.Unit), fmtFigure(m), m.Goal, verdict(m.Meets))
		}
		if id := t.Idle; id != nil {
			if id.Skipped != "" {
				fmt.Fprintf(tw, "idle streams\t\t\tskipped: %s\t\t\t\n", id.Skipped)
			} else {
				fmt.Fprintf(tw, "%d idle streams: RSS added\tbase %.1fMiB\tpeak %.1fMiB\t%+.1fMiB\t%s\t%s\t\n", id.Streams, float64(id.RSSBaselineMiB), float64(id.RSSPeakMiB), float64(id.RSSAddedMiB), id.Goal, verdict(id.Meets))
				fmt.Fprintf(tw, "  10s after cancel: FDs, RSS\t%d FDs\t%d FDs peak\t%d FDs, %.1fMiB\treleased: FDs %s, RSS %s\t\t\n", id.FDsBaseline, id.FDsPeak, id.FDsAfter, float64(id.RSSAfterMiB), yesno(id.FDsReleased), yesno(id.RSSReleased))
			}
		}
		tw.Flush()
	}
	if len(r.Targets) > 1 {
		fmt.Fprintf(w, "\nside by side (figures)\n")
		tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
		hdr := []string{"metric"}
		for _, t := range r.Targets {
			hdr = append(hdr, t.Name)
		}
		fmt.Fprintln(tw, strings.Join(hdr, "\t")+"\t")
		for i, m := range r.Targets[0].Metrics {
			row := []string{m.Name}
			for _, t := range r.Targets {
				if i < len(t.Metrics) {
					row = append(row, fmtFigure(t.Metrics[i]))
				}
			}
			fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		}
		row := []string{"idle RSS added"}
		for _, t := range r.Targets {
			if t.Idle == nil || t.Idle.Skipped != "" {
				row = append(row, "n/a")
			} else {
				row = append(row, fmt.Sprintf("%+.1fMiB", float64(t.Idle.RSSAddedMiB)))
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
		tw.Flush()
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func yesno(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
