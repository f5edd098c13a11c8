package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Report is the result of Run: the machine, the settings and one table
// per measured comparison.
type Report struct {
	Machine  Machine   `json:"machine"`
	Settings Settings  `json:"settings"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Tables   []*Table  `json:"tables"`
	// Segments lists the SysV shm segments the run made; every one of
	// them has been removed when Run returns.
	Segments []Segment `json:"segments"`
	// Skipped says which selected groups did not run, and why.
	Skipped []string `json:"skipped,omitempty"`
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

// Settings are the options a report was made with.
type Settings struct {
	Duration string   `json:"duration"`
	Runs     int      `json:"runs"`
	Sizes    []int64  `json:"sizes"`
	Procs    int      `json:"procs"`
	Groups   []string `json:"groups"`
	// E2E describes the end-to-end settings when that group was selected.
	E2E string `json:"e2e,omitempty"`
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

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAtStart: loadAvg()}
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

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// Table is one comparison: rows measured in the same run.
type Table struct {
	ID      string   `json:"id"` // stable name, e.g. "handshake"
	Title   string   `json:"title"`
	Note    string   `json:"note,omitempty"` // how to read it
	Columns []string `json:"columns"`
	Rows    [][]Cell `json:"rows"`
	// Findings are sentences about the numbers (targets met or missed).
	Findings []string `json:"findings,omitempty"`
}

// Cell is one table cell: its text and, for numbers, the value.
type Cell struct {
	Text  string   `json:"text"`
	Value *float64 `json:"value,omitempty"`
}

func (t *Table) add(cells ...Cell) { t.Rows = append(t.Rows, cells) }

// Row returns the first row whose first cell reads label, or nil.
func (t *Table) Row(label string) []Cell {
	for _, r := range t.Rows {
		if len(r) > 0 && r[0].Text == label {
			return r
		}
	}
	return nil
}

func text(s string) Cell { return Cell{Text: s} }

func number(v float64, s string) Cell {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Cell{Text: "-"}
	}
	return Cell{Text: s, Value: &v}
}

// count formats a rate or a count with thousands separators.
func count(v float64) Cell { return number(v, thousands(int64(math.Round(v)))) }

// nanos formats a duration in nanoseconds.
func nanos(v float64) Cell {
	if v < 100 {
		return number(v, strconv.FormatFloat(v, 'f', 1, 64))
	}
	return count(v)
}

// times formats a ratio.
func times(v float64) Cell { return number(v, strconv.FormatFloat(v, 'f', 2, 64)+"x") }

// percent formats a fraction as a percentage.
func percent(v float64) Cell { return number(v*100, strconv.FormatFloat(v*100, 'f', 0, 64)+"%") }

func mib(v float64) Cell { return number(v, strconv.FormatFloat(v, 'f', 1, 64)) }

func thousands(n int64) string {
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

// sizeName writes a byte size the way the tables label segments.
func sizeName(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
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
	writeMachine(&b, r, "")
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "\n== %s ==\n", t.Title)
		widths := make([]int, len(t.Columns))
		for i, c := range t.Columns {
			widths[i] = len(c)
		}
		for _, row := range t.Rows {
			for i, c := range row {
				widths[i] = max(widths[i], len(c.Text))
			}
		}
		line := func(cells []string) {
			for i, c := range cells {
				if i == 0 {
					fmt.Fprintf(&b, "%-*s", widths[i], c)
				} else {
					fmt.Fprintf(&b, "  %*s", widths[i], c)
				}
			}
			b.WriteByte('\n')
		}
		line(t.Columns)
		for _, row := range t.Rows {
			line(cellTexts(row))
		}
		for _, f := range t.Findings {
			fmt.Fprintf(&b, "* %s\n", f)
		}
	}
	writeTrailer(&b, r, "")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the tables as GitHub markdown, ready for
// BENCHMARKS.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	writeMachine(&b, r, "- ")
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "\n### %s\n\n", t.Title)
		if t.Note != "" {
			fmt.Fprintf(&b, "%s\n\n", t.Note)
		}
		fmt.Fprintf(&b, "| %s |\n|", strings.Join(t.Columns, " | "))
		for i := range t.Columns {
			if i == 0 {
				b.WriteString("---|")
			} else {
				b.WriteString("---:|")
			}
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
	writeTrailer(&b, r, "- ")
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

func writeMachine(b *strings.Builder, r *Report, bullet string) {
	m := r.Machine
	fmt.Fprintf(b, "%snproc %d, CPU %s, %s, %s\n", bullet, m.CPUs, m.CPUModel, m.Kernel, m.GoVersion)
	fmt.Fprintf(b, "%sstarted %s, load average %s at start, %s at the end\n", bullet,
		r.Started.UTC().Format("2006-01-02 15:04:05 UTC"), m.LoadAtStart, m.LoadAtFinish)
	s := r.Settings
	sizes := make([]string, len(s.Sizes))
	for i, n := range s.Sizes {
		sizes[i] = thousands(n)
	}
	fmt.Fprintf(b, "%sgroups %s, %d runs per measurement (medians)", bullet, strings.Join(s.Groups, ","), s.Runs)
	if len(s.Groups) != 1 || s.Groups[0] != "e2e" {
		fmt.Fprintf(b, ", -duration %s per run, sizes %s bytes", s.Duration, strings.Join(sizes, ", "))
	}
	if s.E2E != "" {
		fmt.Fprintf(b, ", e2e: %s", s.E2E)
	}
	b.WriteByte('\n')
}

func writeTrailer(b *strings.Builder, r *Report, bullet string) {
	b.WriteByte('\n')
	for _, s := range r.Skipped {
		fmt.Fprintf(b, "%sskipped: %s\n", bullet, s)
	}
	fmt.Fprintf(b, "%s%d shm segments made and removed; took %s\n", bullet, len(r.Segments),
		r.Finished.Sub(r.Started).Round(time.Second))
}
