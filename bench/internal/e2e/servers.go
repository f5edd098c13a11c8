package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/authfile"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
)

// The servers run side by side on 127.0.0.1 with the same settings:
//
//   - one ECDSA P-256 certificate (self-signed, localhost and 127.0.0.1);
//   - TLS 1.2 and 1.3, explicit FTPS (AUTH TLS) required for the login and
//     for data connections;
//   - data connections must resume the control connection's TLS session
//     where the server can require it (ProFTPD's and ftpdtls's default,
//     vsftpd's require_ssl_reuse=YES; pure-ftpd cannot require it);
//   - one user, a system account made for the run, with the same $6$
//     SHA-512-crypt hash (5,000 rounds) in /etc/shadow (vsftpd checks it
//     through PAM), in an AuthUserFile (ProFTPD, ftpdtls) and in a PureDB
//     made by pure-pw mkdb (pure-ftpd); every server serves its home as
//     the session's root (chroot);
//   - passive ports of their own, no reverse DNS, no transfer log.

// User is the system account the run makes (and removes).
const User = "ftpdtlsbench"

// userComment marks the account as the bench's, so that a run can remove
// one a killed run left, and never another account of that name.
const userComment = "ftpdtls bench (temporary)"

// setup is what every server shares.
type setup struct {
	dir        string // 0755, removed at the end
	home       string // the user's home: their root on every server
	certFile   string
	keyFile    string
	cert       *testpki.Cert
	pass, hash string
	uid, gid   int
	pamService string
	bigFile    string // the download of the throughput runs
	bigSize    int64
}

// newSetup makes the directory, the certificate, the user and the served
// files. undo removes what it made, also when it fails half way.
func newSetup(base string, bigSize int64) (s *setup, undo func(), err error) {
	var undos []func()
	undo = func() {
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
	}
	defer func() {
		if err != nil {
			undo()
		}
	}()
	dir, err := os.MkdirTemp(base, "ftpdtls-e2e-")
	if err != nil {
		return nil, undo, err
	}
	undos = append(undos, func() { os.RemoveAll(dir) })
	// The servers' unprivileged processes (nobody, the user) must reach
	// the configuration and the home.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, undo, err
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			return nil, undo, fmt.Errorf("%s is not searchable by other users, as the servers' unprivileged processes need: "+
				"use another -tmp directory", d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	s = &setup{dir: dir, home: filepath.Join(dir, "home"), pass: authfile.RandomString(16), bigSize: bigSize}
	if s.hash, err = authfile.SHA512Crypt(s.pass, "$6$"+authfile.RandomString(16)); err != nil {
		return nil, undo, err
	}
	s.cert = testpki.SelfSigned(testpki.ECDSA)
	s.certFile, s.keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(s.certFile, s.cert.CertPEM(), 0o644); err != nil {
		return nil, undo, err
	}
	if err := os.WriteFile(s.keyFile, s.cert.KeyPEM(), 0o600); err != nil {
		return nil, undo, err
	}
	if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil { // vsftpd's secure_chroot_dir
		return nil, undo, err
	}
	removeUser, err := s.makeUser()
	if err != nil {
		return nil, undo, err
	}
	undos = append(undos, removeUser)
	s.pamService = fmt.Sprintf("ftpdtls-bench-%d", os.Getpid())
	pam := "/etc/pam.d/" + s.pamService
	if err := os.WriteFile(pam, []byte("# ftpdtls bench (temporary): vsftpd checks the password in /etc/shadow\n"+
		"auth required pam_unix.so\naccount required pam_unix.so\nsession required pam_permit.so\n"), 0o644); err != nil {
		return nil, undo, err
	}
	undos = append(undos, func() { os.Remove(pam) })
	if err := s.makeHome(); err != nil {
		return nil, undo, err
	}
	return s, undo, nil
}

// makeUser adds the system account with the run's hash.
func (s *setup) makeUser() (func(), error) {
	if u, err := user.Lookup(User); err == nil {
		if !strings.HasPrefix(u.Name, userComment) {
			return nil, fmt.Errorf("a user %q exists that the bench did not make (%q): remove it or rename it", User, u.Name)
		}
		if out, err := exec.Command("userdel", User).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("removing the user a previous run left: userdel: %v: %s", err, out)
		}
	}
	out, err := exec.Command("useradd", "-M", "-U", "-c", userComment, "-d", s.home, "-s", "/usr/sbin/nologin",
		"-p", s.hash, User).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("useradd: %v: %s", err, out)
	}
	undo := func() { exec.Command("userdel", User).Run() }
	u, err := user.Lookup(User)
	if err != nil {
		undo()
		return nil, err
	}
	s.uid, _ = strconv.Atoi(u.Uid)
	s.gid, _ = strconv.Atoi(u.Gid)
	return undo, nil
}

// makeHome writes the served files: ten small ones (what LIST shows) and
// the download of the throughput runs.
func (s *setup) makeHome() error {
	if err := os.Mkdir(s.home, 0o755); err != nil {
		return err
	}
	for i := 0; i < 10; i++ {
		name := filepath.Join(s.home, fmt.Sprintf("file%02d.txt", i))
		if err := os.WriteFile(name, []byte(strings.Repeat("x", 100*(i+1))), 0o644); err != nil {
			return err
		}
	}
	if s.bigSize > 0 {
		s.bigFile = filepath.Join(s.home, "big.bin")
		if err := writeRandom(s.bigFile, s.bigSize); err != nil {
			return err
		}
	}
	return filepath.Walk(s.home, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, s.uid, s.gid)
	})
}

// writeRandom writes n pseudo-random bytes (incompressible, unlike the
// zeros of a sparse file) to name.
func writeRandom(name string, n int64) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	buf := make([]byte, 1<<20)
	for left := n; left > 0; {
		r.Read(buf)
		k := min(left, int64(len(buf)))
		if _, err := w.Write(buf[:k]); err != nil {
			f.Close()
			return err
		}
		left -= k
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// server is one daemon under test.
type server struct {
	name string // as the table shows it
	kind string // ftpdtls, proftpd, vsftpd, pure-ftpd
	// reuse says whether the server requires data connections to resume
	// the control connection's TLS session.
	reuse   string
	addr    string
	dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
	cpu     cpuMeter
	cleanup []func() // after the process ended
}

// serverSpec says how to start one server: its argv, environment and
// the files it needs, written by prepare.
type serverSpec struct {
	name, kind, reuse string
	env               []string // added to the server's environment
	user              bool     // runs as the user, not root
	prepare           func(s *setup, dir string, port, pasv int) (argv, env []string, err error)
	// after runs once the server stopped (removing what it leaves).
	after func(s *setup, dir string)
}

// ftpdtlsSpec is `ftpdtls serve -workers N` started as root (a master,
// N workers, the user's broker), or with workers 0 `ftpdtls serve
// -workers 0` started as the user: one process, no privilege separation.
func ftpdtlsSpec(bin string, workers int) serverSpec {
	name := "ftpdtls serve"
	switch {
	case workers == 0:
		name += " (one process, as the user)"
	case workers > 1:
		name += fmt.Sprintf(" -workers %d", workers)
	}
	conf := func(dir string) string { return filepath.Join(dir, "proftpd.conf") }
	return serverSpec{
		name: name, kind: "ftpdtls", reuse: "required (default)", user: workers == 0,
		prepare: func(s *setup, dir string, port, pasv int) ([]string, []string, error) {
			line := fmt.Sprintf("%s:%s:%d:%d:%s:%s:/usr/sbin/nologin\n", User, s.hash, s.uid, s.gid, userComment, s.home)
			passwd := filepath.Join(dir, "ftpd.passwd")
			if err := os.WriteFile(passwd, []byte(line), 0o600); err != nil {
				return nil, nil, err
			}
			text := fmt.Sprintf(`ServerName "ftpdtls bench"
DefaultAddress 127.0.0.1
Port %d
AuthUserFile %s
RequireValidShell off
DefaultRoot ~
PassivePorts %d %d
MaxInstances 500
TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %s
TLSECCertificateKeyFile %s
TLSSessionCache shm:/file=%s/sesscache 1800
`, port, passwd, pasv, pasv+99, s.certFile, s.keyFile, dir)
			if err := os.WriteFile(conf(dir), []byte(text), 0o644); err != nil {
				return nil, nil, err
			}
			if workers == 0 {
				// Not root: the files it reads must be the user's.
				key := filepath.Join(dir, "key.pem")
				if err := os.WriteFile(key, s.cert.KeyPEM(), 0o600); err != nil {
					return nil, nil, err
				}
				text = strings.Replace(text, "TLSECCertificateKeyFile "+s.keyFile, "TLSECCertificateKeyFile "+key, 1)
				if err := os.WriteFile(conf(dir), []byte(text), 0o644); err != nil {
					return nil, nil, err
				}
				for _, f := range []string{passwd, key, conf(dir)} {
					if err := os.Chown(f, s.uid, s.gid); err != nil {
						return nil, nil, err
					}
				}
			}
			return []string{bin, "serve", "-c", conf(dir), "-workers", strconv.Itoa(workers)}, nil, nil
		},
		// ftpdtls keeps its segments when it stops (sessions survive a
		// restart); the bench's must go.
		after: func(s *setup, dir string) {
			exec.Command(bin, "sesscache", "-c", conf(dir), "remove").Run()
		},
	}
}

func proftpdSpec(bin string) serverSpec {
	return serverSpec{
		name: "ProFTPD", kind: "proftpd", reuse: "required (default)",
		prepare: func(s *setup, dir string, port, pasv int) ([]string, []string, error) {
			line := fmt.Sprintf("%s:%s:%d:%d:%s:%s:/usr/sbin/nologin\n", User, s.hash, s.uid, s.gid, userComment, s.home)
			passwd := filepath.Join(dir, "ftpd.passwd")
			if err := os.WriteFile(passwd, []byte(line), 0o600); err != nil { // ProFTPD refuses a world-readable one
				return nil, nil, err
			}
			text := fmt.Sprintf(`ServerName "ProFTPD bench"
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
ModulePath /usr/lib/proftpd
LoadModule mod_tls.c
AuthOrder mod_auth_file.c
AuthUserFile %[3]s
RequireValidShell off
DefaultRoot ~
PassivePorts %[4]d %[5]d
TLSEngine on
TLSRequired on
TLSProtocol TLSv1.2 TLSv1.3
TLSECCertificateFile %[6]s
TLSECCertificateKeyFile %[7]s
`, port, dir, passwd, pasv, pasv+99, s.certFile, s.keyFile)
			conf := filepath.Join(dir, "proftpd.conf")
			if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
				return nil, nil, err
			}
			return []string{bin, "-n", "-c", conf}, nil, nil
		},
	}
}

func vsftpdSpec(p *Peers) serverSpec {
	return serverSpec{
		name: "vsftpd", kind: "vsftpd", reuse: "required (require_ssl_reuse=YES)",
		prepare: func(s *setup, dir string, port, pasv int) ([]string, []string, error) {
			text := fmt.Sprintf(`listen=YES
listen_address=127.0.0.1
listen_port=%d
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
pam_service_name=%s
seccomp_sandbox=NO
secure_chroot_dir=%s
nopriv_user=nobody
userlist_enable=NO
xferlog_enable=NO
dirmessage_enable=NO
pasv_enable=YES
pasv_min_port=%d
pasv_max_port=%d
max_clients=500
max_per_ip=500
ssl_enable=YES
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=NO
ssl_ciphers=HIGH
rsa_cert_file=%s
rsa_private_key_file=%s
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=YES
`, port, s.pamService, filepath.Join(s.dir, "empty"), pasv, pasv+99, s.certFile, s.keyFile)
			conf := filepath.Join(dir, "vsftpd.conf")
			if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
				return nil, nil, err
			}
			return []string{p.Vsftpd, conf}, p.env(), nil
		},
	}
}

func pureFTPdSpec(p *Peers) serverSpec {
	return serverSpec{
		name: "pure-ftpd", kind: "pure-ftpd", reuse: "not required (pure-ftpd cannot require it)",
		prepare: func(s *setup, dir string, port, pasv int) ([]string, []string, error) {
			// A PureDB user with the same hash, uid, gid and home (the
			// "/./" makes the home the session's root).
			line := fmt.Sprintf("%s:%s:%d:%d::%s/./::::::::::::\n", User, s.hash, s.uid, s.gid, s.home)
			passwd := filepath.Join(dir, "pureftpd.passwd")
			if err := os.WriteFile(passwd, []byte(line), 0o600); err != nil {
				return nil, nil, err
			}
			pdb := filepath.Join(dir, "pureftpd.pdb")
			mk := exec.Command(p.PurePw, "mkdb", pdb, "-f", passwd)
			mk.Env = p.env()
			if out, err := mk.CombinedOutput(); err != nil {
				return nil, nil, fmt.Errorf("pure-pw mkdb: %v: %s", err, out)
			}
			return []string{p.PureFTPd, "-S", fmt.Sprintf("127.0.0.1,%d", port), "-l", "puredb:" + pdb,
				"-Y", "3", "-2", s.certFile + "," + s.keyFile, "-p", fmt.Sprintf("%d:%d", pasv, pasv+99),
				"-E", "-A", "-H", "-c", "500", "-C", "500"}, p.env(), nil
		},
	}
}

// start prepares and starts one server and waits for its greeting.
func (sp serverSpec) start(ctx context.Context, s *setup, meterName string, pasv int) (*server, error) {
	dir := filepath.Join(s.dir, strings.ReplaceAll(sp.name, " ", "_")+"-"+meterName)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	if sp.user {
		// The one-process server runs as the user: its files are theirs.
		if err := os.Chown(dir, s.uid, s.gid); err != nil {
			return nil, err
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv, env, err := sp.prepare(s, dir, port, pasv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sp.name, err)
	}
	srv := &server{name: sp.name, kind: sp.kind, reuse: sp.reuse, dir: dir, addr: fmt.Sprintf("127.0.0.1:%d", port),
		exited: make(chan struct{})}
	if sp.after != nil {
		srv.cleanup = append(srv.cleanup, func() { sp.after(s, dir) })
	}
	srv.cpu = newCPUMeter(meterName, func() int {
		if srv.cmd == nil || srv.cmd.Process == nil {
			return 0
		}
		return srv.cmd.Process.Pid
	})
	srv.cleanup = append(srv.cleanup, func() { srv.cpu.Close() })
	if srv.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		return srv, err
	}
	if !sp.user {
		argv = srv.cpu.Wrap(argv)
	}
	srv.cmd = exec.Command(argv[0], argv[1:]...)
	if env == nil && len(sp.env) > 0 {
		env = os.Environ()
	}
	srv.cmd.Env = append(env, sp.env...)
	srv.cmd.Stdout, srv.cmd.Stderr = srv.log, srv.log
	// Its own process group: a ^C to the bench reaches it only through
	// the bench, which stops it in order.
	srv.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if sp.user {
		srv.cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(s.uid), Gid: uint32(s.gid)}
	}
	if err := srv.cmd.Start(); err != nil {
		return srv, fmt.Errorf("%s: %w", sp.name, err)
	}
	if sp.user {
		if err := srv.cpu.Adopt(srv.cmd.Process.Pid); err != nil {
			srv.cmd.Process.Kill()
			return srv, fmt.Errorf("%s: %w", sp.name, err)
		}
	}
	go func() {
		srv.cmd.Wait()
		close(srv.exited)
	}()
	if err := srv.waitGreeting(ctx); err != nil {
		b, _ := os.ReadFile(srv.log.Name())
		return srv, fmt.Errorf("%s: %w\n%s", sp.name, err, b)
	}
	return srv, nil
}

// waitGreeting waits until the server answers with its 220 greeting.
func (srv *server) waitGreeting(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", srv.addr, time.Second); err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "220") {
				return nil
			}
		}
		select {
		case <-srv.exited:
			return errors.New("exited before greeting")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("no greeting on %s within 30 s", srv.addr)
}

// stop ends the server (SIGTERM to its process group, SIGKILL after 15
// s) and removes what it left.
func (srv *server) stop() {
	if srv.cmd != nil && srv.cmd.Process != nil {
		pgid := srv.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-srv.exited:
		case <-time.After(15 * time.Second):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-srv.exited
		}
		// Session processes of the group that outlive their master.
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	if srv.log != nil {
		srv.log.Close()
	}
	for i := len(srv.cleanup) - 1; i >= 0; i-- {
		srv.cleanup[i]()
	}
}

// settle waits until the server runs no more processes than it did when
// idle (session processes ended and reaped), so that their CPU time is
// counted, and returns its CPU time then.
func (srv *server) settle(idle int) (time.Duration, error) {
	deadline := time.Now().Add(20 * time.Second)
	for len(srv.cpu.Pids()) > idle && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return srv.cpu.CPU()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
