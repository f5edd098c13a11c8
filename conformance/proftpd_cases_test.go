package conformance

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ftpdtls/ftpdtls/directives"
)

// divergence is a place where ftpdtls deliberately answers differently
// from ProFTPD 1.3.8.
type divergence struct {
	reason string
	// explains reports whether proftpd's and ftpdtls's answers differ in
	// exactly this way.
	explains func(proftpd, ftpdtls checkResult) bool
	// cases are the recorded cases it explains.
	cases []string
}

// divergences is the one list of documented differences from `proftpd -t`.
// Keep it tiny: each entry is a place where ftpdtls is knowingly not a
// drop-in replacement.
var divergences = []divergence{
	{
		reason: "LoadModule of a TLS cache module before (or without) mod_tls.c: ProFTPD blames a missing " +
			".la file (after an \"unable to load\" notice); ftpdtls names the real cause, mod_tls.c not loaded",
		explains: func(p, f checkResult) bool {
			if p.Accept || f.Accept || len(p.Fatal) != 1 {
				return false
			}
			m := cacheModuleNotLoaded.FindStringSubmatchIndex(p.Fatal[0])
			if m == nil {
				return false
			}
			want := cacheModuleNotLoaded.ExpandString(nil,
				"fatal: $1: error loading module '$2': requires 'mod_tls.c', which must be loaded first$3", p.Fatal[0], m)
			return slices.Equal(f.Fatal, []string{string(want)})
		},
		cases: []string{"loadmodule_shmcache_before_tls", "loadmodule_shmcache_without_tls", "loadmodule_tls_redis_before_tls"},
	},
	{
		reason: "a fatal error inside an Included file: ProFTPD 1.3.8 logs it, then \"unable to include\" " +
			"(Operation not permitted), and goes on without the rest of that file; ftpdtls stops there, " +
			"as ProFTPD's own test include_bad_config_issue1721 expects",
		explains: func(p, f checkResult) bool {
			// ftpdtls prints the fatal line (and its suggestions) and
			// stops; proftpd goes on and may print more.
			if f.Accept || len(f.Fatal) == 0 || len(f.Fatal) > len(p.Fatal) || !slices.Equal(f.Fatal, p.Fatal[:len(f.Fatal)]) {
				return false
			}
			m := fatalInFile.FindStringSubmatch(p.Fatal[0])
			return m != nil && slices.ContainsFunc(p.Other, func(n string) bool {
				return strings.HasSuffix(n, "'"+m[1]+"': Operation not permitted") && strings.Contains(n, "unable to")
			})
		},
		cases: []string{"include_file_with_fatal_line"},
	},
	{
		reason: "TLSStaplingResponder with a URL OpenSSL refuses: ProFTPD prints OpenSSL's error queue, which is " +
			"empty here (\"error parsing URL 'X':  \"); ftpdtls says what is wrong with the URL",
		explains: func(p, f checkResult) bool {
			if p.Accept || f.Accept || len(p.Fatal) != 1 || len(f.Fatal) != 1 {
				return false
			}
			pm := responderURLError.FindStringSubmatch(p.Fatal[0])
			fm := responderURLError.FindStringSubmatch(f.Fatal[0])
			return pm != nil && fm != nil && pm[3] == "" && fm[3] != "" &&
				pm[1] == fm[1] && pm[2] == fm[2] && pm[4] == fm[4]
		},
		cases: []string{"staplingresponder_not_http"},
	},
	{
		reason: "a certificate, key or CA file, or a cipher list, OpenSSL cannot load: ProFTPD prints OpenSSL's error " +
			"queue on the lines after \"unable to use 'X': \"; ftpdtls gives one reason on the same line",
		explains: func(p, f checkResult) bool {
			if p.Accept || f.Accept || len(p.Fatal) < 2 || len(f.Fatal) != 1 {
				return false
			}
			head := unableToUse.FindStringSubmatch(p.Fatal[0])
			last := fatalLine.FindStringSubmatch(p.Fatal[len(p.Fatal)-1])
			if head == nil || last == nil || !strings.HasPrefix(p.Fatal[1], "  (1) error:") {
				return false
			}
			place := last[0]
			reason, ok := strings.CutPrefix(f.Fatal[0], p.Fatal[0])
			return ok && strings.HasSuffix(reason, place) && len(reason) > len(place)
		},
		cases: []string{"tlsciphersuite_notacipher"},
	},
	{
		reason: "TLSRenegotiate whose last keyword has no value: mod_tls reads past its arguments (a crash " +
			"for \"ctrl\", a garbled message for \"required\"); ftpdtls says which value is missing",
		explains: func(p, f checkResult) bool {
			return !p.Accept && !f.Accept && len(f.Fatal) == 1 && renegotiateNoValue.MatchString(f.Fatal[0])
		},
	},
	{
		reason: "ModulePath naming another directory: ftpdtls links its modules in and loads no files, so its " +
			"LoadModule does not look there; ProFTPD finds no module file there and fails the LoadModule",
		explains: func(p, f checkResult) bool {
			if p.Accept || len(p.Fatal) != 1 {
				return false
			}
			m := moduleFileMissing.FindStringSubmatch(p.Fatal[0])
			if m == nil || !slices.ContainsFunc(p.Other, func(n string) bool {
				d := laNotice.FindStringSubmatch(n)
				return d != nil && d[1] == m[1] && d[2] != directives.DefaultModulePath
			}) {
				return false
			}
			if f.Accept {
				return true
			}
			// Or ftpdtls loaded the module and failed on a later line.
			fl := fatalLine.FindStringSubmatch(f.Fatal[0])
			if fl == nil {
				return false
			}
			pn, _ := strconv.Atoi(m[2])
			fn, _ := strconv.Atoi(fl[1])
			return fn > pn
		},
	},
}

// crashDivergence: ProFTPD crashes on a few directives given too few
// arguments (its handler reads a missing one, a NULL pointer) and prints
// a stack trace; ftpdtls refuses the line with a reason.
var crashDivergence = divergence{
	reason: "a directive whose handler reads a missing argument: ProFTPD crashes (signal 11); ftpdtls refuses the line",
	explains: func(p, f checkResult) bool {
		return !p.Accept && !f.Accept && len(p.Fatal) == 0 && len(f.Fatal) > 0 &&
			slices.Contains(p.Other, "-----BEGIN STACK TRACE-----")
	},
}

func init() { divergences = append(divergences, crashDivergence) }

var (
	// renegotiateNoValue is ftpdtls's line for a TLSRenegotiate keyword
	// without its value.
	renegotiateNoValue = regexp.MustCompile(`^fatal: TLSRenegotiate: missing value for '(ctrl|data|required|timeout)' on line \d+ of '.*'$`)
	// cacheModuleNotLoaded is ProFTPD's fatal line for a TLS cache module
	// loaded before mod_tls.
	cacheModuleNotLoaded = regexp.MustCompile(`^fatal: (\S+): error loading module '(mod_tls_(?:shm|mem|fs)cache\.c|mod_tls_redis\.c)': ` +
		`No such file or directory( on line \d+ of '.*')$`)
	// responderURLError is the fatal line for a TLSStaplingResponder URL
	// that does not parse: directive, URL, reason, place.
	responderURLError = regexp.MustCompile(`^fatal: (\S+): error parsing URL '(.*)': (.*?) ?( on line \d+ of '.*')$`)
	// moduleFileMissing is LoadModule's failure when the module file is
	// not found: module, line.
	moduleFileMissing = regexp.MustCompile(`^fatal: \S+: error loading module '(\S+)': No such file or directory on line (\d+) of '.*'$`)
	// laNotice is mod_dso's notice before it: module, directory looked in.
	laNotice = regexp.MustCompile(`^mod_dso/[0-9.]+: unable to load '(\S+)'; check to see if '(.*)/[^/]+\.la' exists$`)
	// unableToUse is the first line of mod_tls's message for a file that
	// OpenSSL cannot load; OpenSSL's errors follow on the next lines.
	unableToUse = regexp.MustCompile(`^fatal: (\S+): unable to use (?:ciphersuite )?'(.*)': $`)
	// fatalLine captures the line number of a fatal line.
	fatalLine = regexp.MustCompile(` on line (\d+) of '.*'$`)
	// fatalInFile captures the file a fatal line names.
	fatalInFile = regexp.MustCompile(`^fatal: .* on line \d+ of '(.*)'$`)
)

// documentedDivergence returns the reason when the answers differ as an
// entry of divergences says, or "".
func documentedDivergence(proftpd, ftpdtls checkResult) string {
	for _, d := range divergences {
		if d.explains(proftpd, ftpdtls) {
			return d.reason
		}
	}
	return ""
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
	ran, agreed, diverged := 0, 0, 0
	for _, c := range cases {
		started := false // t.Run reports success for cases -run filters out
		ok := t.Run(c.Name, func(t *testing.T) {
			started = true
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

			recorded := checkResult{Accept: c.Accept}
			recorded.Fatal, recorded.Other = splitMessages(c.Messages)
			if d := divergenceFor(c.Name); d != nil {
				if !d.explains(recorded, got) {
					t.Errorf("documented divergence (%s) does not explain the answers:\nproftpd: %s\nftpdtls: %s", d.reason, recorded, got)
				}
				return
			}
			if got.Accept != c.Accept {
				t.Fatalf("verdict: proftpd -t says %s, ftpdtls says %s", verdict(c.Accept), got)
			}
			if !slices.Equal(got.Fatal, recorded.Fatal) {
				t.Errorf("fatal message:\nproftpd: %q\nftpdtls: %q", recorded.Fatal, got.Fatal)
			}
			for _, m := range missingNotices(recorded.Other, got.Other) {
				t.Errorf("proftpd -t printed %q; ftpdtls warnings %q do not say it", m, got.Other)
			}
		})
		if !started {
			continue
		}
		ran++
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
	t.Logf("ProFTPD 1.3.8 cases: %d agreed, %d documented divergences, %d failed (%d run of %d)",
		agreed, diverged, ran-agreed-diverged, ran, len(cases))
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

// TestDivergenceExplains holds the divergences without a recorded case to
// answers proftpd -t 1.3.8 gave for such fragments, and checks that they
// explain nothing else.
func TestDivergenceExplains(t *testing.T) {
	const at = " on line 18 of '@TMP@/proftpd.conf'"
	rejected := func(other []string, fatal ...string) checkResult {
		return checkResult{Fatal: fatal, Other: other}
	}
	accepted := checkResult{Accept: true}
	otherDir := rejected([]string{"mod_dso/0.5: unable to load 'mod_tls.c'; check to see if '@TMP@/mod_tls.la' exists"},
		"fatal: LoadModule: error loading module 'mod_tls.c': No such file or directory"+at)
	defaultDir := rejected([]string{"mod_dso/0.5: unable to load 'mod_tls.c'; check to see if '/usr/lib/proftpd/mod_tls.la' exists"},
		"fatal: LoadModule: error loading module 'mod_tls.c': No such file or directory"+at)
	for _, tc := range []struct {
		name       string
		p, f       checkResult
		documented bool
	}{
		{"ModulePath elsewhere, ftpdtls accepts", otherDir, accepted, true},
		{"ModulePath elsewhere, ftpdtls fails later", otherDir,
			rejected(nil, "fatal: TLSSessionCache: 'abc' is not a valid timeout value on line 20 of '@TMP@/proftpd.conf'"), true},
		{"ModulePath elsewhere, ftpdtls fails earlier", otherDir,
			rejected(nil, "fatal: Port: value must be between 0 and 65535 on line 17 of '@TMP@/proftpd.conf'"), false},
		{"module missing from the default directory", defaultDir, accepted, false},
		{"responder URL: empty reason against a reason",
			rejected(nil, "fatal: TLSStaplingResponder: error parsing URL 'ftp://x/':  on line 19 of '@TMP@/proftpd.conf'"),
			rejected(nil, "fatal: TLSStaplingResponder: error parsing URL 'ftp://x/': unsupported scheme 'ftp', expected http or https on line 19 of '@TMP@/proftpd.conf'"), true},
		{"responder URL: another line",
			rejected(nil, "fatal: TLSStaplingResponder: error parsing URL 'ftp://x/':  on line 19 of '@TMP@/proftpd.conf'"),
			rejected(nil, "fatal: TLSStaplingResponder: error parsing URL 'ftp://x/': unsupported scheme 'ftp', expected http or https on line 20 of '@TMP@/proftpd.conf'"), false},
		{"OpenSSL error queue",
			rejected(nil, "fatal: TLSCACertificateFile: unable to use '@TMP@/proftpd.conf': ",
				"  (1) error:05800088:x509 certificate routines::no certificate or crl found"+at),
			rejected(nil, "fatal: TLSCACertificateFile: unable to use '@TMP@/proftpd.conf': no PEM certificate or CRL found"+at), true},
		{"OpenSSL error queue, another file",
			rejected(nil, "fatal: TLSCACertificateFile: unable to use '@TMP@/proftpd.conf': ",
				"  (1) error:05800088:x509 certificate routines::no certificate or crl found"+at),
			rejected(nil, "fatal: TLSCACertificateFile: unable to use '@TMP@/other.pem': no PEM certificate or CRL found"+at), false},
		{"responder URL: ftpdtls accepts",
			rejected(nil, "fatal: TLSStaplingResponder: error parsing URL 'ftp://x/':  on line 19 of '@TMP@/proftpd.conf'"), accepted, false},
	} {
		if got := documentedDivergence(tc.p, tc.f) != ""; got != tc.documented {
			t.Errorf("%s: documented %v, want %v\nproftpd: %s\nftpdtls: %s", tc.name, got, tc.documented, tc.p, tc.f)
		}
	}
}
