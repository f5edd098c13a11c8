package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
)

// The servers of the end-to-end group: their configurations, start and
// stop, and the removal of what they leave.

// ftpServer is one server under test.
type ftpServer struct {
	name      string
	addr      string
	cmd       *exec.Cmd
	log       *os.File
	cacheInfo func() (string, error) // the cache's status text

	// What was measured besides the rates.
	idleRSS, idleLatency float64 // KiB before the runs; ms of one idle session
	hits, misses, stored int     // cache counters after the runs
	cacheErr             error
}

// e2eSetup is what both servers share.
type e2eSetup struct {
	dir, home          string
	certFile, keyFile  string
	user, pass         string
	passwd             string
	client             *tls.Config // verifying, without a session cache
	proftpdSessionFile string
}

// prepare writes the certificate, the user file and the served directory.
func (s *e2eSetup) prepare(p *pki) error {
	s.home = filepath.Join(s.dir, "ftp")
	if err := os.MkdirAll(s.home, 0o755); err != nil {
		return err
	}
	// ProFTPD's session processes run as nobody: the run's directories
	// must be searchable (the temporary directory above them is).
	for _, d := range []string{filepath.Dir(s.dir), s.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			return err
		}
	}
	for i := 0; i < 10; i++ {
		if err := os.WriteFile(filepath.Join(s.home, fmt.Sprintf("file%02d.txt", i)), bytes.Repeat([]byte("x"), 100*(i+1)), 0o644); err != nil {
			return err
		}
	}
	var err error
	if s.certFile, s.keyFile, err = writePEM(s.dir, "server", p.server["ecdsa"]); err != nil {
		return err
	}
	line, err := authfile.Line(s.user, s.pass, s.home)
	if err != nil {
		return err
	}
	s.passwd = filepath.Join(s.dir, "ftpd.passwd")
	if err := os.WriteFile(s.passwd, []byte(line+"\n"), 0o600); err != nil { // ProFTPD refuses a world-readable one
		return err
	}
	s.client = &tls.Config{RootCAs: p.pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts connections or the process exits.
func waitListening(ctx context.Context, addr string, cmd *exec.Cmd, exited <-chan struct{}) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before listening", filepath.Base(cmd.Path))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not listen on %s", filepath.Base(cmd.Path), addr)
}

func startLogged(name string, logPath string, args ...string) (*exec.Cmd, *os.File, <-chan struct{}, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group: a ^C to the bench does not reach it before
	// the bench has stopped it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, nil, nil, err
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	return cmd, log, exited, nil
}

func (r *runner) startProFTPD(ctx context.Context, s *e2eSetup, pasv int) (*ftpServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, "proftpd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s.proftpdSessionFile = filepath.Join(dir, "sess_cache")
	sock := filepath.Join(dir, "ctrls.sock")
	conf := fmt.Sprintf(`ServerName "ProFTPD bench"
ServerType standalone
DefaultServer on
Port %[1]d
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
User nobody
Group nogroup
PidFile %[2]s/proftpd.pid
ScoreboardFile %[2]s/proftpd.scoreboard
DelayTable %[2]s/proftpd.delay
WtmpLog off
TransferLog none
UseReverseDNS off
MaxInstances 500
<IfModule mod_delay.c>
  DelayEngine off
</IfModule>
<IfModule mod_ident.c>
  IdentLookups off
</IfModule>
ModulePath %[3]s
LoadModule mod_ctrls_admin.c
LoadModule mod_tls.c
LoadModule mod_tls_shmcache.c
ControlsEngine on
ControlsInterval 1
ControlsSocket %[4]s
ControlsACLs all allow user root
AuthOrder mod_auth_file.c
AuthUserFile %[5]s
RequireValidShell off
DefaultRoot ~
PassivePorts %[6]d %[7]d
TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %[8]s
TLSECCertificateKeyFile %[9]s
TLSSessionCache shm:/file=%[10]s 1800
TLSControlsACLs all allow user root
`, port, dir, proftpdModules, sock, s.passwd, pasv, pasv+99, s.certFile, s.keyFile, s.proftpdSessionFile)
	path := filepath.Join(dir, "proftpd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd, log, exited, err := startLogged(r.o.E2E.Proftpd, filepath.Join(dir, "proftpd.log"), "-n", "-c", path)
	if err != nil {
		return nil, err
	}
	srv := &ftpServer{name: "ProFTPD", addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, log: log}
	srv.cacheInfo = func() (string, error) {
		out, err := exec.Command(r.o.E2E.Ftpdctl, "-s", sock, "tls", "sesscache", "info").CombinedOutput()
		return strings.ReplaceAll(string(out), "ftpdctl: ", ""), err
	}
	if err := waitListening(ctx, srv.addr, cmd, exited); err != nil {
		b, _ := os.ReadFile(log.Name())
		return srv, fmt.Errorf("%w:\n%s", err, b)
	}
	return srv, nil
}

// stopProFTPD stops the daemon (SIGTERM: it removes its segments) and
// removes its session segment if it is still there (SIGKILL, a crash).
func (r *runner) stopProFTPD(srv *ftpServer, s *e2eSetup) {
	var key int
	var st unix.Stat_t
	if unix.Stat(s.proftpdSessionFile, &st) == nil {
		// ProFTPD's key: ftok(file, 247), see the spec.
		key = int(int32(uint32(247)<<24 | uint32(st.Dev&0xff)<<16 | uint32(st.Ino&0xffff)))
	}
	stopProcess(srv.cmd)
	srv.log.Close()
	if key == 0 {
		return
	}
	seg := Segment{Kind: "proftpd-session", Info: "/file=" + s.proftpdSessionFile}
	if id, err := unix.SysvShmGet(key, 0, 0); err == nil {
		seg.ShmID = id
		var d unix.SysvShmDesc
		if _, err := unix.SysvShmCtl(id, unix.IPC_STAT, &d); err == nil && int(d.Cpid) == srv.cmd.Process.Pid {
			seg.Bytes = int64(d.Segsz)
			unix.SysvShmCtl(id, unix.IPC_RMID, nil)
			r.prog.printf("removed ProFTPD's session segment ID %d left after its shutdown", id)
		}
	}
	r.segs.mu.Lock()
	r.segs.made = append(r.segs.made, seg)
	r.segs.mu.Unlock()
}

// stopProcess sends SIGTERM to the process group and waits up to 15 s
// before killing it.
func stopProcess(cmd *exec.Cmd) {
	pgid := cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
	time.Sleep(100 * time.Millisecond)
}

func (r *runner) startServe(ctx context.Context, s *e2eSetup, pasv, workers int) (*ftpServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.dir, fmt.Sprintf("ftpdtls-%d", workers))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	// The segment is made here, so that it is tracked and removed
	// whatever happens to the daemon (ftpdtls keeps its segments when it
	// stops, so that sessions survive restarts).
	sc, info, err := r.segs.session(0)
	if err != nil {
		return nil, err
	}
	sc.Close()
	conf := fmt.Sprintf(`ServerName "ftpdtls bench"
DefaultAddress 127.0.0.1
Port %[1]d
AuthUserFile %[2]s
PassivePorts %[3]d %[4]d
TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %[5]s
TLSECCertificateKeyFile %[6]s
TLSSessionCache shm:%[7]s 1800
`, port, s.passwd, pasv, pasv+99, s.certFile, s.keyFile, info)
	path := filepath.Join(dir, "ftpdtls.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	args := []string{"serve", "-c", path}
	if workers > 0 {
		args = append(args, "-workers", strconv.Itoa(workers))
	}
	cmd, log, exited, err := startLogged(r.o.E2E.FTPDTLS, filepath.Join(dir, "serve.log"), args...)
	if err != nil {
		return nil, err
	}
	name := "ftpdtls serve"
	if workers > 0 {
		name += fmt.Sprintf(" -workers %d", workers)
	}
	srv := &ftpServer{name: name, addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, log: log}
	srv.cacheInfo = func() (string, error) {
		out, err := exec.Command(r.o.E2E.FTPDTLS, "sesscache", "-c", path, "info").CombinedOutput()
		return string(out), err
	}
	if err := waitListening(ctx, srv.addr, cmd, exited); err != nil {
		b, _ := os.ReadFile(log.Name())
		return srv, fmt.Errorf("%w:\n%s", err, b)
	}
	return srv, nil
}

func (r *runner) stopServe(srv *ftpServer) {
	stopProcess(srv.cmd)
	srv.log.Close()
}
