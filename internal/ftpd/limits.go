package ftpd

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// Admission counts sessions against ProFTPD's connection limits. The
// daemon implements it across its processes; Limits implements it in one
// process.
type Admission interface {
	// Connect counts a new control connection, before the greeting
	// (MaxInstances, MaxConnectionsPerHost). A *Refusal refuses it.
	Connect(remote net.Addr) (release func(), err error)
	// Login counts the session of user, whose password was accepted,
	// before "230" (MaxClients, MaxClientsPerHost, MaxClientsPerUser:
	// ProFTPD counts logged-in sessions only). A *Refusal refuses it.
	Login(user string, remote net.Addr) (release func(), err error)
}

// Refusal is a limit that refuses a session: the client is sent Code Msg
// (nothing when Code is 0) and disconnected; Log goes to the system log.
type Refusal struct {
	Code int
	Msg  string
	Log  string
}

func (r *Refusal) Error() string { return r.Log }

// Limits implements Admission in one process. Zero fields set no limit.
// The messages are ProFTPD's defaults unless set ("%m" is the limit), as
// the directives' optional message argument sets them.
type Limits struct {
	MaxInstances          int
	MaxConnectionsPerHost int
	MaxClients            int
	MaxClientsPerHost     int
	MaxClientsPerUser     int

	MaxConnectionsPerHostMsg string
	MaxClientsMsg            string
	MaxClientsPerHostMsg     string
	MaxClientsPerUserMsg     string

	mu        sync.Mutex
	conns     int
	connsHost map[string]int
	clients   int
	perHost   map[string]int
	perUser   map[string]int
}

// ProFTPD's default messages of the limits.
const (
	MsgMaxConnectionsPerHost = "Sorry, the maximum number of connections (%m) for your host are already connected."
	MsgMaxClients            = "Sorry, the maximum number of allowed clients (%m) are already connected."
	MsgMaxClientsPerHost     = "Sorry, the maximum number of clients (%m) from your host are already connected."
	MsgMaxClientsPerUser     = "Sorry, the maximum number of clients (%m) for this user are already connected."
)

func limitMsg(msg, def string, max int) string {
	if msg == "" {
		msg = def
	}
	return strings.ReplaceAll(msg, "%m", strconv.Itoa(max))
}

func (l *Limits) Connect(remote net.Addr) (func(), error) {
	host := hostOf(remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.MaxInstances > 0 && l.conns >= l.MaxInstances {
		return nil, &Refusal{Log: fmt.Sprintf("MaxInstances (%d) reached, new connection denied", l.MaxInstances)}
	}
	if l.connsHost == nil {
		l.connsHost = map[string]int{}
	}
	if l.MaxConnectionsPerHost > 0 && l.connsHost[host] >= l.MaxConnectionsPerHost {
		return nil, &Refusal{Code: 530,
			Msg: limitMsg(l.MaxConnectionsPerHostMsg, MsgMaxConnectionsPerHost, l.MaxConnectionsPerHost),
			Log: fmt.Sprintf("Connection refused (MaxConnectionsPerHost %d)", l.MaxConnectionsPerHost)}
	}
	l.conns++
	l.connsHost[host]++
	return l.once(func() {
		l.conns--
		if l.connsHost[host]--; l.connsHost[host] == 0 {
			delete(l.connsHost, host)
		}
	}), nil
}

func (l *Limits) Login(user string, remote net.Addr) (func(), error) {
	host := hostOf(remote)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perHost == nil {
		l.perHost, l.perUser = map[string]int{}, map[string]int{}
	}
	// ProFTPD counts this session among the connected ones, and refuses
	// when the count exceeds the limit; the order of its checks.
	switch {
	case l.MaxClientsPerHost > 0 && l.perHost[host]+1 > l.MaxClientsPerHost:
		return nil, &Refusal{Code: 530,
			Msg: limitMsg(l.MaxClientsPerHostMsg, MsgMaxClientsPerHost, l.MaxClientsPerHost),
			Log: fmt.Sprintf("Connection refused (MaxClientsPerHost %d)", l.MaxClientsPerHost)}
	case l.MaxClientsPerUser > 0 && l.perUser[user]+1 > l.MaxClientsPerUser:
		return nil, &Refusal{Code: 530,
			Msg: limitMsg(l.MaxClientsPerUserMsg, MsgMaxClientsPerUser, l.MaxClientsPerUser),
			Log: fmt.Sprintf("Connection refused (MaxClientsPerUser %d)", l.MaxClientsPerUser)}
	case l.MaxClients > 0 && l.clients+1 > l.MaxClients:
		return nil, &Refusal{Code: 530,
			Msg: limitMsg(l.MaxClientsMsg, MsgMaxClients, l.MaxClients),
			Log: fmt.Sprintf("Connection refused (MaxClients %d)", l.MaxClients)}
	}
	l.clients++
	l.perHost[host]++
	l.perUser[user]++
	return l.once(func() {
		l.clients--
		if l.perHost[host]--; l.perHost[host] == 0 {
			delete(l.perHost, host)
		}
		if l.perUser[user]--; l.perUser[user] == 0 {
			delete(l.perUser, user)
		}
	}), nil
}

// once makes a release function that takes the lock and runs f once.
func (l *Limits) once(f func()) func() {
	var o sync.Once
	return func() {
		o.Do(func() {
			l.mu.Lock()
			f()
			l.mu.Unlock()
		})
	}
}
