package privsep

// The master channel joins a worker to the master: a socketpair made by
// the master, whose worker end is the worker's file descriptor 3. The
// master hands accepted connections to the worker, checks passwords and
// counts sessions against the limits; the worker says when it is ready,
// when a counted session ends and when a connection ends. Requests (Login,
// Admit) carry a non-zero id, which their reply repeats; other records
// use id 0.
//
//	type  name        direction  descriptor
//	1     Ready       W -> M     -
//	2     Fatal       W -> M     -
//	3     NewConn     M -> W     the accepted TCP connection
//	4     Login       W -> M     -
//	5     LoginReply  M -> W     the session channel to the user's broker, or none
//	6     Closed      W -> M     -
//	7     Drain       M -> W     -
//	8     Shutdown    M -> W     -
//	9     Admit       W -> M     -
//	10    AdmitReply  M -> W     -
//	11    Release     W -> M     -

// Record types of the master channel.
const (
	TypeReady      = 1
	TypeFatal      = 2
	TypeNewConn    = 3
	TypeLogin      = 4
	TypeLoginReply = 5
	TypeClosed     = 6
	TypeDrain      = 7
	TypeShutdown   = 8
	TypeAdmit      = 9
	TypeAdmitReply = 10
	TypeRelease    = 11
)

// Ready: the worker has loaded its configuration, dropped its privileges
// for good, and serves.
//
//	struct {
//	    uint32 pid;
//	} Ready;
type Ready struct{ PID uint32 }

func (*Ready) Type() uint8         { return TypeReady }
func (m *Ready) encode(e *encoder) { e.u32(m.PID) }
func (m *Ready) decode(d *decoder) { m.PID = d.u32() }

// Fatal: the worker cannot start; it exits after sending this. The master
// stops with this error when the worker belongs to the first generation.
//
//	struct {
//	    string<MaxText> error;
//	} Fatal;
type Fatal struct{ Err string }

func (*Fatal) Type() uint8         { return TypeFatal }
func (m *Fatal) encode(e *encoder) { e.str(Truncate(m.Err, MaxText), MaxText) }
func (m *Fatal) decode(d *decoder) { m.Err = d.str(MaxText) }

// NewConn hands an accepted control connection to the worker, with its
// descriptor. Conn names it in Login and Closed.
//
//	struct {
//	    uint64 conn;
//	    string<MaxAddr> remote;  // "ip:port" as accepted
//	    string<MaxAddr> local;
//	} NewConn;
type NewConn struct {
	Conn          uint64
	Remote, Local string
}

func (*NewConn) Type() uint8 { return TypeNewConn }
func (m *NewConn) encode(e *encoder) {
	e.u64(m.Conn)
	e.str(m.Remote, MaxAddr)
	e.str(m.Local, MaxAddr)
}
func (m *NewConn) decode(d *decoder) {
	m.Conn = d.u64()
	m.Remote = d.str(MaxAddr)
	m.Local = d.str(MaxAddr)
}

// Login asks the master to check a password (USER and PASS) and open the
// session. Remote is the client as the worker sees it (after the PROXY
// protocol, if configured): <Limit>-style decisions (DefaultRoot with
// group expressions) are the master's.
//
//	struct {
//	    string<MaxName> user;
//	    string<MaxPassword> password;
//	    string<MaxAddr> remote;
//	    string<MaxAddr> local;
//	} Login;
type Login struct {
	User, Password string
	Remote, Local  string
}

func (*Login) Type() uint8 { return TypeLogin }
func (m *Login) encode(e *encoder) {
	e.str(m.User, MaxName)
	e.str(m.Password, MaxPassword)
	e.str(m.Remote, MaxAddr)
	e.str(m.Local, MaxAddr)
}
func (m *Login) decode(d *decoder) {
	m.User = d.str(MaxName)
	m.Password = d.str(MaxPassword)
	m.Remote = d.str(MaxAddr)
	m.Local = d.str(MaxAddr)
}

// Login outcomes.
const (
	// LoginOK: the account follows; the record carries the session
	// channel to the user's broker (none when the master runs without
	// privileges and the worker opens the files itself).
	LoginOK = 0
	// LoginIncorrect: unknown user, wrong password, or an account that
	// may not log in: "530 Login incorrect."; Reply says why, for the
	// worker's log.
	LoginIncorrect = 1
	// LoginNoRoot: the password was right but the session root
	// (DefaultRoot) cannot be used: "530 Login incorrect." and the
	// connection ends, as ProFTPD ends the session; the master has logged
	// why.
	LoginNoRoot = 2
)

// LoginReply answers a Login.
//
//	struct {
//	    uint8 status;                            // LoginOK, LoginIncorrect, LoginNoRoot
//	    string<MaxText> reply;                   // not LoginOK: why, for the log
//	    string<MaxName> user;                    // LoginOK: the account
//	    uint32 uid;
//	    uint32 gid;
//	    list<MaxGroups, string<MaxName>> groups; // primary first
//	    string<MaxPath> home;                    // real path
//	    string<MaxPath> root;                    // real path of the session root
//	    string<MaxPath> cwd;                     // in the session's view
//	} LoginReply;
type LoginReply struct {
	Status   uint8
	Reply    string
	User     string
	Uid, Gid uint32
	Groups   []string
	Home     string
	Root     string
	Cwd      string
}

func (*LoginReply) Type() uint8 { return TypeLoginReply }
func (m *LoginReply) encode(e *encoder) {
	e.u8(m.Status)
	e.str(Truncate(m.Reply, MaxText), MaxText)
	e.str(m.User, MaxName)
	e.u32(m.Uid)
	e.u32(m.Gid)
	e.strs(m.Groups, MaxGroups, MaxName)
	e.str(m.Home, MaxPath)
	e.str(m.Root, MaxPath)
	e.str(m.Cwd, MaxPath)
}
func (m *LoginReply) decode(d *decoder) {
	m.Status = d.u8()
	if m.Status > LoginNoRoot {
		d.fail("login status %d", m.Status)
	}
	m.Reply = d.str(MaxText)
	m.User = d.str(MaxName)
	m.Uid = d.u32()
	m.Gid = d.u32()
	m.Groups = d.strs(MaxGroups, MaxName)
	m.Home = d.str(MaxPath)
	m.Root = d.str(MaxPath)
	m.Cwd = d.str(MaxPath)
}

// Closed: connection Conn has ended (or its descriptor never arrived).
//
//	struct {
//	    uint64 conn;
//	} Closed;
type Closed struct{ Conn uint64 }

func (*Closed) Type() uint8         { return TypeClosed }
func (m *Closed) encode(e *encoder) { e.u64(m.Conn) }
func (m *Closed) decode(d *decoder) { m.Conn = d.u64() }

// Drain: a newer generation serves; the worker gets no more connections
// and exits when its sessions have ended.
//
//	struct {} Drain;
type Drain struct{}

func (*Drain) Type() uint8       { return TypeDrain }
func (*Drain) encode(e *encoder) {}
func (*Drain) decode(d *decoder) {}

// Shutdown: the daemon stops. Transfers are aborted (426) and sessions
// closed; the worker exits within grace.
//
//	struct {
//	    uint32 grace_ms;
//	} Shutdown;
type Shutdown struct{ GraceMillis uint32 }

func (*Shutdown) Type() uint8         { return TypeShutdown }
func (m *Shutdown) encode(e *encoder) { e.u32(m.GraceMillis) }
func (m *Shutdown) decode(d *decoder) { m.GraceMillis = d.u32() }

// What an Admit counts.
const (
	// AdmitConnect: a connection, before the greeting
	// (MaxConnectionsPerHost; MaxInstances the master counts itself when
	// it accepts).
	AdmitConnect = 1
	// AdmitLogin: a session whose password was accepted, before "230"
	// (MaxClients, MaxClientsPerHost, MaxClientsPerUser, MaxHostsPerUser).
	AdmitLogin = 2
)

// Admit asks the master to count a connection or a session against the
// limits, which hold across all workers.
//
//	struct {
//	    uint8 kind;                // AdmitConnect, AdmitLogin
//	    string<MaxName> user;      // AdmitLogin
//	    string<MaxAddr> remote;    // the client, after the PROXY protocol
//	} Admit;
type Admit struct {
	Kind   uint8
	User   string
	Remote string
}

func (*Admit) Type() uint8 { return TypeAdmit }
func (m *Admit) encode(e *encoder) {
	e.u8(m.Kind)
	e.str(m.User, MaxName)
	e.str(m.Remote, MaxAddr)
}
func (m *Admit) decode(d *decoder) {
	m.Kind = d.u8()
	if m.Kind != AdmitConnect && m.Kind != AdmitLogin {
		d.fail("admit kind %d", m.Kind)
	}
	m.User = d.str(MaxName)
	m.Remote = d.str(MaxAddr)
}

// AdmitReply answers an Admit: a non-zero ticket admits (Release gives
// it back when the session ends); otherwise a limit refuses, and the
// client gets "code msg" (nothing when code is 0) and is disconnected.
//
//	struct {
//	    uint64 ticket;
//	    uint32 code;
//	    string<MaxText> msg;
//	    string<MaxText> log;       // the refusal, as ProFTPD logs it
//	} AdmitReply;
type AdmitReply struct {
	Ticket uint64
	Code   uint32
	Msg    string
	Log    string
}

func (*AdmitReply) Type() uint8 { return TypeAdmitReply }
func (m *AdmitReply) encode(e *encoder) {
	e.u64(m.Ticket)
	e.u32(m.Code)
	e.str(Truncate(m.Msg, MaxText), MaxText)
	e.str(Truncate(m.Log, MaxText), MaxText)
}
func (m *AdmitReply) decode(d *decoder) {
	m.Ticket = d.u64()
	m.Code = d.u32()
	if m.Code > 999 {
		d.fail("reply code %d", m.Code)
	}
	m.Msg = d.str(MaxText)
	m.Log = d.str(MaxText)
}

// Release gives back what an admitted ticket counted: the session ended.
//
//	struct {
//	    uint64 ticket;
//	} Release;
type Release struct{ Ticket uint64 }

func (*Release) Type() uint8         { return TypeRelease }
func (m *Release) encode(e *encoder) { e.u64(m.Ticket) }
func (m *Release) decode(d *decoder) { m.Ticket = d.u64() }

// Truncate cuts s to at most n bytes, for texts (errors) that may be
// longer than their field allows.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
