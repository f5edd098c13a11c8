package conformance

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/testpeers"
)

// TestRealClients is the real-client matrix: curl, lftp, Python ftplib
// (stock FTP_TLS and the subclass that reuses the control session on data
// connections), Ruby net/ftp, PHP's ftp extension, netkit ftp-ssl and
// openssl s_client, each on TLS 1.2 and TLS 1.3 (forced by the client),
// against `ftpdtls serve` with one and two workers and against the real
// ProFTPD 1.3.8, all with the same TLS settings: TLSRequired on, TLS 1.2
// and 1.3, an shm session cache, and data connections required to resume
// the control connection's session (mod_tls's default).
//
// In each cell the client logs in, lists the directory, uploads a 20 MiB
// random file and downloads another; the files must arrive intact (SHA-256
// on both sides) and every data connection must resume: the TLSLog's
// "client reused TLS session for data connection" lines are counted, and
// for ftpdtls the session cache's hits too. A cell that cannot work is
// pinned to exactly what happens, with the reason (rcExpected). The test
// prints the matrix; docs/CLIENTS.md holds the copy for readers.
//
//	FTPDTLS_REQUIRE_PEERS=1 go test ./conformance/ -run TestRealClients -v
//	go test ./conformance/ -run 'TestRealClients/matrix/ftpdtls-1worker/ruby-net-ftp/TLSv1.2' -v
//
// Each server serves its cells one after another, so that log lines and
// cache counters belong to one cell; the servers run side by side.
func TestRealClients(t *testing.T) {
	bin := cliBinary(t)
	src := filepath.Join(t.TempDir(), "random-20MiB.bin")
	srcSum := rcRandomFile(t, src, 20<<20)

	servers := []struct {
		name  string // subtest name
		label string // column of the table
		start func(t *testing.T) *rcServer
	}{
		{"ftpdtls-1worker", "ftpdtls, 1 worker", func(t *testing.T) *rcServer { return rcStartFtpdtls(t, bin, 1) }},
		{"ftpdtls-2workers", "ftpdtls, 2 workers", func(t *testing.T) *rcServer { return rcStartFtpdtls(t, bin, 2) }},
		{"proftpd-1.3.8", "ProFTPD 1.3.8", rcStartProFTPD},
	}
	res := &rcResults{cells: map[[3]string]rcResult{}}
	t.Run("matrix", func(t *testing.T) {
		// The servers run side by side whatever -parallel says: a cell
		// mostly waits for client processes to start and for loopback
		// transfers, so three at a time keep two cores busy without
		// overloading them.
		var wg sync.WaitGroup
		defer wg.Wait()
		for _, sv := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t.Run(sv.name, func(t *testing.T) { rcColumn(t, sv.label, sv.start(t), src, srcSum, res) })
			}()
		}
	})
	var cols []string
	for _, sv := range servers {
		cols = append(cols, sv.label)
	}
	t.Logf("real-client matrix (client x TLS version x server):\n%s", res.table(cols))
	if path := os.Getenv("FTPDTLS_CLIENTS_TABLE"); path != "" {
		if err := os.WriteFile(path, []byte(res.table(cols)), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// rcColumn runs every client against one server, one cell at a time.
func rcColumn(t *testing.T, label string, s *rcServer, src, srcSum string, res *rcResults) {
	for _, c := range rcClients {
		for _, v := range rcVersions {
			t.Run(c.name+"/"+rcVersionLabel(v), func(t *testing.T) {
				res.add(label, c.name, v, rcCell(t, s, c, v, src, srcSum))
			})
		}
	}
	if s.proftpd {
		// Once for the whole run: ftpdctl waits for ProFTPD's
		// ControlsInterval, a second or more per call.
		hits, err := s.hits()
		if err != nil {
			t.Errorf("ftpdctl tls sesscache info: %v", err)
		}
		note := fmt.Sprintf("ProFTPD's shm session cache counted %d hits over the whole run", hits)
		if hits == 0 {
			note += ": its session process resumes data connections from OpenSSL's in-process session cache"
		}
		res.note(note + ".")
	}
}

// rcVersions are the TLS versions a client is made to offer: TLS 1.2
// only and TLS 1.3 only. "" (what the client offers by itself) works too,
// and every client here then negotiates TLS 1.3, so that column would
// repeat the TLS 1.3 one at the cost of a third more time:
// FTPDTLS_CLIENTS_DEFAULT=1 adds it.
var rcVersions = func() []string {
	if os.Getenv("FTPDTLS_CLIENTS_DEFAULT") == "1" {
		return []string{"TLSv1.2", "TLSv1.3", ""}
	}
	return []string{"TLSv1.2", "TLSv1.3"}
}()

func rcVersionLabel(v string) string {
	if v == "" {
		return "default"
	}
	return v
}

// rcRandomFile writes n random bytes to path and returns their SHA-256.
func rcRandomFile(t *testing.T, path string, n int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rcFileSum returns a file's size and SHA-256, or size -1 if it is absent.
func rcFileSum(path string) (int64, string) {
	f, err := os.Open(path)
	if err != nil {
		return -1, ""
	}
	defer f.Close()
	h := sha256.New()
	n, _ := io.Copy(h, f)
	return n, hex.EncodeToString(h.Sum(nil))
}

// rcResult is one cell as measured.
type rcResult struct {
	skipped string    // why the cell did not run
	steps   [3]string // per step: "ok" or what went wrong
	reused  int       // TLSLog: data connections that resumed the control session
	refused int       // TLSLog: data connections refused for not resuming
	hits    int       // session cache lifetime hits during the cell (-1: unknown)
	want    rcWant
	met     bool // the cell is as rcExpected says
}

func (r rcResult) works() bool {
	return r.steps == [3]string{"ok", "ok", "ok"}
}

// rcWant is what a cell must show.
type rcWant struct {
	// steps are patterns for the steps that must fail (nil: must work).
	steps [3]*regexp.Regexp
	// reused and refused are the TLSLog counts; refused -1 is "at
	// least one".
	reused, refused int
	// why explains a cell that cannot work.
	why string
}

// rcWorks is a cell where everything works and all three data connections
// resume the control connection's session.
var rcWorks = rcWant{reused: 3}

// The messages as each client prints ProFTPD's refusal of a data
// connection that did not resume the control session.
var (
	rcRe425     = regexp.MustCompile(`^425 Unable to build data connection: Operation not permitted$`)
	rcRe425PHP  = regexp.MustCompile(`^Unable to build data connection: Operation not permitted$`)
	rcRe425Curl = regexp.MustCompile(`^curl: \(18\) server did not report OK, got 425$`)
	// curl reads a download's data connection before the reply: it sees
	// the refused connection end before the 20 MiB the 150 reply announced.
	rcRe425CurlGet = regexp.MustCompile(`^curl: \(18\) (server did not report OK, got 425|transfer closed with 20971520 bytes remaining to read)$`)
	rcReAnyFailure = regexp.MustCompile(`.`)
	// PHP reports a refused upload as the write that met the server's
	// close, as with ProFTPD.
	rcRePHPWrite = regexp.MustCompile(`^SSL write failed`)
)

const (
	whyStockFTPTLS = "Python's stock ftplib.FTP_TLS starts every data connection with a new TLS session " +
		"(it never passes session= to wrap_socket), and data connections must resume the control " +
		"connection's session: every transfer is refused with 425, by ProFTPD and ftpdtls alike " +
		"(the upload's error is whatever the refusal does to a client that is already writing). " +
		"Use the subclass that wraps data sockets with session=self.sock.session, or TLSOptions NoSessionReuseRequired"
	whyCurlTLS12 = "curl (OpenSSL backend) offers a TLS 1.2 session by session ID only: its ClientHello has no " +
		"session_ticket extension. crypto/tls resumes TLS 1.2 only from tickets, never by session ID, so no " +
		"data connection resumes and each is refused with 425. On TLS 1.3 (the default) curl resumes and works; " +
		"TLSOptions NoSessionReuseRequired also makes it work, without the reuse check"
	whyOneUseTickets = "the client keeps an OpenSSL client-side session cache, and OpenSSL uses a TLS 1.3 ticket " +
		"once: after resuming it, it marks it not resumable, so each data connection needs the fresh ticket the " +
		"server sent on the one before. ProFTPD (OpenSSL) sends one on data connections it writes to (listings, " +
		"downloads), none on uploads, and ftpdtls does the same: a ticket on an upload connection is left unread " +
		"by clients that only write, their close then resets the connection and the end of the upload is lost, and " +
		"crypto/tls cannot send a ticket later in the connection (tls.Conn has no SendSessionTicket; only QUICConn " +
		"does). So on both servers the transfer after an upload offers a spent ticket, starts a new session and is " +
		"refused with 425; it works again from a new login (the client's next control connection)"
	whyTLS12Ticket = "Go's crypto/tls sends a new session ticket in every resumed TLS 1.2 handshake (it has no " +
		"switch for it; ServerConfig.TLS12DataTicket only chooses its content), and this OpenSSL client, which keeps " +
		"a client-side session cache, removes the control connection's session from it when a new ticket arrives on a " +
		"resumed connection, marking it not resumable: its next data connection cannot resume and is refused with 425. " +
		"ProFTPD resumes by session ID and sends no ticket. With TLS 1.3 (the default; every client here negotiates it " +
		"when offered) the client works as with ProFTPD; an embedding program can choose EmptyDataTicket (an empty " +
		"ticket, which OpenSSL ignores, and after which Go clients cannot resume); TLSOptions NoSessionReuseRequired " +
		"also makes it work, without the reuse check"
)

// rcExpected says what a cell must show: every cell works unless it is
// listed here with the reason it cannot.
func rcExpected(s *rcServer, client, version string) rcWant {
	if version == "" {
		version = "TLSv1.3" // what every client negotiates by default
	}
	refusedAll := func(list, put, get *regexp.Regexp, why string) rcWant {
		return rcWant{steps: [3]*regexp.Regexp{list, put, get}, reused: 0, refused: 3, why: why}
	}
	afterUpload := func(get *regexp.Regexp) rcWant {
		return rcWant{steps: [3]*regexp.Regexp{nil, nil, get}, reused: 2, refused: 1, why: whyOneUseTickets}
	}
	switch {
	case client == "python-ftplib":
		return refusedAll(rcRe425, rcReAnyFailure, rcRe425, whyStockFTPTLS)
	case version == "TLSv1.3" && client == "ruby-net-ftp":
		return afterUpload(rcRe425)
	case version == "TLSv1.3" && client == "php-ftp":
		return afterUpload(rcRe425PHP)
	case version == "TLSv1.3" && client == "curl-one-session":
		return afterUpload(rcRe425CurlGet)
	case !s.proftpd && version == "TLSv1.2" && client == "curl":
		return refusedAll(rcRe425Curl, rcReAnyFailure, rcRe425CurlGet, whyCurlTLS12)
	case !s.proftpd && version == "TLSv1.2" && client == "ruby-net-ftp":
		// The upload offers no session (refused); the download offers
		// the session of the refused upload's full handshake, which no
		// control connection issued (refused too).
		return rcWant{steps: [3]*regexp.Regexp{nil, rcRe425, rcRe425}, reused: 2, refused: 2, why: whyTLS12Ticket}
	case !s.proftpd && version == "TLSv1.2" && client == "php-ftp":
		return rcWant{steps: [3]*regexp.Regexp{nil, rcRePHPWrite, nil}, reused: 2, refused: 1, why: whyTLS12Ticket}
	case !s.proftpd && version == "TLSv1.2" && client == "curl-one-session":
		// After a refused transfer curl may drop the control connection
		// and skip or retry the next one: how many data connections it
		// makes is curl's business; none may resume.
		w := refusedAll(rcRe425Curl, rcReAnyFailure, rcReAnyFailure, whyCurlTLS12)
		w.refused = -1
		return w
	}
	return rcWorks
}

// rcCell runs one client against one server and checks the outcome.
func rcCell(t *testing.T, s *rcServer, c rcClient, version, src, srcSum string) rcResult {
	want := rcExpected(s, c.name, version)
	prog, err := exec.LookPath(c.program)
	if err != nil {
		if testpeers.Required() {
			t.Fatalf("%s is not installed, and FTPDTLS_REQUIRE_PEERS=1 requires it (install it: see .ci/run)", c.program)
		}
		t.Skipf("skipping: %s is not installed (set FTPDTLS_REQUIRE_PEERS=1 to make this a failure)", c.program)
		return rcResult{skipped: c.program + " not installed"}
	}
	work := t.TempDir()
	base := c.name + "-" + rcVersionLabel(version)
	j := rcJob{
		srv: s, version: version, localUp: src, work: work,
		remoteUp: base + "-up.bin", remoteDown: base + "-down.bin",
		localDown: filepath.Join(work, "downloaded.bin"),
	}
	serverUp := filepath.Join(s.files, j.remoteUp)
	serverDown := filepath.Join(s.files, j.remoteDown)
	rcCopyFile(t, src, serverDown, s.uid, s.gid)
	t.Cleanup(func() {
		os.Remove(serverUp)
		os.Remove(serverDown)
	})

	tlsBefore, logBefore := len(s.tlsLog()), len(s.log.String())
	hitsBefore := s.lastHits
	// Generous: a client under a loaded CI machine is slow, never hung
	// for minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	run := c.run(ctx, prog, j)
	cancel()
	tlsLog, sysLog := s.tlsLog()[tlsBefore:], s.log.String()[logBefore:]
	r := rcResult{want: want, hits: -1}
	if !s.proftpd {
		hits, err := s.hits()
		if err != nil {
			t.Errorf("session cache hits: %v", err)
		}
		r.hits, s.lastHits = hits-hitsBefore, hits
	}
	r.reused = strings.Count(tlsLog, msgReused)
	r.refused = strings.Count(tlsLog, "rejecting data connection")

	// What the client says, checked against the files.
	r.steps = run.steps
	if r.steps[0] == "ok" && !strings.Contains(run.listing, j.remoteDown) {
		r.steps[0] = fmt.Sprintf("listing lacks %s: %q", j.remoteDown, rcShort(run.listing))
	}
	upSize, upSum := rcFileSum(serverUp)
	r.steps[1] = rcCheckFile(r.steps[1], "the server", upSize, upSum, srcSum)
	downSize, downSum := rcFileSum(j.localDown)
	r.steps[2] = rcCheckFile(r.steps[2], "the client", downSize, downSum, srcSum)

	// The control connection used the version the cell is about.
	if v := strings.TrimPrefix(cmpOr(version, "TLSv1.3"), "TLSv"); s.proftpd {
		if !strings.Contains(tlsLog, "TLSv"+v+" connection accepted") {
			t.Errorf("TLSLog shows no TLSv%s control connection:\n%s", v, tlsLog)
		}
	} else if !strings.Contains(sysLog, "TLS "+v+" control connection established") {
		t.Errorf("the daemon logged no TLS %s control connection:\n%s", v, sysLog)
	}

	r.met = true
	var problems []string
	for i, name := range rcStepNames {
		switch p := want.steps[i]; {
		case p == nil && r.steps[i] != "ok":
			problems = append(problems, fmt.Sprintf("%s: %s, want it to work", name, r.steps[i]))
		case p != nil && r.steps[i] == "ok":
			problems = append(problems, fmt.Sprintf("%s worked, want it to fail matching %q", name, p))
		case p != nil && !p.MatchString(r.steps[i]):
			problems = append(problems, fmt.Sprintf("%s: %q, want a failure matching %q", name, r.steps[i], p))
		}
	}
	if r.reused != want.reused || r.refused != want.refused && !(want.refused < 0 && r.refused > 0) {
		problems = append(problems, fmt.Sprintf("TLSLog: %d data connections resumed the control session and %d were refused, want %d and %d",
			r.reused, r.refused, want.reused, want.refused))
	}
	// Every resumption is a lookup in ftpdtls's shared cache. (ProFTPD's
	// session process finds the control session in OpenSSL's own cache,
	// so its shared cache counts no hits for them.)
	if !s.proftpd && r.hits < r.reused {
		problems = append(problems, fmt.Sprintf("the session cache counted %d hits for %d resumed data connections", r.hits, r.reused))
	}
	if len(problems) > 0 {
		r.met = false
		msg := fmt.Sprintf("%s, %s, %s:\n  %s", c.name, rcVersionLabel(version), s.name, strings.Join(problems, "\n  "))
		if want.why != "" {
			msg += "\nwhy this cell is pinned: " + want.why
		}
		t.Errorf("%s\n--- client output:\n%s\n--- TLSLog during the cell:\n%s\n--- daemon log during the cell:\n%s",
			msg, rcShort(run.output), tlsLog, rcShort(sysLog))
	}
	return r
}

// rcCheckFile turns a transfer step's report into "ok" only if the file
// arrived whole, and says what became of the file otherwise.
func rcCheckFile(step, where string, size int64, sum, want string) string {
	const full = 20 << 20
	switch {
	case step == "ok" && sum == want:
		return "ok"
	case step == "ok" && size < 0:
		return fmt.Sprintf("reported success, but %s has no file", where)
	case step == "ok":
		return fmt.Sprintf("reported success, but %s has %d bytes that differ from the %d sent", where, size, full)
	case size > 0 && size < full:
		return fmt.Sprintf("%s (%s kept %d of %d bytes)", step, where, size, full)
	case size == full && sum == want:
		return fmt.Sprintf("%s (although %s has the whole file)", step, where)
	}
	return step
}

func rcShort(s string) string {
	const max = 6000
	if len(s) > max {
		return s[:max/2] + "\n[...]\n" + s[len(s)-max/2:]
	}
	return s
}

func rcCopyFile(t *testing.T, from, to string, uid, gid int) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(to, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// rcResults collects the cells for the table.
type rcResults struct {
	mu    sync.Mutex
	cells map[[3]string]rcResult // client, version, server label
	notes []string
}

func (rs *rcResults) note(s string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.notes = append(rs.notes, s)
}

func (rs *rcResults) add(server, client, version string, r rcResult) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.cells[[3]string{client, version, server}] = r
}

// table renders the matrix as Markdown: one row per client and TLS
// version, one column per server.
func (rs *rcResults) table(cols []string) string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var b strings.Builder
	b.WriteString("| client | TLS | " + strings.Join(cols, " | ") + " |\n|---|---|")
	b.WriteString(strings.Repeat("---|", len(cols)) + "\n")
	notes := map[string]int{}
	var noteList []string
	for _, c := range rcClients {
		for _, v := range rcVersions {
			fmt.Fprintf(&b, "| %s | %s |", c.name, strings.TrimPrefix(rcVersionLabel(v), "TLSv"))
			for _, col := range cols {
				r, ok := rs.cells[[3]string{c.name, v, col}]
				if !ok {
					b.WriteString(" not run |")
					continue
				}
				b.WriteString(" " + r.String())
				if r.want.why != "" && !r.works() {
					n, ok := notes[r.want.why]
					if !ok {
						noteList = append(noteList, r.want.why)
						n = len(noteList)
						notes[r.want.why] = n
					}
					fmt.Fprintf(&b, " [%d]", n)
				}
				b.WriteString(" |")
			}
			b.WriteString("\n")
		}
	}
	if len(noteList) > 0 {
		b.WriteString("\n")
	}
	for i, n := range noteList {
		fmt.Fprintf(&b, "[%d] %s.\n\n", i+1, n)
	}
	for _, n := range rs.notes {
		b.WriteString(n + "\n\n")
	}
	return b.String()
}

// String is the cell's text in the table.
func (r rcResult) String() string {
	if r.skipped != "" {
		return "skipped: " + r.skipped
	}
	var s string
	if r.works() {
		s = "works"
	} else {
		var parts []string
		for i, name := range rcStepNames {
			if r.steps[i] != "ok" {
				parts = append(parts, name+": "+strings.ReplaceAll(r.steps[i], "|", "\\|"))
			}
		}
		s = "**fails** (" + strings.Join(parts, "; ") + ")"
	}
	s += fmt.Sprintf("; resumed %d/3", r.reused)
	if r.refused > 0 {
		s += fmt.Sprintf(", refused %d", r.refused)
	}
	if r.hits >= 0 {
		s += fmt.Sprintf(", %d cache hits", r.hits)
	}
	if !r.met {
		s += " — **not as expected**"
	}
	return s
}
