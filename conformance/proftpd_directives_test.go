package conformance

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// directiveRow is one row of directives.tsv: a probe (a fragment on one
// line, "\n" for its line ends) and proftpd -t's answer.
type directiveRow struct {
	Probe    string // as written in the file
	Fragment string // the probe with its escapes undone
	Accept   bool
	Messages []string
}

// loadDirectiveRows reads testdata/proftpd-1.3.8/directives.tsv.
func loadDirectiveRows(t testing.TB) []directiveRow {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(oracleDir, "directives.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []directiveRow
	for i, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		cols := strings.Split(line, "\t")
		if i == 0 {
			if len(cols) != 3 || cols[0] != "probe" || cols[1] != "verdict" || cols[2] != "messages" {
				t.Fatalf("directives.tsv: unexpected header %q", line)
			}
			continue
		}
		if len(cols) != 3 {
			t.Fatalf("directives.tsv line %d: %d columns", i+1, len(cols))
		}
		r := directiveRow{Probe: cols[0], Fragment: unescapeProbe(cols[0])}
		switch cols[1] {
		case "ACCEPT":
			r.Accept = true
		case "REJECT":
		default:
			t.Fatalf("directives.tsv line %d: verdict %q", i+1, cols[1])
		}
		if cols[2] != "" {
			r.Messages = strings.Split(cols[2], " || ")
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		t.Fatal("directives.tsv has no rows")
	}
	return rows
}

// unescapeProbe undoes a probe's escapes: "\n" a line end, "\t" a tab,
// "\\" a backslash (printf %b in record-directives.sh).
func unescapeProbe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			case 't':
				b.WriteByte('\t')
				i++
				continue
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unreproducedNotices are notices proftpd -t prints that depend on the
// machine rather than on the file, which ftpdtls does not repeat: the
// languages mod_lang finds (setlocale and the installed translations)
// and the module order mod_dso logs after ModuleOrder.
var unreproducedNotices = regexp.MustCompile(`^mod_lang/[0-9.]+: (LangDefault '.*', configured for server '.*', is not a supported language, removing|` +
	`Perhaps proftpd has not yet been translated into '.*')$|` +
	`^ModuleOrder: module order is now:$|^ mod_\w+\.c$`)

// TestProFTPDDirectives holds ftpdtls to proftpd -t's answers for the
// directives of every module Debian compiles in or its stock
// modules.conf loads (testdata/proftpd-1.3.8/directives.tsv): the same
// verdict, the same fatal lines, and proftpd's notices among ftpdtls's
// warnings. A row proftpd answered by crashing is held to a documented
// divergence.
func TestProFTPDDirectives(t *testing.T) {
	rows := loadDirectiveRows(t)
	// One directory with the script's fixtures serves every row: ftpdtls
	// creates nothing while it checks.
	dir, conf := writeWrapped(t, t.TempDir(), "", "probe")
	agreed, diverged, failed := 0, 0, 0
	for _, r := range rows {
		// The probe as record-directives.sh writes it: with a line end.
		if err := os.WriteFile(conf, []byte(wrapConfig(r.Fragment+"\n", "probe", dir, 2121)), 0o644); err != nil {
			t.Fatal(err)
		}
		got := ftpdtlsCheck(conf, dir)
		recorded := checkResult{Accept: r.Accept}
		var messages []string
		for _, m := range r.Messages {
			if !startupNotice.MatchString(m) {
				messages = append(messages, m)
			}
		}
		recorded.Fatal, recorded.Other = splitMessages(messages)
		switch {
		case got.Accept == recorded.Accept && slices.Equal(got.Fatal, recorded.Fatal):
			var missing []string
			for _, m := range missingNotices(recorded.Other, got.Other) {
				if !unreproducedNotices.MatchString(m) {
					missing = append(missing, m)
				}
			}
			if len(missing) > 0 {
				failed++
				t.Errorf("%s: proftpd -t printed %q; ftpdtls warnings %q do not say it", r.Probe, missing, got.Other)
				continue
			}
			agreed++
		case documentedDivergence(recorded, got) != "":
			diverged++
		default:
			failed++
			t.Errorf("%s:\n  proftpd: %s\n  ftpdtls: %s", r.Probe, recorded, got)
		}
	}
	t.Logf("ProFTPD 1.3.8 directive probes: %d agreed, %d documented divergences, %d failed, of %d", agreed, diverged, failed, len(rows))
}
