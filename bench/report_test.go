package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/vg"
)

// sampleReport is a small report with known figures: fuse is the
// baseline, client twice as fast on seqwrite, local failed on listdir,
// kernel skipped.
func sampleReport() *Report {
	ws, err := SelectWorkloads(Workloads(DefaultSizes()), []string{"seqwrite", "listdir"})
	if err != nil {
		panic(err)
	}
	r := &Report{
		Started:   time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Elapsed:   Duration(90 * time.Second),
		Host:      HostInfo{Hostname: "h", Kernel: "6.1", CPUs: 2, GoVersion: "go1.26"},
		Target:    "local",
		Baseline:  "fuse",
		Workloads: ws,
		Paths: []PathStatus{
			{Name: "fuse"}, {Name: "kernel", Skipped: "kernel has no NFS client (nfs4 not in /proc/filesystems)"},
			{Name: "client"}, {Name: "local"},
		},
	}
	add := func(w, p string, v float64, unit string) {
		r.Results = append(r.Results, Result{Workload: w, Path: p, Value: v, Unit: unit, Ops: 10,
			Elapsed: Duration(time.Second), P50: Duration(1500 * time.Microsecond), P99: Duration(42 * time.Millisecond)})
	}
	add("seqwrite", "fuse", 100, UnitMiBps)
	add("seqwrite", "client", 200, UnitMiBps)
	add("seqwrite", "local", 1600, UnitMiBps)
	add("listdir", "fuse", 50000, UnitEntriesps)
	add("listdir", "client", 25000, UnitEntriesps)
	r.Results = append(r.Results, Result{Workload: "listdir", Path: "local", Unit: UnitEntriesps, Error: "boom"})
	return r
}

func TestRatio(t *testing.T) {
	r := sampleReport()
	for _, tc := range []struct {
		w, p string
		want float64
		ok   bool
	}{
		{"seqwrite", "fuse", 1, true},
		{"seqwrite", "client", 2, true},
		{"seqwrite", "local", 16, true},
		{"listdir", "client", 0.5, true},
		{"listdir", "local", 0, false}, // failed cell
		{"listdir", "kernel", 0, false},
		{"nosuch", "fuse", 0, false},
	} {
		got, ok := r.Ratio(tc.w, tc.p)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Ratio(%s, %s) = %v, %v; want %v, %v", tc.w, tc.p, got, ok, tc.want, tc.ok)
		}
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	t.Log("\n" + out)
	for _, want := range []string{
		"VS FUSE",
		"seqwrite  fuse       100  MiB/s      1.50ms  42.00ms    1.00x\n",
		"          client     200  MiB/s      1.50ms  42.00ms    2.00x\n",
		"          local     1600  MiB/s      1.50ms  42.00ms   16.00x\n",
		"          local   failed\n",
		"Ratio to fuse (above 1.00x: faster than fuse)",
		"WORKLOAD   fuse  client   local\n",
		"listdir   1.00x   0.50x       -\n",
		"path kernel skipped: kernel has no NFS client (nfs4 not in /proc/filesystems)",
		"listdir on local failed: boom",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if strings.Contains(out, "kernel  ") {
		t.Error("a skipped path has a column")
	}
	if strings.Contains(out, "nconnect") {
		t.Error("a run with one connection per session mentions nconnect")
	}
	r := sampleReport()
	r.NConnect = 4
	b.Reset()
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if want := "nconnect=4: the fuse and client paths each use 4 connections per NFS session"; !strings.Contains(b.String(), want) {
		t.Errorf("table of an nconnect=4 run lacks %q", want)
	}
}

func TestFormat(t *testing.T) {
	for v, want := range map[float64]string{1234.5: "1234", 123.45: "123", 12.345: "12.3", 1.2345: "1.23"} {
		if got := FormatValue(v); got != want {
			t.Errorf("FormatValue(%v) = %q, want %q", v, got, want)
		}
	}
	for d, want := range map[time.Duration]string{0: "-", 85 * time.Microsecond: "85µs", 1234 * time.Microsecond: "1.23ms", 2500 * time.Millisecond: "2.50s"} {
		if got := FormatLatency(d); got != want {
			t.Errorf("FormatLatency(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	file := filepath.Join(t.TempDir(), "r.json")
	if err := r.WriteJSON(file); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"p99": "42ms"`) {
		t.Errorf("durations are not human-readable in JSON:\n%s", b)
	}
	got, err := ReadJSON(file)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, r)
	}
}

func TestWriteChart(t *testing.T) {
	r := sampleReport()
	dir := t.TempDir()
	for _, name := range []string{"c.svg", "c.png"} {
		file := filepath.Join(dir, name)
		if err := r.WriteChart(file); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(file); err != nil || fi.Size() < 1000 {
			t.Fatalf("%s: %v, %d bytes", name, err, fi.Size())
		}
	}
	if err := r.WriteChart(filepath.Join(dir, "c.gif")); err == nil {
		t.Error("chart to .gif accepted")
	}
	svg, err := os.ReadFile(filepath.Join(dir, "c.svg"))
	if err != nil {
		t.Fatal(err)
	}
	// Every text names a generic family after Liberation: a viewer without
	// it must not fall back to something wider and clip the text.
	if n, m := strings.Count(string(svg), "font-family:"), strings.Count(string(svg), "font-family:"+
		"'Liberation Serif','Times New Roman',Times,serif;"); n == 0 || n != m {
		t.Errorf("%d of %d font-family declarations name the fallbacks", m, n)
	}
	if !strings.Contains(string(svg), "(baseline: the 1x line)") {
		t.Error("the legend does not call the baseline the 1x line")
	}
}

// TestChartLegendBand: the y axis keeps a band above the last gridline at
// least as tall as the legend, whatever the spread of the bars.
func TestChartLegendBand(t *testing.T) {
	height := 4.5 * vg.Inch
	plotPts := float64(height.Points()) - chartMargins
	for _, tc := range []struct {
		lo, hi float64
		rows   int
	}{{-1, 1, 5}, {-0.3, 0.4, 2}, {-6, 3.2, 5}, {-1, 1, 9}} {
		yMin, gridTop, yMax := yRange(tc.lo, tc.hi, tc.rows, height)
		if yMin > tc.lo || gridTop < tc.hi {
			t.Errorf("%v: axis %v..%v does not hold the bars", tc, yMin, gridTop)
		}
		bandPts := plotPts * (yMax - gridTop) / (yMax - yMin)
		if legend := float64(tc.rows)*legendRow + 8; bandPts < legend {
			t.Errorf("%v: band of %.0f pt above the gridlines for a %.0f pt legend", tc, bandPts, legend)
		}
	}
}

func TestSelectWorkloads(t *testing.T) {
	all := Workloads(DefaultSizes())
	got, err := SelectWorkloads(all, []string{"untar", "seqread*"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, w := range got {
		names = append(names, w.Name)
	}
	if want := []string{"seqread-cold", "seqread-cold-client", "seqread-warm", "untar"}; !reflect.DeepEqual(names, want) {
		t.Errorf("selected %v, want %v (table order)", names, want)
	}
	if _, err := SelectWorkloads(all, []string{"nosuch"}); err == nil || !strings.Contains(err.Error(), "seqwrite") {
		t.Errorf("unknown workload: err = %v, want the list of names", err)
	}
	for _, w := range all {
		if _, err := bodyOf(w.Name); err != nil {
			t.Error(err)
		}
	}
}
