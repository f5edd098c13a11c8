package daemon

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/ftpd"
)

// limitSettings are the main server's connection limits, ProFTPD's
// MaxInstances (mod_core) and mod_auth's Max* directives. Zero is "none",
// ProFTPD's default for all of them. A message, when the directive gives
// one, replaces ProFTPD's default text ("%m" is the limit).
type limitSettings struct {
	MaxInstances          int
	MaxConnectionsPerHost int
	MaxClients            int
	MaxClientsPerHost     int
	MaxClientsPerUser     int
	MaxHostsPerUser       int

	Msg map[string]string // by directive name
}

// ProFTPD's message of MaxHostsPerUser (the others are ftpd's).
const msgMaxHostsPerUser = "Sorry, the maximum number of hosts (%m) for this user are already connected."

// limitsOf reads the limits of the main server: the first line of each
// directive counts, as find_config finds it.
func limitsOf(dirs *directives.Config) (limitSettings, error) {
	main := dirs.Main
	ls := limitSettings{MaxInstances: main.MaxInstances, Msg: map[string]string{}}
	for _, d := range []struct {
		name string
		dst  *int
	}{
		{"MaxConnectionsPerHost", &ls.MaxConnectionsPerHost},
		{"MaxClients", &ls.MaxClients},
		{"MaxClientsPerHost", &ls.MaxClientsPerHost},
		{"MaxClientsPerUser", &ls.MaxClientsPerUser},
		{"MaxHostsPerUser", &ls.MaxHostsPerUser},
	} {
		nodes := main.Directives(d.name)
		if len(nodes) == 0 {
			continue
		}
		n := nodes[0]
		if len(n.Args) < 1 || len(n.Args) > 2 {
			return ls, &directives.Error{Directive: n.Name, File: n.File, Line: n.Line, Msg: "wrong number of parameters"}
		}
		if !strings.EqualFold(n.Args[0], "none") {
			v, err := strconv.Atoi(n.Args[0])
			if err != nil || v < 1 {
				return ls, &directives.Error{Directive: n.Name, File: n.File, Line: n.Line, Msg: "parameter must be 'none' or a number greater than 0"}
			}
			*d.dst = v
		}
		if len(n.Args) == 2 {
			ls.Msg[d.name] = n.Args[1]
		}
	}
	return ls, nil
}

func (ls *limitSettings) text(directive, def string, max int) string {
	msg := ls.Msg[directive]
	if msg == "" {
		msg = def
	}
	return strings.ReplaceAll(msg, "%m", strconv.Itoa(max))
}

// counter counts connections and logged-in sessions against the limits.
// The master keeps one for all its workers (so the limits hold across
// processes, as ProFTPD's scoreboard makes them hold across its
// children); a single-process server keeps one too. Each counted thing
// has a release function; release functions are idempotent.
type counter struct {
	mu  sync.Mutex
	set limitSettings

	instances int
	connsHost map[string]int
	clients   int
	perHost   map[string]int
	perUser   map[string]int
	userHosts map[string]map[string]int // user -> host -> sessions
}

func newCounter(set limitSettings) *counter {
	return &counter{set: set, connsHost: map[string]int{}, perHost: map[string]int{},
		perUser: map[string]int{}, userHosts: map[string]map[string]int{}}
}

// setLimits replaces the limits (a reload); what is counted stays.
func (c *counter) setLimits(set limitSettings) {
	c.mu.Lock()
	c.set = set
	c.mu.Unlock()
}

func (c *counter) limits() limitSettings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.set
}

// instance counts a new connection against MaxInstances. ProFTPD closes
// a connection beyond it without a word.
func (c *counter) instance() (func(), *ftpd.Refusal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if max := c.set.MaxInstances; max > 0 && c.instances >= max {
		return nil, &ftpd.Refusal{Log: fmt.Sprintf("MaxInstances (%d) reached, new connection denied", max)}
	}
	c.instances++
	return c.once(func() { c.instances-- }), nil
}

// connect counts a connection from host against MaxConnectionsPerHost.
func (c *counter) connect(host string) (func(), *ftpd.Refusal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if max := c.set.MaxConnectionsPerHost; max > 0 && c.connsHost[host]+1 > max {
		return nil, &ftpd.Refusal{Code: 530, Msg: c.set.text("MaxConnectionsPerHost", ftpd.MsgMaxConnectionsPerHost, max),
			Log: fmt.Sprintf("Connection refused (MaxConnectionsPerHost %d)", max)}
	}
	c.connsHost[host]++
	return c.once(func() { decr(c.connsHost, host) }), nil
}

// login counts the session of user from host, whose password was
// accepted. ProFTPD counts the session among the connected ones and
// refuses it when a count then exceeds its limit, checking
// MaxClientsPerHost, MaxClientsPerUser, MaxClients and MaxHostsPerUser in
// that order. MaxHostsPerUser counts, as ProFTPD does, this session plus
// the user's sessions from other hosts.
func (c *counter) login(user, host string) (func(), *ftpd.Refusal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &c.set
	hosts := 1
	for h, n := range c.userHosts[user] {
		if h != host {
			hosts += n
		}
	}
	switch {
	case s.MaxClientsPerHost > 0 && c.perHost[host]+1 > s.MaxClientsPerHost:
		return nil, &ftpd.Refusal{Code: 530, Msg: s.text("MaxClientsPerHost", ftpd.MsgMaxClientsPerHost, s.MaxClientsPerHost),
			Log: fmt.Sprintf("Connection refused (MaxClientsPerHost %d)", s.MaxClientsPerHost)}
	case s.MaxClientsPerUser > 0 && c.perUser[user]+1 > s.MaxClientsPerUser:
		return nil, &ftpd.Refusal{Code: 530, Msg: s.text("MaxClientsPerUser", ftpd.MsgMaxClientsPerUser, s.MaxClientsPerUser),
			Log: fmt.Sprintf("Connection refused (MaxClientsPerUser %d)", s.MaxClientsPerUser)}
	case s.MaxClients > 0 && c.clients+1 > s.MaxClients:
		return nil, &ftpd.Refusal{Code: 530, Msg: s.text("MaxClients", ftpd.MsgMaxClients, s.MaxClients),
			Log: fmt.Sprintf("Connection refused (MaxClients %d)", s.MaxClients)}
	case s.MaxHostsPerUser > 0 && hosts > s.MaxHostsPerUser:
		return nil, &ftpd.Refusal{Code: 530, Msg: s.text("MaxHostsPerUser", msgMaxHostsPerUser, s.MaxHostsPerUser),
			Log: fmt.Sprintf("Connection refused (MaxHostsPerUser %d)", s.MaxHostsPerUser)}
	}
	c.clients++
	c.perHost[host]++
	c.perUser[user]++
	if c.userHosts[user] == nil {
		c.userHosts[user] = map[string]int{}
	}
	c.userHosts[user][host]++
	return c.once(func() {
		c.clients--
		decr(c.perHost, host)
		decr(c.perUser, user)
		if decr(c.userHosts[user], host); len(c.userHosts[user]) == 0 {
			delete(c.userHosts, user)
		}
	}), nil
}

// counts returns the connections and logged-in sessions counted.
func (c *counter) counts() (instances, clients int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.instances, c.clients
}

func decr(m map[string]int, k string) {
	if m[k]--; m[k] <= 0 {
		delete(m, k)
	}
}

// once makes a release function that takes the lock and runs f once.
func (c *counter) once(f func()) func() {
	var o sync.Once
	return func() {
		o.Do(func() {
			c.mu.Lock()
			f()
			c.mu.Unlock()
		})
	}
}

// localAdmission is ftpd.Admission in a single process.
type localAdmission struct{ c *counter }

func (a localAdmission) Connect(remote net.Addr) (func(), error) {
	relInst, r := a.c.instance()
	if r != nil {
		return nil, r
	}
	relHost, r := a.c.connect(hostOf(remote))
	if r != nil {
		relInst()
		return nil, r
	}
	return func() { relHost(); relInst() }, nil
}

func (a localAdmission) Login(user string, remote net.Addr) (func(), error) {
	rel, r := a.c.login(user, hostOf(remote))
	if r != nil {
		return nil, r
	}
	return rel, nil
}

// hostOf is the IP address of "ip:port" (or the whole text).
func hostOf(a net.Addr) string {
	if a == nil {
		return "unknown"
	}
	return hostOfString(a.String())
}

func hostOfString(s string) string {
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}
