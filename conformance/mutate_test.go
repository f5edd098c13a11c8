package conformance

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/ftpdtls/ftpdtls/directives"
)

// This file generates variations of the recorded fragments for
// TestDifferentialProFTPD: each mutator rewrites a fragment the way a user
// might (case, quoting, continuation, comments, contexts, module order,
// trace settings, odd timeouts), so that both programs are asked about
// configurations nobody recorded.

// mutator rewrites a fragment given as lines; it returns nil when it does
// not apply to the fragment.
type mutator struct {
	name  string
	apply func(r *rand.Rand, lines []string) []string
}

var mutators = []mutator{
	{"directive-case", mutateDirectiveCase},
	{"keyword-case", mutateKeywordCase},
	{"timeout", mutateTimeout},
	{"cache-type", mutateCacheType},
	{"cache-info", mutateCacheInfo},
	{"quoting", mutateQuoting},
	{"continuation", mutateContinuation},
	{"comment", mutateComment},
	{"whitespace", mutateWhitespace},
	{"context", mutateContext},
	{"loadmodule", mutateLoadModule},
	{"trace", mutateTrace},
	{"tracelog", mutateTraceLog},
	{"traceoptions", mutateTraceOptions},
	{"env", mutateEnv},
	{"tls-directive", mutateTLSDirective},
	{"core-directive", mutateCoreDirective},
	{"section", mutateSection},
	{"include", mutateInclude},
	{"duplicate", mutateDuplicate},
	{"swap", mutateSwap},
	{"tls-values", mutateTLSValues},
	{"cache-provider", mutateCacheProvider},
	{"module-directive", mutateModuleDirective},
}

// variation is one generated fragment and how it was made.
type variation struct {
	label    string // base case and mutators, e.g. "sesscache_off+timeout+context"
	fragment string
}

// generateVariations returns n distinct fragments, each made by applying
// one to three mutators to a randomly chosen base fragment. Fragments
// equal to a base or to an earlier variation are skipped.
func generateVariations(r *rand.Rand, bases []oracleCase, n int) []variation {
	seen := map[string]bool{}
	for _, b := range bases {
		seen[b.Fragment] = true
	}
	var out []variation
	for tries := 0; len(out) < n && tries < 100*n; tries++ {
		base := bases[r.IntN(len(bases))]
		lines := splitFragment(base.Fragment)
		label := base.Name
		for k := 1 + r.IntN(3); k > 0; k-- {
			m := mutators[r.IntN(len(mutators))]
			if next := m.apply(r, lines); next != nil {
				lines = next
				label += "+" + m.name
			}
		}
		frag := strings.Join(lines, "\n") + "\n"
		if seen[frag] {
			continue
		}
		seen[frag] = true
		out = append(out, variation{label: label, fragment: frag})
	}
	return out
}

func splitFragment(s string) []string {
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// directiveLines returns the indexes of lines that hold a directive or a
// section tag (not blank, not a comment, not a continuation).
func directiveLines(lines []string) []int {
	var idx []int
	for i, l := range lines {
		if i > 0 && strings.HasSuffix(lines[i-1], "\\") {
			continue
		}
		if f := strings.TrimSpace(l); f != "" && !strings.HasPrefix(f, "#") {
			idx = append(idx, i)
		}
	}
	return idx
}

// linesNamed returns the indexes of directive lines whose directive is one
// of names (case-insensitive).
func linesNamed(lines []string, names ...string) []int {
	var idx []int
	for _, i := range directiveLines(lines) {
		f := strings.Fields(lines[i])
		for _, n := range names {
			if strings.EqualFold(f[0], n) {
				idx = append(idx, i)
			}
		}
	}
	return idx
}

// replaceLine returns a copy of lines with line i replaced by repl (which
// may hold several lines, or none).
func replaceLine(lines []string, i int, repl ...string) []string {
	out := append([]string(nil), lines[:i]...)
	out = append(out, repl...)
	return append(out, lines[i+1:]...)
}

func insertAt(lines []string, i int, add ...string) []string {
	out := append([]string(nil), lines[:i]...)
	out = append(out, add...)
	return append(out, lines[i:]...)
}

func randomCase(r *rand.Rand, s string) string {
	switch r.IntN(3) {
	case 0:
		return strings.ToLower(s)
	case 1:
		return strings.ToUpper(s)
	}
	b := []rune(s)
	for i := range b {
		if r.IntN(2) == 0 {
			b[i] = unicode.ToUpper(b[i])
		} else {
			b[i] = unicode.ToLower(b[i])
		}
	}
	return string(b)
}

// leadingSpace is the indentation of a line.
func leadingSpace(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }

func mutateDirectiveCase(r *rand.Rand, lines []string) []string {
	idx := directiveLines(lines)
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	ind := leadingSpace(lines[i])
	body := lines[i][len(ind):]
	end := strings.IndexAny(body, " \t")
	if end < 0 {
		end = len(body)
	}
	return replaceLine(lines, i, ind+randomCase(r, body[:end])+body[end:])
}

var keywordRE = regexp.MustCompile(`(?i)\b(off|on|shm|internal|session|default|mod_tls\.c|mod_tls_shmcache\.c|size|file|timestampmillis|timestamp|connips)\b`)

func mutateKeywordCase(r *rand.Rand, lines []string) []string {
	var idx []int
	for i, l := range lines {
		if keywordRE.MatchString(l) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	return replaceLine(lines, i, keywordRE.ReplaceAllStringFunc(lines[i], func(s string) string { return randomCase(r, s) }))
}

var timeouts = []string{
	"1", "2", "300", "600", "1800", "86400", "+5", "007", "0", "-1", "-5", "00", "abc", "1.5",
	"600x", "0x10", "99999999999999999999", "2147483648", "-99999999999999999999", `""`, `" 5"`,
	"5 6", "1e3", "\u0661",
}

// mutateTimeout sets, replaces or removes the timeout of a
// TLSSessionCache line, or adds arguments to a TLSStaplingCache line.
func mutateTimeout(r *rand.Rand, lines []string) []string {
	idx := linesNamed(lines, "TLSSessionCache", "TLSStaplingCache")
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	ind := leadingSpace(lines[i])
	f := strings.Fields(lines[i])
	if len(f) < 2 || strings.HasSuffix(lines[i], "\\") {
		return nil
	}
	if r.IntN(5) == 0 {
		return replaceLine(lines, i, ind+strings.Join(f[:2], " "))
	}
	return replaceLine(lines, i, ind+strings.Join(f[:2], " ")+" "+pick(r, timeouts...))
}

// mutateCacheType replaces the "type:" of a cache line.
func mutateCacheType(r *rand.Rand, lines []string) []string {
	idx := linesNamed(lines, "TLSSessionCache", "TLSStaplingCache")
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	l := lines[i]
	f := strings.Fields(l)
	if len(f) < 2 {
		return nil
	}
	base := strings.Index(l, f[0]) + len(f[0])
	start := base + strings.Index(l[base:], f[1])
	end := start + len(f[1])
	typ := pick(r, "shm", "internal", "SHM", "Shm", "redis", "file", "memcache", "", "shm ", " shm", "off", "on", "no", "false", "0")
	c := strings.Index(l[start:end], ":")
	switch typ {
	case "off", "on", "no", "false", "0":
		return replaceLine(lines, i, l[:start]+typ+l[end:])
	}
	if c < 0 {
		return replaceLine(lines, i, l[:start]+typ+":"+l[start:])
	}
	return replaceLine(lines, i, l[:start]+typ+l[start+c:])
}

var infos = []string{
	"/file=@TMP@/sess_cache", "/file=@TMP@/sess_cache&size=512000", "/file=@TMP@/a#b",
	"/file=@TMP@/sess_cache&size=1", "/file=relative/cache", "file=@TMP@/x", "", "/file=",
	"/file=@TMP@/sess_cache&size=abc", "/file=@TMP@/sess_cache&size=-1", "/file=@TMP@",
	"/file=@TMP@/sess_cache&foo=bar", "/FILE=@TMP@/sess_cache", "/file=@TMP@/nodir/x",
}

func mutateCacheInfo(r *rand.Rand, lines []string) []string {
	idx := linesNamed(lines, "TLSSessionCache", "TLSStaplingCache")
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	f := strings.Fields(lines[i])
	if len(f) < 2 || strings.HasSuffix(lines[i], "\\") {
		return nil
	}
	typ, _, ok := strings.Cut(f[1], ":")
	if !ok {
		typ = "shm"
	}
	f[1] = typ + ":" + pick(r, infos...)
	return replaceLine(lines, i, leadingSpace(lines[i])+strings.Join(f, " "))
}

// mutateQuoting puts one word of a directive line in double quotes,
// sometimes with backslash escapes or without the closing quote.
func mutateQuoting(r *rand.Rand, lines []string) []string {
	idx := directiveLines(lines)
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	if strings.HasSuffix(lines[i], "\\") {
		return nil
	}
	f := strings.Fields(lines[i])
	w := r.IntN(len(f))
	if strings.HasPrefix(f[w], "<") || strings.HasPrefix(f[w], "\"") {
		return nil
	}
	switch r.IntN(4) {
	case 0:
		f[w] = `"` + f[w] + `"`
	case 1: // escape every other character
		var b strings.Builder
		for j, c := range f[w] {
			if j%2 == 0 {
				b.WriteByte('\\')
			}
			b.WriteRune(c)
		}
		f[w] = `"` + b.String() + `"`
	case 2:
		f[w] = `"` + f[w] // unterminated
	default:
		f[w] = `"` + f[w] + `"x` // text after the closing quote
	}
	return replaceLine(lines, i, leadingSpace(lines[i])+strings.Join(f, " "))
}

// mutateContinuation splits a directive line with backslash-newline: at a
// space, inside a word, or with whitespace after the backslash (which
// ProFTPD does not treat as a continuation).
func mutateContinuation(r *rand.Rand, lines []string) []string {
	idx := directiveLines(lines)
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	l := lines[i]
	if len(l) < 4 {
		return nil
	}
	cut := 1 + r.IntN(len(l)-2)
	head, tail := l[:cut], l[cut:]
	switch r.IntN(4) {
	case 0:
		return replaceLine(lines, i, head+"\\", tail)
	case 1:
		return replaceLine(lines, i, head+" \\", "    "+tail)
	case 2:
		return replaceLine(lines, i, head+"\\ ", tail)
	default:
		return replaceLine(lines, i, head+"\\", "# continued comment", tail)
	}
}

func mutateComment(r *rand.Rand, lines []string) []string {
	i := r.IntN(len(lines) + 1)
	switch r.IntN(4) {
	case 0:
		return insertAt(lines, i, pick(r, "# a comment", "   # indented comment", "#", "#TLSSessionCache bogus"))
	case 1:
		idx := directiveLines(lines)
		if len(idx) == 0 {
			return nil
		}
		j := pick(r, idx...)
		if strings.HasSuffix(lines[j], "\\") {
			return nil
		}
		return replaceLine(lines, j, lines[j]+pick(r, " # trailing", " #", "\t#x y z", " #\"quoted"))
	case 2:
		idx := directiveLines(lines)
		if len(idx) == 0 {
			return nil
		}
		j := pick(r, idx...)
		if strings.HasSuffix(lines[j], "\\") {
			return nil
		}
		return replaceLine(lines, j, lines[j]+" x#y")
	default:
		return insertAt(lines, i, "")
	}
}

func mutateWhitespace(r *rand.Rand, lines []string) []string {
	out := append([]string(nil), lines...)
	switch r.IntN(3) {
	case 0: // indent
		for _, i := range directiveLines(out) {
			out[i] = pick(r, " ", "\t", "   ", " \t ") + out[i]
		}
	case 1: // CRLF line ends
		for i := range out {
			out[i] += "\r"
		}
	default: // several blanks and tabs between words
		for _, i := range directiveLines(out) {
			out[i] = strings.ReplaceAll(out[i], " ", pick(r, "  ", "\t", " \t "))
		}
	}
	return out
}

// mutateContext wraps the fragment, or its non-LoadModule part, in a
// section: a context, or an <IfModule> (sometimes left unclosed).
func mutateContext(r *rand.Rand, lines []string) []string {
	open, close := "", ""
	switch r.IntN(11) {
	case 0:
		open, close = "<VirtualHost 127.0.0.1>", "</VirtualHost>"
	case 1:
		open, close = "<Global>", "</Global>"
	case 2:
		open, close = "<Directory @TMP@>", "</Directory>"
	case 3:
		open, close = "<Anonymous @TMP@/anon>", "</Anonymous>"
	case 4:
		open, close = "<IfModule mod_tls.c>", "</IfModule>"
	case 5:
		open, close = "<IfModule !mod_tls.c>", "</IfModule>"
	case 6:
		open, close = "<IfModule mod_tls_shmcache.c>", "</IfModule>"
	case 7:
		open, close = "<IfModule !mod_nosuch.c>", "</IfModule>"
	case 8:
		open, close = "<IfModule mod_nosuch.c>", "</IfModule>"
	case 9:
		open, close = "<IfModule mod_tls.c>", "" // unclosed at end of file
	default:
		open, close = "<VirtualHost 127.0.0.1>", "" // unclosed
	}
	// Keep the LoadModule lines in server config most of the time.
	first := 0
	if r.IntN(4) != 0 {
		for first < len(lines) && hasLoadModule.MatchString(lines[first]) {
			first++
		}
	}
	out := append([]string(nil), lines[:first]...)
	out = append(out, open)
	for _, l := range lines[first:] {
		out = append(out, "  "+l)
	}
	if close != "" {
		out = append(out, close)
	}
	return out
}

// mutateLoadModule gives the fragment its own LoadModule lines, in an
// order, number and spelling of its choosing.
func mutateLoadModule(r *rand.Rand, lines []string) []string {
	var body []string
	for _, l := range lines {
		if !hasLoadModule.MatchString(l) {
			body = append(body, l)
		}
	}
	sets := [][]string{
		{"mod_tls.c"},
		{"mod_tls.c", "mod_tls_shmcache.c"},
		{"mod_tls_shmcache.c", "mod_tls.c"},
		{"mod_tls.c", "mod_tls_shmcache.c", "mod_tls.c"},
		{"mod_tls.c", "mod_tls.c", "mod_tls_shmcache.c"},
		{"mod_tls.c", "mod_tls_shmcache.c", "mod_nosuch.c"},
		{"mod_tls.c", "mod_tls_shmcache"},
		{"mod_tls.c", "tls_shmcache.c"},
		{"mod_tls.c", "mod_tls_shmcache.c", "mod_core.c"},
		{"mod_tls.c", "mod_tls_shmcache.c", "mod_tls_shmcache.c"},
		{"mod_tls.c", "MOD_TLS_SHMCACHE.C"},
		{"mod_tls.c", "mod_tls_shmcache.c extra"},
		{"mod_tls.c", `"mod_tls_shmcache.c"`},
		{"mod_tls.c", "mod_redis.c", "mod_tls_redis.c"},
		{"mod_tls.c", "mod_tls_redis.c", "mod_tls_shmcache.c"},
		{"mod_tls_redis.c", "mod_tls.c"},
	}
	var loads []string
	for _, m := range pick(r, sets...) {
		loads = append(loads, pick(r, "LoadModule", "loadmodule", "LOADMODULE")+" "+m)
	}
	switch r.IntN(5) {
	case 0: // after the directives that need them
		return append(body, loads...)
	case 1: // split around the body
		mid := r.IntN(len(loads) + 1)
		out := append(append([]string(nil), loads[:mid]...), body...)
		return append(out, loads[mid:]...)
	default:
		return append(loads, body...)
	}
}

var traceLevels = []string{
	"0", "1", "5", "10", "20", "1-5", "5-1", "0-0", "3-3", "10-", "-1", "", "abc", "2147483647",
	"2147483648", "4294967296", "01", "+3", "0--1", " 5", "1-2-3", "5x",
}

func randomTraceArg(r *rand.Rand) string {
	ch := pick(r, "tls.shmcache", "tls", "DEFAULT", "default", "no.such.channel", "tls.redis", "")
	switch r.IntN(8) {
	case 0:
		return ch // no colon
	case 1:
		return ch + "::" + pick(r, traceLevels...)
	}
	return ch + ":" + pick(r, traceLevels...)
}

// mutateTrace adds a Trace line or rewrites the arguments of one.
func mutateTrace(r *rand.Rand, lines []string) []string {
	n := r.IntN(4)
	args := make([]string, n)
	for i := range args {
		args[i] = randomTraceArg(r)
	}
	if r.IntN(4) == 0 {
		args = append([]string{pick(r, "session", "SESSION", "Session")}, args...)
	}
	line := "Trace"
	if len(args) > 0 {
		line += " " + strings.Join(args, " ")
	}
	if idx := linesNamed(lines, "Trace"); len(idx) > 0 && r.IntN(2) == 0 {
		i := pick(r, idx...)
		return replaceLine(lines, i, leadingSpace(lines[i])+line)
	}
	return insertAt(lines, r.IntN(len(lines)+1), line)
}

func mutateTraceLog(r *rand.Rand, lines []string) []string {
	line := "TraceLog " + pick(r,
		"@TMP@/trace.log", "@TMP@/other.log", "@TMP@/nodir/trace.log", "relative/trace.log", "none",
		`""`, "@TMP@/a.log @TMP@/b.log", "@TMP@", "@TMP@/trace.log extra",
		"@TMP@/world-writable/trace.log", "@TMP@/symlink/trace.log")
	if r.IntN(6) == 0 {
		line = "TraceLog"
	}
	if idx := linesNamed(lines, "TraceLog"); len(idx) > 0 && r.IntN(2) == 0 {
		i := pick(r, idx...)
		return replaceLine(lines, i, leadingSpace(lines[i])+line)
	}
	return insertAt(lines, r.IntN(len(lines)+1), line)
}

func mutateTraceOptions(r *rand.Rand, lines []string) []string {
	n := r.IntN(4)
	var opts []string
	for range n {
		sign := pick(r, "+", "-", "", "++")
		opts = append(opts, sign+randomCase(r, pick(r, "ConnIPs", "Timestamp", "TimestampMillis", "Bogus", "")))
	}
	line := "TraceOptions"
	if len(opts) > 0 {
		line += " " + strings.Join(opts, " ")
	}
	return insertAt(lines, r.IntN(len(lines)+1), line)
}

// mutateEnv replaces a cache line's arguments with %{env:...} references
// (see differentialEnv), including one whose value splits into two words.
func mutateEnv(r *rand.Rand, lines []string) []string {
	idx := linesNamed(lines, "TLSSessionCache")
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	repl := pick(r,
		"TLSSessionCache %{env:FTPDTLS_TEST_CACHE}",
		"TLSSessionCache %{env:FTPDTLS_TEST_CACHE} %{env:FTPDTLS_TEST_TIMEOUT}",
		"TLSSessionCache %{env:FTPDTLS_TEST_TWO_WORDS}",
		"TLSSessionCache shm:/file=@TMP@/sess_cache %{env:FTPDTLS_TEST_EMPTY}",
		"TLSSessionCache shm:/file=@TMP@/sess_cache %{env:FTPDTLS_TEST_UNSET}",
		"TLSSessionCache %{env:FTPDTLS_TEST_UNSET}",
		"TLSSessionCache shm:/file=@TMP@/%{env:FTPDTLS_TEST_TIMEOUT}",
	)
	return replaceLine(lines, i, leadingSpace(lines[i])+repl)
}

func mutateDuplicate(r *rand.Rand, lines []string) []string {
	idx := directiveLines(lines)
	if len(idx) == 0 {
		return nil
	}
	i := pick(r, idx...)
	if strings.HasSuffix(lines[i], "\\") {
		return nil
	}
	return insertAt(lines, i, lines[i])
}

func mutateSwap(r *rand.Rand, lines []string) []string {
	if len(lines) < 2 {
		return nil
	}
	i := r.IntN(len(lines) - 1)
	out := append([]string(nil), lines...)
	out[i], out[i+1] = out[i+1], out[i]
	return out
}

// tlsDirectives are mod_tls lines, right and wrong, that ftpdtls acts on.
var tlsDirectives = map[string][]string{
	"TLSEngine":          {"on", "off", "yes", "bogus", `""`, "on off"},
	"TLSStapling":        {"on", "off", "maybe", ""},
	"TLSStaplingTimeout": {"10", "0", "-1", "abc", "10s", "1m", "2min", "1h", "00:00:10", "1:2", "10 sec", "", "99999999999999999999"},
	"TLSStaplingOptions": {"NoNonce", "NoVerify", "NoFakeTryLater", "NoNonce NoVerify", "nononce", "Bogus", ""},
	"TLSStaplingResponder": {"http://127.0.0.1:8080/", "https://ocsp.example.com/path", "not-a-url", "ftp://x/", "",
		"http:/x", "HTTP://x", "http://x:99999/", "x:80", "http://[::1]:80/", "http://x:80abc", `""`},
	"TLSProtocol":              {"TLSv1.2 TLSv1.3", "ALL", "ALL -TLSv1 -TLSv1.1", "SSLv3", "TLSv1.4", "tlsv1.2", "", "-TLSv1.3"},
	"TLSOptions":               {"NoSessionReuseRequired", "EnableDiags", "Bogus", "AllowClientRenegotiations", "", "NoSessionReuseRequired Bogus"},
	"TLSRequired":              {"on", "off", "ctrl", "data", "auth", "auth+data", "!data", "bogus", ""},
	"TLSVerifyClient":          {"on", "off", "optional", "bogus", ""},
	"TLSRSACertificateFile":    {"@TMP@/missing.pem", "relative.pem", "@TMP@/proftpd.conf", "", "@TMP@"},
	"TLSECCertificateFile":     {"@TMP@/missing.pem", "relative.pem", "@TMP@/proftpd.conf"},
	"TLSDSACertificateFile":    {"@TMP@/missing.pem", "relative.pem", "@TMP@/proftpd.conf"},
	"TLSCACertificateFile":     {"@TMP@/missing.pem", "relative.pem", "@TMP@/proftpd.conf", ""},
	"TLSRSACertificateKeyFile": {"@TMP@/missing.pem", "@TMP@/proftpd.conf", ""},
	"TLSCertificateChainFile":  {"@TMP@/proftpd.conf", "relative.pem"},
	"TLSVerifyOrder":           {"crl", "crl ocsp", "crl ocsp crl", ""},
	"TLSRenegotiate":           {"none", "ctrl 3600", "", "ctrl 1 data 2 required on timeout 30 a b"},
	"TLSNextProtocol":          {"on", ""},
	"TLSCipherSuite":           {"HIGH", ""},
	"TLSLog":                   {"@TMP@/tls.log", "relative.log", "none", "", "@TMP@/nodir/tls.log"},
	"TLSSessionTickets":        {"on", "off", "bogus", ""},
	"TLSSessionTicketKeys":     {"age 1h count 5", "age 12h", "count 2", "bogus", "age", "age -1h", ""},
	"TLSControlsACLs": {"all allow user root", "info,sesscache allow user *", "bogus", "all deny group wheel", "",
		"bogus bogus bogus root", "bogus allow bogus root", "all allow user"},
}

// mutateTLSDirective adds, or puts in place of a line, a mod_tls
// directive with arguments that may or may not be valid.
func mutateTLSDirective(r *rand.Rand, lines []string) []string {
	names := make([]string, 0, len(tlsDirectives))
	for n := range tlsDirectives {
		names = append(names, n)
	}
	slices.Sort(names) // map order is random; the seed must decide
	name := pick(r, names...)
	line := strings.TrimSpace(name + " " + pick(r, tlsDirectives[name]...))
	if idx := directiveLines(lines); len(idx) > 0 && r.IntN(3) == 0 {
		return replaceLine(lines, pick(r, idx...), line)
	}
	return insertAt(lines, r.IntN(len(lines)+1), line)
}

// coreDirectives are core lines whose handlers ftpdtls implements.
var coreDirectives = map[string][]string{
	"Port":              {"21", "0", "2121", "65535", "65536", "-1", "abc", ""},
	"PassivePorts":      {"49152 49407", "49407 49152", "1 2", "0 65535", "abc def", "49152", ""},
	"ServerType":        {"standalone", "inetd", "Standalone", "bogus", ""},
	"MaxInstances":      {"30", "0", "-1", "abc", "none", ""},
	"SocketBindTight":   {"on", "off", "bogus"},
	"UseIPv6":           {"on", "off", "bogus"},
	"DefaultServer":     {"on", "off", "bogus"},
	"ServerIdent":       {"on", "off", `on "FTP ready"`, "bogus", ""},
	"MasqueradeAddress": {"127.0.0.1", "localhost", "", "1.2.3.4 5.6.7.8"},
	"ControlsEngine":    {"on", "off", "bogus"},
	"ControlsSocket":    {"@TMP@/ctrls.sock", "relative.sock", ""},
	"ControlsLog": {"@TMP@/ctrls.log", "relative.log", "@TMP@/nodir/ctrls.log", "@TMP@/world-writable/ctrls.log",
		"@TMP@/symlink", "@TMP@/inc.d", "@TMP@/bad.conf/ctrls.log", "./ctrls.log"},
	"Include": {"@TMP@/missing.conf", "relative.conf", "@TMP@/nodir/*.conf", ""},
	// ftpdtls loads no module files, so a LoadModule after ModulePath
	// @TMP@ works for it and fails for ProFTPD: a documented divergence.
	"ModulePath": {"/usr/lib/proftpd", "relative", "", "@TMP@", "@TMP@/world-writable", "@TMP@/missing"},
}

func mutateCoreDirective(r *rand.Rand, lines []string) []string {
	names := make([]string, 0, len(coreDirectives))
	for n := range coreDirectives {
		names = append(names, n)
	}
	slices.Sort(names)
	name := pick(r, names...)
	line := strings.TrimSpace(name + " " + pick(r, coreDirectives[name]...))
	return insertAt(lines, r.IntN(len(lines)+1), line)
}

// mutateSection adds a section with unusual tags or contents.
func mutateSection(r *rand.Rand, lines []string) []string {
	add := pick(r,
		[]string{"<VirtualHost>", "</VirtualHost>"},
		[]string{"<VirtualHost 127.0.0.2 127.0.0.3>", "  Port 2", "</VirtualHost>"},
		[]string{"<Global extra>", "</Global>"},
		[]string{"<Global>", "</Global extra>"},
		[]string{"<IfModule>", "</IfModule>"},
		[]string{"<IfModule mod_tls.c mod_tls_shmcache.c>", "</IfModule>"},
		[]string{"<IfModule mod_tls.c>", "</IfModule extra>"},
		[]string{"<IfModule !mod_tls.c>", "  Anything goes here", "  <IfModule nested.c>", "  </IfModule>", "</IfModule>"},
		[]string{"<Directory @TMP@>", "  <Limit LOGIN>", "    DenyAll", "  </Limit>", "</Directory>"},
		[]string{"<Directory relative>", "</Directory>"},
		[]string{"<Anonymous @TMP@/anon>", "  User nobody", "</Anonymous>"},
		[]string{"<Anonymous />", "</Anonymous>"},
		[]string{"<Class local>", "  From 127.0.0.1", "</Class>"},
		[]string{"<Class empty>", "</Class>"},
		[]string{"</VirtualHost>"},
		[]string{"</IfModule>"},
		[]string{"<Limit LOGIN>", "</Limit>"},
		[]string{"<IfDefine FTPDTLS_NOT_DEFINED>", "  TLSSessionCache bogus", "</IfDefine>"},
		[]string{"<IfDefine !FTPDTLS_NOT_DEFINED>", "  TLSSessionCache off", "</IfDefine>"},
	)
	return insertAt(lines, r.IntN(len(lines)+1), add...)
}

// mutateInclude adds an Include of the files writeWrapped puts next to
// the configuration (see includeFiles), or of something missing.
func mutateInclude(r *rand.Rand, lines []string) []string {
	line := "Include " + pick(r,
		"@TMP@/inc.d", "@TMP@/inc.d/*.conf", "@TMP@/inc.d/10-*.conf", "@TMP@/inc.d/10-cache.conf",
		"@TMP@/bad.conf", "@TMP@/missing.conf", "@TMP@/*.none", "inc.d/10-cache.conf", "@TMP@/inc.d/20-trace.conf")
	return insertAt(lines, r.IntN(len(lines)+1), line)
}

// tlsValueDirectives are the mod_tls directives whose values ProFTPD
// checks against its protocol, option and OpenSSL cipher tables.
var tlsValueDirectives = map[string][]string{
	"TLSProtocol": {"TLSv1", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3", "SSLv3", "ALL", "TLSv1.0 TLSv1.2",
		"ALL -TLSv1.0", "ALL -TLSv1 -TLSv1.1", "ALL TLSv1.2", "ALL -TLSv9", "ALL +SSLv4", "TLSv9", "+TLSv1.2",
		"-TLSv1.2", "ALL -SSLv3 +TLSv1.3", "tlsv1.2", "ALL -ALL", "TLSv1.2,TLSv1.3", ""},
	"TLSOptions": {"NoCertRequest", "AllowDotLogin", "AllowPerUser", "AllowClientRenegotiations", "EnableDiags",
		"ExportCertData", "NoEmptyFragments", "NoSessionReuseRequired", "StdEnvVars", "dNSNameRequired",
		"iPAddressRequired", "UseImplicitSSL", "IgnoreSNI", "AllowWeakDH", "NoCertRequest NoSessionReuseRequired",
		"nosessionreuserequired", "Bogus", ""},
	"TLSCipherSuite": {"HIGH", "NOTACIPHER", "HIGH:!aNULL:!MD5", "DEFAULT:!EXP", "ALL:!ADH", "ECDHE-RSA-AES128-GCM-SHA256",
		"TLS_AES_128_GCM_SHA256", "!ALL", "HIGH:NOTACIPHER", "aNULL", "", "TLSv1.3:HIGH"},
	"TLSPKCS12File": {"/nonexistent", "@TMP@/missing.p12", "@TMP@/proftpd.conf", "relative.p12", "@TMP@"},
}

// mutateTLSValues adds, or puts in place of a line, a TLSProtocol,
// TLSOptions, TLSCipherSuite or TLSPKCS12File line with a value right or
// wrong.
func mutateTLSValues(r *rand.Rand, lines []string) []string {
	names := make([]string, 0, len(tlsValueDirectives))
	for n := range tlsValueDirectives {
		names = append(names, n)
	}
	slices.Sort(names)
	name := pick(r, names...)
	line := strings.TrimSpace(name + " " + pick(r, tlsValueDirectives[name]...))
	if idx := linesNamed(lines, name); len(idx) > 0 && r.IntN(2) == 0 {
		i := pick(r, idx...)
		return replaceLine(lines, i, leadingSpace(lines[i])+line)
	}
	return insertAt(lines, r.IntN(len(lines)+1), line)
}

// cacheProviders are cache types of modules Debian ships that ftpdtls
// may or may not implement, with the module that registers each.
var cacheProviders = []struct{ module, session, ocsp string }{
	{"mod_tls_memcache.c", "memcache:", "memcache:"},
	{"mod_tls_fscache.c", "", "fs:/path=@TMP@/ocsp"},
	{"mod_tls_fscache.c", "", "fs:"},
	{"mod_tls_fscache.c", "", "fs:/path=/nonexistent"},
	{"mod_tls_redis.c", "redis:", "redis:"},
	{"mod_tls_shmcache.c", "shm:/file=@TMP@/sess_cache", "shm:/file=@TMP@/ocsp_cache"},
}

// mutateCacheProvider gives the fragment a TLSSessionCache or
// TLSStaplingCache of another provider, loading its module (after
// mod_tls) or not.
func mutateCacheProvider(r *rand.Rand, lines []string) []string {
	p := pick(r, cacheProviders...)
	directive, value := "TLSStaplingCache", p.ocsp
	if p.session != "" && r.IntN(2) == 0 {
		directive, value = "TLSSessionCache", p.session
	}
	out := withOwnLoadModules(lines)
	if r.IntN(4) != 0 {
		out = insertAt(out, loadModuleEnd(out), "LoadModule "+p.module)
	}
	line := directive + " " + value
	if idx := linesNamed(out, directive); len(idx) > 0 && r.IntN(2) == 0 {
		i := pick(r, idx...)
		return replaceLine(out, i, leadingSpace(out[i])+line)
	}
	return insertAt(out, loadModuleEnd(out)+r.IntN(len(out)-loadModuleEnd(out)+1), line)
}

// withOwnLoadModules returns lines with LoadModule lines of their own:
// a fragment without any gets the two that proftpd-check.sh adds, so
// that adding another keeps mod_tls and mod_tls_shmcache loaded.
func withOwnLoadModules(lines []string) []string {
	for _, l := range lines {
		if hasLoadModule.MatchString(l) {
			return append([]string(nil), lines...)
		}
	}
	return append([]string{"LoadModule mod_tls.c", "LoadModule mod_tls_shmcache.c"}, lines...)
}

// loadModuleEnd is the index after the leading LoadModule lines.
func loadModuleEnd(lines []string) int {
	i := 0
	for i < len(lines) && hasLoadModule.MatchString(lines[i]) {
		i++
	}
	return i
}

// stockModules are modules that Debian's stock modules.conf loads or that
// Debian compiles in, whose directives ftpdtls checks without
// implementing them. mod_ban and mod_shaper are left out: their tables
// make proftpd -t create SysV objects the test could not remove.
var stockModules = []string{
	"mod_core.c", "mod_xfer.c", "mod_auth.c", "mod_ls.c", "mod_log.c", "mod_auth_file.c", "mod_auth_unix.c",
	"mod_rlimit.c", "mod_facts.c", "mod_cap.c", "mod_lang.c", "mod_delay.c", "mod_ctrls.c", "mod_auth_pam.c",
	"mod_ctrls_admin.c", "mod_radius.c", "mod_quotatab.c", "mod_rewrite.c", "mod_load.c", "mod_wrap2.c",
	"mod_dynmasq.c", "mod_exec.c", "mod_ratio.c", "mod_site_misc.c", "mod_facl.c", "mod_unique_id.c",
	"mod_copy.c", "mod_deflate.c", "mod_ifversion.c", "mod_memcache.c", "mod_readme.c", "mod_ifsession.c",
}

// directiveArgs are argument lists for those directives: Booleans,
// numbers, paths, sizes, durations, keywords, lists. Host names are left
// out (resolving them would make proftpd -t wait on the network), and so
// are paths outside the test's directory.
var directiveArgs = []string{
	"", "on", "off", "maybe", "0", "1", "-1", "10", "2147483648", "abc", "none", "all", "@TMP@/file.txt", "@TMP@",
	"relative", "@TMP@/nodir/x", "1 2", "10 KB", "1 MB", "10 20 30", "user bob", "on extra", "*",
	"a,b", "00:01:00", "10s", "1h", "[NC]", "^a(b", "^[a-z]+$", "!x", "127.0.0.1", "10.0.0.0/8", "1.2.3.4/33",
	"from all", "allow,deny", "deny, allow", "STOR 10", "RETR,STOR 2", "kick allow user root", "file:/a file:/b",
	"1.3.8", "< 1.3.9", "~ ^1", "%u ^a$", "int:tolower", "5/00:01:00 01:00:00", "$(1:x) 2", "+CAP_CHOWN",
}

// mutateModuleDirective adds a directive of a module ftpdtls only knows
// the checks of, with arguments right or wrong, sometimes in a section,
// loading the module (and what it needs) when Debian does not compile
// it in.
func mutateModuleDirective(r *rand.Rand, lines []string) []string {
	cat := directives.Catalogue()
	mod := pick(r, stockModules...)
	var names []string
	for _, d := range cat[mod] {
		// Include has a mutator of its own (an Include of @TMP@ would
		// read proftpd.conf again, forever).
		if !strings.HasPrefix(d, "</") && d != "Include" {
			names = append(names, d)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	name := pick(r, names...)
	args := pick(r, directiveArgs...)
	var add []string
	if strings.HasPrefix(name, "<") {
		add = []string{strings.TrimSpace(strings.TrimSuffix(name, ">")+" "+args) + ">", "</" + name[1:]}
	} else {
		add = []string{strings.TrimSpace(name + " " + args)}
	}
	switch r.IntN(6) {
	case 0:
		add = append(append([]string{"<Directory @TMP@>"}, add...), "</Directory>")
	case 1:
		add = append(append([]string{"<VirtualHost 127.0.0.1>"}, add...), "</VirtualHost>")
	case 2:
		add = append(append([]string{"<Limit LOGIN>"}, add...), "</Limit>")
	case 3:
		add = append(append([]string{"<Anonymous @TMP@/anon>"}, add...), "</Anonymous>")
	}
	out := lines
	if !slices.Contains(directives.DebianCompiledIn, mod) {
		out = withOwnLoadModules(lines)
		var loads []string
		for _, req := range directives.DebianLoadable[mod] {
			loads = append(loads, "LoadModule "+req)
		}
		loads = append(loads, "LoadModule "+mod)
		out = insertAt(out, loadModuleEnd(out), loads...)
	}
	start := loadModuleEnd(out)
	return insertAt(out, start+r.IntN(len(out)-start+1), add...)
}
