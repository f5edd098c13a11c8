package conformance

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// divergence is a place where ftpdtls deliberately answers differently
// from ProFTPD 1.3.8.
type divergence struct {
	reason string
	// proftpd matches ProFTPD's fatal line; ftpdtls is ftpdtls's fatal
	// line, a regexp.Expand template over proftpd's submatches.
	proftpd *regexp.Regexp
	ftpdtls string
	// cases are the recorded cases it explains.
	cases []string
}

// divergences is the one list of documented differences from `proftpd -t`.
// Keep it tiny: each entry is a place where ftpdtls is knowingly not a
// drop-in replacement.
var divergences = []divergence{
	{
		reason: "LoadModule mod_tls_shmcache.c before (or without) mod_tls.c: ProFTPD blames a missing " +
			".la file (after printing an \"unable to load\" notice); ftpdtls names the real cause, mod_tls.c not loaded",
		proftpd: regexp.MustCompile(`^fatal: (\S+): error loading module 'mod_tls_shmcache\.c': No such file or directory( on line \d+ of '.*')$`),
		ftpdtls: "fatal: $1: error loading module 'mod_tls_shmcache.c': requires 'mod_tls.c', which must be loaded first$2",
		cases:   []string{"loadmodule_shmcache_before_tls", "loadmodule_shmcache_without_tls"},
	},
}

// documentedDivergence returns the reason when ProFTPD's fatal lines and
// ftpdtls's answer differ exactly as an entry of divergences says, or "".
func documentedDivergence(proftpd, ftpdtls []string, ftpdtlsAccepts bool) string {
	if len(proftpd) != 1 || ftpdtlsAccepts {
		return ""
	}
	for _, d := range divergences {
		if want, ok := d.expand(proftpd[0]); ok && slices.Equal(ftpdtls, []string{want}) {
			return d.reason
		}
	}
	return ""
}

// expand returns ftpdtls's line for ProFTPD's fatal line, if d matches it.
func (d divergence) expand(proftpd string) (string, bool) {
	m := d.proftpd.FindStringSubmatchIndex(proftpd)
	if m == nil {
		return "", false
	}
	return string(d.proftpd.ExpandString(nil, d.ftpdtls, proftpd, m)), true
}

// divergenceFor returns the entry that explains a recorded case, or nil.
func divergenceFor(name string) *divergence {
	for i, d := range divergences {
		if slices.Contains(d.cases, name) {
			return &divergences[i]
		}
	}
	return nil
}

// TestProFTPDCases holds ftpdtls to every recorded `proftpd -t` answer in
// testdata/proftpd-1.3.8: the same verdict, the same fatal message (line
// number included), and, for accepted files, the notices proftpd printed
// (such as "module ... already loaded") among ftpdtls's warnings.
func TestProFTPDCases(t *testing.T) {
	cases := loadOracle(t)
	parent := t.TempDir()
	agreed, diverged := 0, 0
	for _, c := range cases {
		ok := t.Run(c.Name, func(t *testing.T) {
			dir, conf := writeWrapped(t, parent, c.Fragment, "cases/"+c.Name+".conf")
			before := listFiles(t, dir)
			got := ftpdtlsCheck(conf, dir)
			defer func() {
				if t.Failed() {
					t.Logf("fragment:\n%s\nftpdtls: %s", c.Fragment, got)
				}
			}()

			// Unlike proftpd -t, ftpdtls check creates nothing: no cache
			// file, no segment, no TraceLog.
			if removed, err := sweepSegments(dir, os.Getpid()); err != nil || len(removed) > 0 {
				t.Errorf("ftpdtls check left shared memory behind: %v %v", removed, err)
			}
			if after := listFiles(t, dir); !slices.Equal(before, after) {
				t.Errorf("ftpdtls check created files: before %v, after %v", before, after)
			}

			var wantOther, wantFatal []string
			for i, m := range c.Messages {
				if strings.HasPrefix(m, "fatal: ") {
					wantFatal = c.Messages[i:]
					break
				}
				wantOther = append(wantOther, m)
			}
			if d := divergenceFor(c.Name); d != nil {
				want, ok := "", len(wantFatal) == 1
				if ok {
					want, ok = d.expand(wantFatal[0])
				}
				if !ok {
					t.Fatalf("documented divergence does not match the recorded message %q", wantFatal)
				}
				if got.Accept || !slices.Equal(got.Fatal, []string{want}) {
					t.Errorf("documented divergence (%s):\nwant REJECT %q\ngot  %s", d.reason, want, got)
				}
				return
			}
			if got.Accept != c.Accept {
				t.Fatalf("verdict: proftpd -t says %s, ftpdtls says %s", verdict(c.Accept), got)
			}
			if !slices.Equal(got.Fatal, wantFatal) {
				t.Errorf("fatal message:\nproftpd: %q\nftpdtls: %q", wantFatal, got.Fatal)
			}
			for _, m := range wantOther {
				if !slices.ContainsFunc(got.Other, func(w string) bool { return strings.Contains(w, m) }) {
					t.Errorf("proftpd -t printed %q; ftpdtls warnings %q do not say it", m, got.Other)
				}
			}
		})
		switch documented := divergenceFor(c.Name) != nil; {
		case ok && documented:
			diverged++
		case ok:
			agreed++
		}
	}
	for _, d := range divergences {
		for _, name := range d.cases {
			if !slices.ContainsFunc(cases, func(c oracleCase) bool { return c.Name == name }) {
				t.Errorf("divergence names %q, which is no recorded case", name)
			}
		}
	}
	t.Logf("ProFTPD 1.3.8 cases: %d agreed, %d documented divergences, %d failed (of %d)",
		agreed, diverged, len(cases)-agreed-diverged, len(cases))
}

func verdict(accept bool) string {
	if accept {
		return "ACCEPT"
	}
	return "REJECT"
}

// listFiles returns the names of the files under dir, relative and sorted.
func listFiles(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}
