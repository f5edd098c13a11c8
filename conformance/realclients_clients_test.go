package conformance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The clients of the real-client matrix and how each is driven. Every
// client does, in one session where it can: a listing (LIST), an upload of
// the 20 MiB file (STOR) and a download of another 20 MiB file (RETR),
// each on its own PROT P data connection. A driver reports each step as
// "ok" or as the error the client printed.

// rcStepNames are the steps of every cell, in order.
var rcStepNames = [3]string{"list", "put", "get"}

// rcJob is what one cell asks of a client.
type rcJob struct {
	srv        *rcServer
	version    string // "TLSv1.2", "TLSv1.3" or "" for the client's default
	localUp    string // the file to upload
	remoteUp   string // its name on the server
	remoteDown string // a file on the server to download
	localDown  string // where the download goes
	work       string // a scratch directory
}

// rcRun is what a client did.
type rcRun struct {
	steps   [3]string // "ok" or the client's error
	listing string    // the listing's text
	output  string    // everything the client printed, for failures
}

// rcClient is one client of the matrix.
type rcClient struct {
	name    string // row of the table
	program string // looked up in PATH
	run     func(ctx context.Context, prog string, j rcJob) rcRun
}

var rcClients = []rcClient{
	{"curl", "curl", rcCurl},
	{"curl-one-session", "curl", rcCurlSession},
	{"lftp", "lftp", rcLftp},
	{"python-ftplib", "python3", rcPython(false)},
	{"python-ftplib-reuse", "python3", rcPython(true)},
	{"ruby-net-ftp", "ruby", rcRuby},
	{"php-ftp", "php", rcPHP},
	{"netkit-ftp-ssl", "ftp-ssl", rcNetkit},
	{"openssl-s_client", "openssl", rcSClient},
}

// rcExec runs a client process and returns its stdout and stderr.
func rcExec(ctx context.Context, dir string, env []string, stdin io.Reader, prog string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	// HOME: no ~/.lftprc, ~/.curlrc, ~/.netrc of whoever runs the tests.
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin = stdin
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%v (time limit)", err)
	}
	return o.String(), e.String(), err
}

// rcOpenSSLConf returns the environment that makes an OpenSSL-based
// client that has no option of its own for it (PHP's ftp extension,
// netkit ftp-ssl) offer only the given TLS version, through OpenSSL's
// system default configuration.
func rcOpenSSLConf(j rcJob) []string {
	if j.version == "" {
		return nil
	}
	path := filepath.Join(j.work, "openssl.cnf")
	text := fmt.Sprintf("openssl_conf = openssl_init\n[openssl_init]\nssl_conf = ssl_sect\n[ssl_sect]\n"+
		"system_default = system_default_sect\n[system_default_sect]\nMinProtocol = %[1]s\nMaxProtocol = %[1]s\n", j.version)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		panic(err)
	}
	return []string{"OPENSSL_CONF=" + path}
}

// ---- curl: one process per step ----

var curlError = regexp.MustCompile(`(?m)^curl: \(\d+\) .*$`)

func rcCurlBase(j rcJob) []string {
	base := []string{"-sS", "--ssl-reqd", "-k", "--max-time", "120", "--user", j.srv.user + ":" + j.srv.pass}
	switch j.version {
	case "TLSv1.2":
		base = append(base, "--tlsv1.2", "--tls-max", "1.2")
	case "TLSv1.3":
		base = append(base, "--tlsv1.3")
	}
	return base
}

// rcCurl runs curl once per step, the way most scripts use it: each step
// has its own control connection, so each data connection is the first
// of its session.
func rcCurl(ctx context.Context, curl string, j rcJob) rcRun {
	base := rcCurlBase(j)
	url := "ftp://127.0.0.1:" + j.srv.port + "/"
	var r rcRun
	for i, args := range [][]string{
		{url},
		{"-T", j.localUp, url + j.remoteUp},
		{"-o", j.localDown, url + j.remoteDown},
	} {
		out, errOut, err := rcExec(ctx, j.work, nil, nil, curl, append(base, args...)...)
		r.output += fmt.Sprintf("$ curl %s\n%s%s", strings.Join(args, " "), out, errOut)
		if i == 0 {
			r.listing = out
		}
		r.steps[i] = "ok"
		if err != nil {
			msg := strings.TrimSpace(curlError.FindString(errOut))
			if msg == "" {
				msg = fmt.Sprintf("%v: %s", err, strings.TrimSpace(errOut))
			}
			r.steps[i] = msg
		}
	}
	return r
}

// rcCurlSession is curl doing the three steps in one invocation (--next),
// so one control connection and one TLS session serve all three, as when
// a script passes curl several URLs. -w reports each transfer.
func rcCurlSession(ctx context.Context, curl string, j rcJob) rcRun {
	base := rcCurlBase(j)
	url := "ftp://127.0.0.1:" + j.srv.port + "/"
	listing := filepath.Join(j.work, "listing.txt")
	var args []string
	for i, step := range [][]string{
		{"-o", listing, url},
		{"-T", j.localUp, url + j.remoteUp},
		{"-o", j.localDown, url + j.remoteDown},
	} {
		if i > 0 {
			args = append(args, "--next")
		}
		args = append(args, base...)
		args = append(args, "-w", "STEP "+rcStepNames[i]+" %{exitcode} %{errormsg}\\n")
		args = append(args, step...)
	}
	out, errOut, err := rcExec(ctx, j.work, nil, nil, curl, args...)
	r := rcRun{output: out + errOut}
	if err != nil {
		r.output += fmt.Sprintf("\ncurl: %v", err)
	}
	for _, l := range strings.Split(out, "\n") {
		f := strings.SplitN(l, " ", 4)
		if len(f) < 3 || f[0] != "STEP" {
			continue
		}
		for i, name := range rcStepNames {
			if f[1] == name {
				r.steps[i] = "ok"
				if f[2] != "0" {
					r.steps[i] = fmt.Sprintf("curl: (%s) %s", f[2], strings.TrimSpace(strings.Join(f[3:], " ")))
				}
			}
		}
	}
	for i := range r.steps {
		if r.steps[i] == "" {
			r.steps[i] = fmt.Sprintf("no result (curl: %v; %s)", err, rcLastLine(errOut))
		}
	}
	b, _ := os.ReadFile(listing)
	r.listing = string(b)
	return r
}

// ---- lftp: one session, each step reports itself ----

func rcLftp(ctx context.Context, lftp string, j rcJob) rcRun {
	settings := []string{
		"set ssl:verify-certificate no", "set ftp:ssl-force yes", "set ftp:ssl-protect-data yes",
		"set net:max-retries 1", "set net:timeout 60", "set cmd:fail-exit no",
	}
	switch j.version {
	case "TLSv1.2":
		settings = append(settings, "set ssl:priority NORMAL:-VERS-ALL:+VERS-TLS1.2")
	case "TLSv1.3":
		settings = append(settings, "set ssl:priority NORMAL:-VERS-ALL:+VERS-TLS1.3")
	}
	steps := []string{
		"ls",
		"put " + j.localUp + " -o " + j.remoteUp,
		"get " + j.remoteDown + " -o " + j.localDown,
	}
	script := strings.Join(settings, "; ")
	for i, s := range steps {
		script += fmt.Sprintf("; echo STEP-BEGIN %[1]s; %[2]s && echo STEP %[1]s ok || echo STEP %[1]s fail", rcStepNames[i], s)
	}
	script += "; quit"
	out, errOut, err := rcExec(ctx, j.work, nil, nil, lftp, "-u", j.srv.user+","+j.srv.pass, "-p", j.srv.port, "-e", script, "127.0.0.1")
	r := rcRun{output: out + errOut}
	if err != nil {
		r.output += fmt.Sprintf("\nlftp: %v", err)
	}
	r.listing = rcBetween(out, "STEP-BEGIN list", "STEP list ")
	for i, name := range rcStepNames {
		switch {
		case strings.Contains(out, "STEP "+name+" ok"):
			r.steps[i] = "ok"
		case strings.Contains(out, "STEP "+name+" fail"):
			// lftp prints "put: <file>: Fatal error: ..." to stderr.
			cmd := strings.Fields(steps[i])[0]
			r.steps[i] = "failed"
			for _, l := range strings.Split(errOut, "\n") {
				if strings.HasPrefix(l, cmd+": ") {
					r.steps[i] = strings.TrimSpace(l)
				}
			}
		default:
			r.steps[i] = fmt.Sprintf("no result (lftp: %v)", err)
		}
	}
	return r
}

func rcBetween(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	s = s[i+len(from):]
	if k := strings.Index(s, to); k >= 0 {
		s = s[:k]
	}
	return s
}

// rcScriptSteps reads the "STEP <name> ok|fail <detail>" and "LIST <line>"
// lines the Python, Ruby and PHP scripts print.
func rcScriptSteps(out, errOut string, err error) rcRun {
	r := rcRun{output: out + errOut}
	if err != nil {
		r.output += fmt.Sprintf("\nexit: %v", err)
	}
	var listing strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "LIST "); ok {
			listing.WriteString(rest + "\n")
			continue
		}
		f := strings.SplitN(l, " ", 4)
		if len(f) < 3 || f[0] != "STEP" {
			continue
		}
		for i, name := range rcStepNames {
			if f[1] != name {
				continue
			}
			if f[2] == "ok" {
				r.steps[i] = "ok"
			} else if len(f) == 4 {
				r.steps[i] = strings.TrimSpace(f[3])
			} else {
				r.steps[i] = "failed"
			}
		}
	}
	r.listing = listing.String()
	for i := range r.steps {
		if r.steps[i] == "" {
			r.steps[i] = fmt.Sprintf("no result (exit: %v; %s)", err, rcLastLine(errOut))
		}
	}
	return r
}

func rcLastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// ---- Python ftplib ----

// rcPythonScript drives ftplib.FTP_TLS. With "reuse" it is the subclass
// that many programs copy from the Python bug tracker and Stack Overflow:
// ntransfercmd wraps the data socket with session=self.sock.session, the
// control connection's session. A step that fails with an FTP reply goes
// on in the same session; any other failure (the control connection may
// be out of step) logs in again for the next step.
const rcPythonScript = `
import ftplib, ssl, sys
port, version, mode, user, pw, local_up, remote_up, remote_down, local_down = sys.argv[1:10]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if version:
    v = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}[version]
    ctx.minimum_version = v
    ctx.maximum_version = v

class ReusingFTP_TLS(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

cls = ReusingFTP_TLS if mode == "reuse" else ftplib.FTP_TLS

def login():
    f = cls(context=ctx, timeout=120)
    f.connect("127.0.0.1", int(port))
    f.login(user, pw)
    f.prot_p()
    return f

def do_list(f):
    lines = []
    f.retrlines("LIST", lines.append)
    for l in lines:
        print("LIST " + l)

def do_put(f):
    with open(local_up, "rb") as fh:
        f.storbinary("STOR " + remote_up, fh)

def do_get(f):
    with open(local_down, "wb") as out:
        f.retrbinary("RETR " + remote_down, out.write)

f = login()
for name, step in (("list", do_list), ("put", do_put), ("get", do_get)):
    try:
        step(f)
        print("STEP %s ok" % name, flush=True)
    except ftplib.Error as e:
        print("STEP %s fail %s" % (name, str(e).splitlines()[0]), flush=True)
    except Exception as e:
        print("STEP %s fail %s: %s" % (name, type(e).__name__, e), flush=True)
        try:
            f.close()
        except Exception:
            pass
        f = login()
try:
    f.quit()
except Exception as e:
    print("QUIT %s: %s" % (type(e).__name__, e))
`

func rcPython(reuse bool) func(context.Context, string, rcJob) rcRun {
	return func(ctx context.Context, python string, j rcJob) rcRun {
		script := filepath.Join(j.work, "client.py")
		if err := os.WriteFile(script, []byte(rcPythonScript), 0o644); err != nil {
			panic(err)
		}
		mode := "stock"
		if reuse {
			mode = "reuse"
		}
		out, errOut, err := rcExec(ctx, j.work, nil, nil, python, script, j.srv.port, j.version, mode,
			j.srv.user, j.srv.pass, j.localUp, j.remoteUp, j.remoteDown, j.localDown)
		return rcScriptSteps(out, errOut, err)
	}
}

// ---- Ruby net/ftp ----

// rcRubyScript uses Net::FTP with ssl: true, which keeps the session of
// each new TLS session it sees (session_new_cb) and offers it on the next
// data connection.
const rcRubyScript = `
require "net/ftp"
require "openssl"
port, version, user, pw, local_up, remote_up, remote_down, local_down = ARGV
ssl = {verify_mode: OpenSSL::SSL::VERIFY_NONE}
unless version.empty?
  v = {"TLSv1.2" => OpenSSL::SSL::TLS1_2_VERSION, "TLSv1.3" => OpenSSL::SSL::TLS1_3_VERSION}.fetch(version)
  ssl[:min_version] = v
  ssl[:max_version] = v
end
def login(port, user, pw, ssl)
  Net::FTP.new("127.0.0.1", port: port.to_i, username: user, password: pw, passive: true,
    ssl: ssl, open_timeout: 120, read_timeout: 120)
end
ftp = login(port, user, pw, ssl)
steps = {
  "list" => -> { ftp.list.each { |l| puts "LIST #{l}" } },
  "put" => -> { ftp.putbinaryfile(local_up, remote_up) },
  "get" => -> { ftp.getbinaryfile(remote_down, local_down) },
}
steps.each do |name, step|
  begin
    step.call
    puts "STEP #{name} ok"
  rescue Net::FTPError => e
    puts "STEP #{name} fail #{e.message.lines.first.strip}"
  rescue StandardError => e
    puts "STEP #{name} fail #{e.class}: #{e.message}"
    ftp.close rescue nil
    ftp = login(port, user, pw, ssl)
  end
  $stdout.flush
end
begin
  ftp.quit
rescue StandardError => e
  puts "QUIT #{e.class}: #{e.message}"
end
`

func rcRuby(ctx context.Context, ruby string, j rcJob) rcRun {
	script := filepath.Join(j.work, "client.rb")
	if err := os.WriteFile(script, []byte(rcRubyScript), 0o644); err != nil {
		panic(err)
	}
	out, errOut, err := rcExec(ctx, j.work, nil, nil, ruby, script, j.srv.port, j.version,
		j.srv.user, j.srv.pass, j.localUp, j.remoteUp, j.remoteDown, j.localDown)
	return rcScriptSteps(out, errOut, err)
}

// ---- PHP ftp_ssl_connect ----

// rcPHPScript uses PHP's ftp extension, which keeps a client session
// cache of its own and offers the control connection's session on data
// connections. It has no TLS version option: OPENSSL_CONF sets it. PHP
// reports failures as warnings whose text is the server's reply without
// its code; after a failure the control connection may be out of step,
// so the script logs in again.
const rcPHPScript = `<?php
[$_, $port, $user, $pw, $localUp, $remoteUp, $remoteDown, $localDown] = $argv;
$lastError = "";
set_error_handler(function ($no, $str) use (&$lastError) { $lastError .= ($lastError === "" ? "" : " | ") . $str; return true; });
function login($port, $user, $pw) {
    $c = ftp_ssl_connect("127.0.0.1", (int)$port, 120);
    if ($c === false || !ftp_login($c, $user, $pw)) { fwrite(STDERR, "login failed\n"); exit(2); }
    ftp_pasv($c, true);
    return $c;
}
$c = login($port, $user, $pw);
$steps = [
    "list" => function ($c) { $l = ftp_rawlist($c, "."); if ($l === false) return false; foreach ($l as $line) echo "LIST $line\n"; return true; },
    "put" => function ($c) use ($localUp, $remoteUp) { return ftp_put($c, $remoteUp, $localUp, FTP_BINARY); },
    "get" => function ($c) use ($localDown, $remoteDown) { return ftp_get($c, $localDown, $remoteDown, FTP_BINARY); },
];
foreach ($steps as $name => $step) {
    $lastError = "";
    if ($step($c)) {
        echo "STEP $name ok\n";
        continue;
    }
    $msg = preg_replace('/^ftp_[a-z]+\(\): /', '', $lastError);
    $msg = preg_replace('/ \| ftp_[a-z]+\(\): /', ' | ', $msg);
    echo "STEP $name fail $msg\n";
    @ftp_close($c);
    $c = login($port, $user, $pw);
}
ftp_close($c);
`

func rcPHP(ctx context.Context, php string, j rcJob) rcRun {
	script := filepath.Join(j.work, "client.php")
	if err := os.WriteFile(script, []byte(rcPHPScript), 0o644); err != nil {
		panic(err)
	}
	out, errOut, err := rcExec(ctx, j.work, rcOpenSSLConf(j), nil, php, script, j.srv.port,
		j.srv.user, j.srv.pass, j.localUp, j.remoteUp, j.remoteDown, j.localDown)
	return rcScriptSteps(out, errOut, err)
}

// ---- netkit ftp-ssl: a here-document on stdin ----

// rcNetkit drives Debian's ftp-ssl as a user would with a here-document:
// -z secure refuses to fall back to plain FTP, -v shows the replies. It
// goes on after a failed transfer, so each step's result is the last
// reply code in its part of the output ("local: ..." starts put and get).
func rcNetkit(ctx context.Context, ftp string, j rcJob) rcRun {
	script := fmt.Sprintf("user %s %s\nbinary\nls\nput %s %s\nget %s %s\nquit\n",
		j.srv.user, j.srv.pass, j.localUp, j.remoteUp, j.remoteDown, j.localDown)
	out, errOut, err := rcExec(ctx, j.work, rcOpenSSLConf(j), strings.NewReader(script),
		ftp, "-p", "-i", "-n", "-v", "-z", "secure", "127.0.0.1", j.srv.port)
	r := rcRun{output: out + errOut}
	if err != nil {
		r.output += fmt.Sprintf("\nftp-ssl: %v", err)
	}
	parts := strings.Split(out, "\nlocal: ")
	if len(parts) != 3 {
		for i := range r.steps {
			r.steps[i] = fmt.Sprintf("no result (ftp-ssl: %v; %s)", err, rcLastLine(out+errOut))
		}
		return r
	}
	// The listing: between the 150 and the 226 of the first part.
	if i := strings.Index(parts[0], "\n150 "); i >= 0 {
		r.listing = parts[0][i:]
	}
	// The first part begins with the login; only its data step counts.
	i := strings.Index(parts[0], "\n227 ")
	if i < 0 {
		r.steps[0] = "no data connection: " + rcLastLine(parts[0])
		r.steps[1], r.steps[2] = rcNetkitResult(parts[1]), rcNetkitResult(parts[2])
		return r
	}
	parts[0] = parts[0][i:]
	for i, p := range parts {
		r.steps[i] = rcNetkitResult(p)
	}
	return r
}

var netkitReply = regexp.MustCompile(`(?m)^([1-5]\d\d)[ -](.*)$`)

// rcNetkitResult is "ok" if the data step's last reply is 226, else that
// reply and any message the client printed.
func rcNetkitResult(part string) string {
	var last []string
	for _, m := range netkitReply.FindAllStringSubmatch(part, -1) {
		if m[1] != "150" && m[1] != "227" && m[1] != "229" {
			last = m
			break
		}
	}
	if last == nil {
		return "no final reply: " + strings.TrimSpace(part)
	}
	if last[1] == "226" {
		return "ok"
	}
	return strings.TrimSpace(last[0])
}

// ---- openssl s_client: an FTPS session by hand ----

// rcSClient is an FTPS session made of openssl s_client processes: one
// for the control connection (-starttls ftp) that saves its session
// (-sess_out), and one per data connection that offers it (-sess_in), the
// way the FTPS RFC 4217 intends. A failed step logs in again.
func rcSClient(ctx context.Context, openssl string, j rcJob) rcRun {
	var r rcRun
	var log strings.Builder
	defer func() { r.output = log.String() }()
	var c *rcSCControl
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for i, name := range rcStepNames {
		if c == nil {
			var err error
			if c, err = rcSCLogin(ctx, openssl, j, &log); err != nil {
				r.steps[i] = "login: " + err.Error()
				continue
			}
		}
		var err error
		switch name {
		case "list":
			var b []byte
			b, err = c.transfer("LIST", nil)
			r.listing = string(b)
		case "put":
			var f *os.File
			if f, err = os.Open(j.localUp); err == nil {
				_, err = c.transfer("STOR "+j.remoteUp, f)
				f.Close()
			}
		case "get":
			var b []byte
			if b, err = c.transfer("RETR "+j.remoteDown, nil); err == nil {
				err = os.WriteFile(j.localDown, b, 0o644)
			}
		}
		r.steps[i] = "ok"
		if err != nil {
			r.steps[i] = err.Error()
			c.close()
			c = nil
		}
	}
	return r
}

type rcSCControl struct {
	ctx     context.Context
	openssl string
	j       rcJob
	cmdp    *exec.Cmd
	in      io.WriteCloser
	r       *textproto.Reader
	sess    string
	log     *strings.Builder
	stderr  *cliLog
	once    sync.Once
}

func rcSCVersion(v string) []string {
	switch v {
	case "TLSv1.2":
		return []string{"-tls1_2"}
	case "TLSv1.3":
		return []string{"-tls1_3"}
	}
	return nil
}

func rcSCLogin(ctx context.Context, openssl string, j rcJob, log *strings.Builder) (*rcSCControl, error) {
	sess := filepath.Join(j.work, fmt.Sprintf("control-%d.pem", time.Now().UnixNano()))
	args := append([]string{"s_client", "-connect", j.srv.addr, "-starttls", "ftp", "-quiet", "-sess_out", sess}, rcSCVersion(j.version)...)
	cmd := exec.CommandContext(ctx, openssl, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &rcSCControl{ctx: ctx, openssl: openssl, j: j, cmdp: cmd, in: in, sess: sess, log: log, stderr: &cliLog{}}
	cmd.Stderr = c.stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.r = textproto.NewReader(bufio.NewReader(out))
	if _, err := c.cmd("USER " + j.srv.user); err != nil && !strings.HasPrefix(err.Error(), "331") {
		c.close()
		return nil, err
	}
	for _, l := range []string{"PASS " + j.srv.pass, "TYPE I", "PBSZ 0", "PROT P"} {
		if _, err := c.cmd(l); err != nil {
			c.close()
			return nil, fmt.Errorf("%s: %v", strings.Fields(l)[0], err)
		}
	}
	// The session file exists once the session is complete: at the end
	// of a TLS 1.2 handshake, and when the TLS 1.3 ticket that came with
	// the first reply has been read.
	if fi, err := os.Stat(sess); err != nil || fi.Size() == 0 {
		c.close()
		return nil, fmt.Errorf("s_client saved no session after login (%v)", err)
	}
	return c, nil
}

// cmd sends a command and reads its reply; a reply that is not 2xx is the
// error.
func (c *rcSCControl) cmd(line string) (string, error) {
	shown := line
	if strings.HasPrefix(line, "PASS ") {
		shown = "PASS ****"
	}
	fmt.Fprintf(c.log, "> %s\n", shown)
	if _, err := io.WriteString(c.in, line+"\r\n"); err != nil {
		return "", err
	}
	return c.reply()
}

func (c *rcSCControl) reply() (string, error) {
	code, msg, err := c.r.ReadResponse(0)
	fmt.Fprintf(c.log, "< %d %s\n", code, msg)
	if err != nil {
		if code == 0 {
			return "", fmt.Errorf("control connection: %v (s_client: %s)", err, strings.TrimSpace(c.stderr.String()))
		}
		return "", err
	}
	if code/100 != 2 {
		return "", fmt.Errorf("%d %s", code, msg)
	}
	return msg, nil
}

var pasvReply = regexp.MustCompile(`\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)`)

// transfer runs one data command: PASV, the command, a data s_client that
// resumes the control session, and the final reply. With upload set the
// data client sends it and closes; otherwise it returns what it read.
func (c *rcSCControl) transfer(command string, upload io.Reader) ([]byte, error) {
	msg, err := c.cmd("PASV")
	if err != nil {
		return nil, err
	}
	m := pasvReply.FindStringSubmatch(msg)
	if m == nil {
		return nil, fmt.Errorf("PASV reply %q", msg)
	}
	p1, _ := strconv.Atoi(m[5])
	p2, _ := strconv.Atoi(m[6])
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p1*256+p2))
	// Download: -quiet reads until the server closes. Upload: send stdin,
	// then close (-no_ign_eof), with no s_client commands in the data.
	args := append([]string{"s_client", "-connect", addr, "-sess_in", c.sess}, rcSCVersion(c.j.version)...)
	if upload == nil {
		args = append(args, "-quiet")
	} else {
		args = append(args, "-no_ign_eof", "-nocommands")
	}
	data := exec.CommandContext(c.ctx, c.openssl, args...)
	var got bytes.Buffer
	errs := &cliLog{}
	data.Stderr = errs
	data.WaitDelay = 10 * time.Second
	if upload != nil {
		data.Stdin = upload
		data.Stdout = io.Discard
	} else {
		data.Stdout = &got
	}
	fmt.Fprintf(c.log, "> %s\n", command)
	if _, err := io.WriteString(c.in, command+"\r\n"); err != nil {
		return nil, err
	}
	// The data connection is made after the command, as curl makes it:
	// ProFTPD accepts it before its 150 reply, ftpdtls after.
	if err := data.Start(); err != nil {
		return nil, err
	}
	dataDone := make(chan error, 1)
	go func() { dataDone <- data.Wait() }()
	code, msg, err := c.r.ReadResponse(0)
	fmt.Fprintf(c.log, "< %d %s\n", code, msg)
	if err != nil || code != 150 {
		data.Process.Kill()
		<-dataDone
		return nil, fmt.Errorf("%d %s (%v)", code, msg, err)
	}
	// The final reply comes once the data connection has closed; the
	// data s_client ends then too, or is ended.
	final, replyErr := c.reply()
	var dataErr error
	select {
	case dataErr = <-dataDone:
	case <-time.After(60 * time.Second):
		data.Process.Kill()
		dataErr = fmt.Errorf("still running 60 s after the final reply (killed: %v)", <-dataDone)
	}
	fmt.Fprintf(c.log, "  data s_client: %v\n", dataErr)
	if replyErr != nil {
		return nil, replyErr
	}
	if dataErr != nil {
		return nil, fmt.Errorf("data s_client: %v: %s (reply %q)", dataErr, rcLastLine(errs.String()), final)
	}
	return got.Bytes(), nil
}

// close ends the control s_client: QUIT makes the server close the
// connection, which ends s_client (-quiet ignores the end of its input);
// one that does not end is killed.
func (c *rcSCControl) close() {
	c.once.Do(func() {
		io.WriteString(c.in, "QUIT\r\n")
		c.in.Close()
		done := make(chan error, 1)
		go func() { done <- c.cmdp.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				fmt.Fprintf(c.log, "control s_client: %v\n", err)
			}
		case <-time.After(30 * time.Second):
			c.cmdp.Process.Kill()
			fmt.Fprintf(c.log, "control s_client did not end after QUIT: killed (%v)\n", <-done)
		}
	})
}
