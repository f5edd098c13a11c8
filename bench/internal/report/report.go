// Package report holds what `ftpdtls bench` measures and prints: tables
// of cells that keep their numeric value (for JSON and for tests), the
// machine they were measured on, and the text (text/tabwriter), markdown
// and JSON renderings; plus the statistics every table uses (medians,
// spreads, ratios) and the one-line-per-step progress display.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// Report is a whole run: the machine, the command line and the tables.
type Report struct {
	Machine  Machine   `json:"machine"`
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Tables   []*Table  `json:"tables"`
	// Skipped says which selected groups did not run, and why.
	Skipped []string `json:"skipped,omitempty"`
	// Notes are lines for the trailer (segments removed, peers fetched).
	Notes []string `json:"notes,omitempty"`
}

// Table returns the table with the given id, or nil.
func (r *Report) Table(id string) *Table {
	for _, t := range r.Tables {
		if t.ID == id {
			return t
		}
	}
	return nil
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPUs         int    `json:"nproc"`
	CPUModel     string `json:"cpu_model"`
	Kernel       string `json:"kernel"`
	GoVersion    string `json:"go_version"`
	LoadAtStart  string `json:"loadavg_start"`
	LoadAtFinish string `json:"loadavg_finish"`
}

// ThisMachine describes the machine now (LoadAtFinish is left empty).
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAtStart: LoadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// LoadAvg is the first three fields of /proc/loadavg.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// Table is one comparison: rows measured in the same run.
type Table struct {
	ID      string   `json:"id"` // stable name, e.g. "cache"
	Title   string   `json:"title"`
	Note    string   `json:"note,omitempty"` // how to read it
	Columns []string `json:"columns"`
	Rows    [][]Cell `json:"rows"`
	// Findings are sentences about the numbers (targets met or missed).
	Findings []string `json:"findings,omitempty"`
}

// Add appends a row.
func (t *Table) Add(cells ...Cell) { t.Rows = append(t.Rows, cells) }

// Row returns the first row whose first cell reads label, or nil.
func (t *Table) Row(label string) []Cell {
	for _, r := range t.Rows {
		if len(r) > 0 && r[0].Text == label {
			return r
		}
	}
	return nil
}

// Column returns the index of the named column, or -1.
func (t *Table) Column(name string) int { return slices.Index(t.Columns, name) }

// Cell is one table cell: its text and, for numbers, the value.
type Cell struct {
	Text  string   `json:"text"`
	Value *float64 `json:"value,omitempty"`
}

// Text is a cell with no value.
func Text(s string) Cell { return Cell{Text: s} }

// Number is a cell showing s for v; NaN and infinities read "-".
func Number(v float64, s string) Cell {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Cell{Text: "-"}
	}
	return Cell{Text: s, Value: &v}
}

// Count formats a rate or a count with thousands separators.
func Count(v float64) Cell { return Number(v, Thousands(int64(math.Round(v)))) }

// Fixed formats v with the given decimals (thousands separated).
func Fixed(v float64, decimals int) Cell {
	if decimals == 0 || math.Abs(v) >= 1000 {
		return Count(v)
	}
	return Number(v, strconv.FormatFloat(v, 'f', decimals, 64))
}

// Auto formats v with three significant digits for small values.
func Auto(v float64) Cell {
	switch a := math.Abs(v); {
	case a >= 100:
		return Count(v)
	case a >= 10:
		return Fixed(v, 1)
	default:
		return Fixed(v, 2)
	}
}

// Times formats a ratio.
func Times(v float64) Cell { return Number(v, strconv.FormatFloat(v, 'f', 2, 64)+"x") }

// Percent formats a fraction as a percentage.
func Percent(v float64) Cell {
	return Number(v*100, strconv.FormatFloat(v*100, 'f', 0, 64)+"%")
}

// Thousands writes n with comma separators.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the tables aligned for a terminal.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	r.writeHeader(&b, "")
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "\n== %s ==\n", t.Title)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		writeRow := func(cells []string) {
			for _, c := range cells {
				fmt.Fprintf(tw, "%s\t", c)
			}
			fmt.Fprintln(tw)
		}
		writeRow(t.Columns)
		for _, row := range t.Rows {
			writeRow(cellTexts(row))
		}
		tw.Flush()
		for _, f := range t.Findings {
			fmt.Fprintf(&b, "* %s\n", f)
		}
	}
	r.writeTrailer(&b, "")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the tables as GitHub markdown, ready for
// BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	r.writeHeader(&b, "- ")
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "\n#### %s\n\n", t.Title)
		if t.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", t.Note)
		}
		fmt.Fprintf(&b, "| %s |\n|", strings.Join(t.Columns, " | "))
		for i := range t.Columns {
			b.WriteString(map[bool]string{true: "---|", false: "---:|"}[i == 0])
		}
		b.WriteByte('\n')
		for _, row := range t.Rows {
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cellTexts(row), " | "))
		}
		if len(t.Findings) > 0 {
			b.WriteByte('\n')
			for _, f := range t.Findings {
				fmt.Fprintf(&b, "- %s\n", f)
			}
		}
	}
	r.writeTrailer(&b, "- ")
	_, err := io.WriteString(w, b.String())
	return err
}

func cellTexts(row []Cell) []string {
	out := make([]string, len(row))
	for i, c := range row {
		out[i] = c.Text
	}
	return out
}

func (r *Report) writeHeader(b *strings.Builder, bullet string) {
	m := r.Machine
	fmt.Fprintf(b, "%s`$ %s`: nproc %d, CPU %s, %s, %s\n", bullet, r.Command, m.CPUs, m.CPUModel, m.Kernel, m.GoVersion)
	fmt.Fprintf(b, "%sstarted %s, load average %s at start, %s at the end\n", bullet,
		r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), m.LoadAtStart, m.LoadAtFinish)
}

func (r *Report) writeTrailer(b *strings.Builder, bullet string) {
	b.WriteByte('\n')
	for _, s := range r.Skipped {
		fmt.Fprintf(b, "%sskipped: %s\n", bullet, s)
	}
	for _, s := range r.Notes {
		fmt.Fprintf(b, "%s%s\n", bullet, s)
	}
	fmt.Fprintf(b, "%stook %s\n", bullet, r.Finished.Sub(r.Started).Round(time.Second))
}

// Median is the middle value (the lower middle for an even count, so
// that it is always a measured value); NaN for no samples.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[(len(s)-1)/2]
}

// Ratio is a/b, NaN when either is missing or b is zero.
func Ratio(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return math.NaN()
	}
	return a / b
}

// Spread is (max-min)/median of xs: how far apart the runs of one
// measurement were, to judge the noise of a median.
func Spread(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	return Ratio(slices.Max(xs)-slices.Min(xs), Median(xs))
}

// Progress writes one line per step to a writer: a counter, the elapsed
// time and what was measured ("[ 52/311  14.8s] ..."). Total may grow
// while the run goes on (a group that learns its step count late).
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	start    time.Time
	n, total int
}

// NewProgress reports to w (nil discards).
func NewProgress(w io.Writer) *Progress {
	if w == nil {
		w = io.Discard
	}
	return &Progress{w: w, start: time.Now()}
}

// AddSteps announces n more steps.
func (p *Progress) AddSteps(n int) {
	p.mu.Lock()
	p.total += n
	p.mu.Unlock()
}

// Step counts a step and reports it.
func (p *Progress) Step(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.total = max(p.total, p.n)
	width := len(strconv.Itoa(p.total))
	fmt.Fprintf(p.w, "[%*d/%d %5.1fs] %s\n", width, p.n, p.total, time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// Printf reports without counting a step.
func (p *Progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}
