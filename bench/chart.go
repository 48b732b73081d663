package bench

import (
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// pathColors keeps each path's color the same from run to run and chart
// to chart (Okabe-Ito, readable by color-blind people).
var pathColors = map[string]color.RGBA{
	"fuse":         {0x00, 0x72, 0xB2, 0xFF}, // blue
	"kernel":       {0xCC, 0x79, 0xA7, 0xFF}, // purple
	"client":       {0xE6, 0x9F, 0x00, 0xFF}, // orange
	"client-plain": {0xF0, 0xE4, 0x42, 0xFF}, // yellow
	"local":        {0x00, 0x9E, 0x73, 0xFF}, // green
}

var otherColor = color.RGBA{0x99, 0x99, 0x99, 0xFF}

// WriteChart draws one group of bars per workload, one bar per path,
// each the path's figure relative to the baseline on a log2 scale: the
// baseline is the 1x line, a bar reaching 2x is twice as fast, 1/2x half
// as fast. Ratios, not raw figures, because workloads differ in unit and
// by orders of magnitude; log, because 0.5x and 2x are the same distance
// from parity. The format follows file's extension (.svg, .png, .pdf).
func (r *Report) WriteChart(file string) error {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".svg", ".png", ".pdf":
	default:
		return fmt.Errorf("bench: chart %s: want a .svg, .png or .pdf file", file)
	}
	paths := r.RanPaths()
	if len(paths) == 0 || len(r.Workloads) == 0 {
		return errors.New("bench: chart: nothing ran")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("efs-fuse bench: each path relative to %s (log scale; above the line = faster than %s)", r.Baseline, r.Baseline)
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.Text = "ratio to " + r.Baseline

	names := make([]string, len(r.Workloads))
	for i, w := range r.Workloads {
		names[i] = w.Name
	}
	barW := vg.Points(min(16, 480/float64(len(r.Workloads)*len(paths))))
	lo, hi := -1.0, 1.0
	for i, path := range paths {
		vals := make(plotter.Values, len(r.Workloads))
		for j, w := range r.Workloads {
			if ratio, ok := r.Ratio(w.Name, path); ok {
				vals[j] = math.Log2(ratio)
				lo, hi = min(lo, vals[j]), max(hi, vals[j])
			}
		}
		bars, err := plotter.NewBarChart(vals, barW)
		if err != nil {
			return fmt.Errorf("bench: chart: %w", err)
		}
		c, ok := pathColors[path]
		if !ok {
			c = otherColor
		}
		bars.Color = c
		bars.LineStyle.Width = vg.Points(0.3)
		bars.Offset = barW * vg.Length(float64(i)-float64(len(paths)-1)/2)
		p.Add(bars)
		if path != r.Baseline {
			if err := addRatioLabels(p, r, path, bars.Offset); err != nil {
				return err
			}
		}
		label := path
		if path == r.Baseline {
			label += " (baseline: the 1x line)"
		}
		p.Legend.Add(label, bars)
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 8
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	height := 4.5 * vg.Inch
	lo, gridTop, hi := yRange(lo, hi, len(paths), height)
	p.Y.Min, p.Y.Max = lo, hi
	p.Y.Tick.Marker = ratioTicks{}
	// Gridlines stop below the band kept for the legend, which has no
	// background of its own: lines through it made it hard to read.
	if err := addGrid(p, lo, gridTop, len(names)); err != nil {
		return err
	}
	parity, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 0}, {X: float64(len(names)) - 0.5, Y: 0}})
	if err != nil {
		return fmt.Errorf("bench: chart: %w", err)
	}
	parity.LineStyle.Width = vg.Points(1.2)
	p.Add(parity)
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(9)

	width := vg.Length(max(7, 0.9*float64(len(names)))) * vg.Inch
	if err := save(p, width, height, file); err != nil {
		return fmt.Errorf("bench: write chart %s: %w", file, err)
	}
	return nil
}

// Legend geometry, in points: rows of 9-point text, and what the axes,
// title and tick labels take from the chart's height (measured on the
// charts this draws, generously).
const (
	legendRow    = 12.0
	chartMargins = 90.0
)

// yRange returns the y axis (log2 ratios) for bars between lo and hi: whole
// powers of two, with a band on top, above gridTop, tall enough for a
// legend of rows entries at the given chart height.
func yRange(lo, hi float64, rows int, height vg.Length) (yMin, gridTop, yMax float64) {
	yMin, gridTop = math.Floor(lo), math.Ceil(hi)
	plotPts := math.Max(float64(height.Points())-chartMargins, 50)
	legendPts := float64(rows)*legendRow + 8
	// The band's share of the plot is the legend's share of its height.
	share := math.Min(legendPts/plotPts, 0.8)
	band := math.Ceil((gridTop - yMin) * share / (1 - share))
	return yMin, gridTop, gridTop + math.Max(band, 1)
}

// addGrid draws a horizontal gridline at each power of two from lo to top.
func addGrid(p *plot.Plot, lo, top float64, groups int) error {
	for e := lo; e <= top; e++ {
		l, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: e}, {X: float64(groups) - 0.5, Y: e}})
		if err != nil {
			return fmt.Errorf("bench: chart grid: %w", err)
		}
		l.LineStyle.Color = color.Gray{Y: 0xE0}
		l.LineStyle.Width = vg.Points(0.5)
		p.Add(l)
	}
	return nil
}

// svgFonts names fallbacks after the font the chart is measured with:
// a viewer without Liberation Serif used some wider default and clipped
// the title and legend. Times New Roman has Liberation Serif's metrics.
const svgFonts = `font-family:'Liberation Serif','Times New Roman',Times,serif`

// save writes the chart in the format of file's extension; SVG text gets
// the fallback fonts.
func save(p *plot.Plot, w, h vg.Length, file string) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(file)), ".")
	wt, err := p.WriterTo(w, h, format)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return err
	}
	out := buf.Bytes()
	if format == "svg" {
		out = bytes.ReplaceAll(out, []byte("font-family:Liberation Serif"), []byte(svgFonts))
	}
	return os.WriteFile(file, out, 0o644)
}

// addRatioLabels writes each of path's ratios just beyond the end of its
// bar ("2.5x" above a bar going up, below one going down), so that the
// chart can be read without squinting at the axis.
func addRatioLabels(p *plot.Plot, r *Report, path string, offset vg.Length) error {
	var up, down plotter.XYLabels
	for j, w := range r.Workloads {
		ratio, ok := r.Ratio(w.Name, path)
		if !ok {
			continue
		}
		xy := plotter.XY{X: float64(j), Y: math.Log2(ratio)}
		label := fmt.Sprintf("%.1f", ratio)
		switch {
		case ratio >= 10:
			label = fmt.Sprintf("%.0f", ratio)
		case ratio < 0.1:
			label = fmt.Sprintf("%.2f", ratio)
		}
		if ratio >= 1 {
			up.XYs, up.Labels = append(up.XYs, xy), append(up.Labels, label)
		} else {
			down.XYs, down.Labels = append(down.XYs, xy), append(down.Labels, label)
		}
	}
	for _, set := range []struct {
		l    plotter.XYLabels
		dy   vg.Length
		vert text.YAlignment
	}{{up, 2, text.YBottom}, {down, -2, text.YTop}} {
		if len(set.l.XYs) == 0 {
			continue
		}
		labels, err := plotter.NewLabels(set.l)
		if err != nil {
			return fmt.Errorf("bench: chart labels: %w", err)
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].Font.Size = vg.Points(6.5)
			labels.TextStyle[i].XAlign = draw.XCenter
			labels.TextStyle[i].YAlign = set.vert
		}
		labels.Offset = vg.Point{X: offset, Y: set.dy}
		p.Add(labels)
	}
	return nil
}

// ratioTicks labels a log2 axis in ratios: ... 1/4x 1/2x 1x 2x 4x ...
type ratioTicks struct{}

func (ratioTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	step := math.Max(1, math.Ceil((max-min)/10)) // at most about ten labels
	for e := math.Ceil(min); e <= max; e += step {
		ts = append(ts, plot.Tick{Value: e, Label: ratioLabel(e)})
	}
	return ts
}

func ratioLabel(e float64) string {
	if e >= 0 {
		return fmt.Sprintf("%gx", math.Exp2(e))
	}
	return fmt.Sprintf("1/%gx", math.Exp2(-e))
}
