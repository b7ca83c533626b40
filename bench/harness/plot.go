package harness

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// series is one line of a chart.
type series struct {
	name  string
	color string
	pts   [][2]float64
}

// chart is one panel: axes, ticks and lines, optionally on log scales.
type chart struct {
	title, xlabel, ylabel string
	xlog, ylog            bool
	lines                 []series
}

// writeSVG draws charts in a grid of up to three columns as one
// standalone SVG image (no dependencies: the plot is written by hand).
func writeSVG(w io.Writer, charts []chart) error {
	const pw, ph, cols = 420, 340, 3
	width := pw * min(len(charts), cols)
	height := ph * max((len(charts)+cols-1)/cols, 1)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	for i, c := range charts {
		c.draw(&b, float64((i%cols)*pw), float64((i/cols)*ph), pw, ph)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (c chart) draw(b *strings.Builder, x0, y0, w, h float64) {
	const left, right, top, bottom = 62, 16, 30, 70
	px, py := x0+left, y0+top
	pw, ph := w-left-right, h-top-bottom
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.lines {
		for _, p := range s.pts {
			if (c.xlog && p[0] <= 0) || (c.ylog && p[1] <= 0) {
				continue
			}
			xmin, xmax = math.Min(xmin, p[0]), math.Max(xmax, p[0])
			ymin, ymax = math.Min(ymin, p[1]), math.Max(ymax, p[1])
		}
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="13" font-weight="bold">%s</text>`+"\n", x0+left, y0+18, esc(c.title))
	if math.IsInf(xmin, 0) {
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">no data</text>`+"\n", px+pw/2-20, py+ph/2)
		return
	}
	if !c.ylog {
		ymin = 0
	}
	if !c.xlog {
		xmin = math.Min(xmin, 0)
	}
	xt := ticks(xmin, xmax, c.xlog)
	yt := ticks(ymin, ymax, c.ylog)
	xmin, xmax = xt[0], xt[len(xt)-1]
	ymin, ymax = yt[0], yt[len(yt)-1]
	sx := func(v float64) float64 { return px + pw*frac(v, xmin, xmax, c.xlog) }
	sy := func(v float64) float64 { return py + ph - ph*frac(v, ymin, ymax, c.ylog) }
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", px, py, pw, ph)
	for _, t := range xt {
		x := sx(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, x, py, x, py+ph)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, py+ph+14, human(t))
	}
	for _, t := range yt {
		y := sy(t)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, px, y, px+pw, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", px-4, y+4, human(t))
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px+pw/2, py+ph+30, esc(c.xlabel))
	fmt.Fprintf(b, `<text transform="translate(%.1f,%.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", x0+14, py+ph/2, esc(c.ylabel))
	for i, s := range c.lines {
		var path []string
		for _, p := range s.pts {
			if (c.xlog && p[0] <= 0) || (c.ylog && p[1] <= 0) {
				continue
			}
			path = append(path, fmt.Sprintf("%.1f,%.1f", sx(p[0]), sy(p[1])))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, sx(p[0]), sy(p[1]), s.color)
		}
		if len(path) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(path, " "), s.color)
		}
		lx := px + float64(i%2)*pw/2
		ly := py + ph + 46 + float64(i/2)*14
		fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n", lx, ly-9, s.color, lx+14, ly, esc(s.name))
	}
}

// frac maps v into [0,1] between lo and hi.
func frac(v, lo, hi float64, log bool) float64 {
	if log {
		v, lo, hi = math.Log10(v), math.Log10(lo), math.Log10(hi)
	}
	if hi == lo {
		return 0.5
	}
	return (v - lo) / (hi - lo)
}

// ticks returns round tick values covering [lo, hi]: powers of ten on a
// log scale, 1-2-5 steps on a linear one.
func ticks(lo, hi float64, log bool) []float64 {
	if log {
		var out []float64
		for e := math.Floor(math.Log10(lo)); ; e++ {
			out = append(out, math.Pow(10, e))
			if math.Pow(10, e) >= hi {
				return out
			}
		}
	}
	if hi <= lo {
		hi = lo + 1
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Floor(lo/step) * step; ; v += step {
		out = append(out, v)
		if v >= hi {
			return out
		}
	}
}

// human formats a tick value compactly (1.5k, 20M, 0.5).
func human(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trimZeros(fmt.Sprintf("%.1f", v/1e6)) + "M"
	case a >= 1e3:
		return trimZeros(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 1 || a == 0:
		return trimZeros(fmt.Sprintf("%.1f", v))
	default:
		return trimZeros(fmt.Sprintf("%.3f", v))
	}
}

func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
