package modtls

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/ftpdtls/ftpdtls/trace"
)

// Session resumption. crypto/tls servers resume only from tickets (TLS
// 1.2 session tickets, TLS 1.3 PSK identities), never from a session id.
// modtls turns tickets into session ids: WrapSession stores the session
// state in the session cache under 32 random bytes and hands those bytes
// to the client as its ticket; UnwrapSession looks them up. That is
// ProFTPD's external session cache in Go's terms. With TLSSessionTickets
// on, tickets are instead the state itself, encrypted with in-memory keys
// (ticketKeys), and the cache is not consulted, as in mod_tls.
//
// Whatever goes wrong on lookup, UnwrapSession answers "no session", which
// makes crypto/tls do a full handshake; an error would abort it.

func (t *TLS) wrap(st *serverTLS, cs tls.ConnectionState, ss *tls.SessionState, tag []byte, rec *connState) ([]byte, error) {
	ss.Extra = append(ss.Extra, vhostExtra(st.sid))
	if tag != nil {
		ss.Extra = append(ss.Extra, controlExtra(tag))
	}
	if t.tickets != nil {
		if b, err := ss.Bytes(); err == nil && rec != nil {
			info, _ := DescribeSession(b)
			rec.mu.Lock()
			rec.created = info.Created
			rec.mu.Unlock()
		}
		t.counters.sessionsIssued.Add(1)
		return t.tickets.encrypt(cs, ss)
	}
	id := randomBytes(32)
	state, err := ss.Bytes()
	if err != nil {
		t.logTLS("error adding session to '%s' cache: %v", t.sessName, err)
		return id, nil // an unknown id only costs the next handshake its resumption
	}
	info, _ := DescribeSession(state)
	if rec != nil {
		rec.mu.Lock()
		rec.created = info.Created
		rec.mu.Unlock()
	}
	if t.trace.Enabled(9) {
		t.traceFor(rec).Msg(9, "adding new SSL session to '%s' cache", t.sessName)
	}
	if err := t.sessCache.Add(id, info.Created.Add(t.sessTimeout), state); err != nil {
		t.logTLS("error adding session to '%s' cache: %v", t.sessName, err)
		return id, nil
	}
	t.counters.sessionsIssued.Add(1)
	return id, nil
}

// traceFor is the "tls" channel for the records of a handshake: with
// TraceOptions +ConnIPs they show its connection, as ProFTPD's session
// processes do.
func (t *TLS) traceFor(rec *connState) *trace.Channel {
	if rec == nil || rec.conn == nil || t.trace == nil {
		return t.trace
	}
	client := rec.conn.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(client); err == nil {
		client = host
	}
	return t.trace.WithConn(client, rec.conn.LocalAddr().String())
}

// unwrap returns the session for id, or nil for a full handshake.
func (t *TLS) unwrap(st *serverTLS, id []byte, cs tls.ConnectionState, rec *connState) *tls.SessionState {
	if len(id) == 0 {
		return nil // TLS 1.2 asks on every handshake, ticket or not
	}
	var ss *tls.SessionState
	var created time.Time
	now := t.now()
	if t.tickets != nil {
		ss = t.tickets.decrypt(id, cs)
		if ss == nil {
			return nil
		}
		state, err := ss.Bytes()
		if err != nil {
			return nil
		}
		info, _ := DescribeSession(state)
		created = info.Created
	} else {
		if t.trace.Enabled(9) {
			t.traceFor(rec).Msg(9, "getting SSL session from '%s' cache", t.sessName)
		}
		state, expires, err := t.sessCache.Get(id)
		if err != nil {
			t.traceFor(rec).Msg(5, "error retrieving session from '%s' cache: %v", t.sessName, err)
			if !errors.Is(err, ErrCacheMiss) {
				t.logTLS("error retrieving session from '%s' cache: %v", t.sessName, err)
			}
			return nil
		}
		if !now.Before(expires) {
			t.traceFor(rec).Msg(5, "error retrieving session from '%s' cache: %v", t.sessName, ErrCacheMiss)
			return nil
		}
		ss, err = tls.ParseSessionState(state)
		if err != nil {
			t.logTLS("error retrieving session from '%s' cache: %v", t.sessName, err)
			return nil
		}
		info, _ := DescribeSession(state)
		created = info.Created
	}
	// The cache's expiry is the provider's word; the session's own age is
	// checked too, so a provider that keeps entries longer cannot extend it.
	if t.sessTimeout > 0 && !now.Before(created.Add(t.sessTimeout)) {
		return nil
	}
	vhost, ok, tag := sessionTags(ss.Extra)
	if !ok || vhost != st.sid {
		t.traceFor(rec).Msg(9, "SSL session was issued by another server, not resuming it")
		return nil
	}
	if rec != nil {
		rec.setResumed(tag, created)
	}
	t.counters.sessionsResumed.Add(1)
	return ss
}

// ticketKeys are TLSSessionTicketKeys: in-memory keys for stateless
// tickets, a new one every hour (or every age-1 s when age is shorter),
// each kept for age, at most count of them. Unlike mod_tls (defect M9),
// the newest key encrypts and expired keys are all dropped.
type ticketKeys struct {
	age   time.Duration
	count int
	now   func() time.Time

	mu      sync.Mutex
	created []time.Time // newest first, parallel to keys
	keys    [][32]byte
	cfg     *tls.Config // carries the keys for EncryptTicket/DecryptTicket
}

func newTicketKeys(age time.Duration, count int, now func() time.Time) *ticketKeys {
	if age <= 0 {
		age = DefaultTicketKeyAge
	}
	if count < 1 {
		count = DefaultTicketKeyCount
	}
	return &ticketKeys{age: age, count: count, now: now, cfg: &tls.Config{}}
}

func (k *ticketKeys) rotate() {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	every := time.Hour
	if k.age < every {
		every = k.age - time.Second
	}
	changed := false
	if len(k.keys) == 0 || now.Sub(k.created[0]) >= every {
		var key [32]byte
		copy(key[:], randomBytes(32))
		k.keys = append([][32]byte{key}, k.keys...)
		k.created = append([]time.Time{now}, k.created...)
		changed = true
	}
	n := len(k.keys)
	for n > 1 && (n > k.count || now.Sub(k.created[n-1]) >= k.age) {
		n--
	}
	if n != len(k.keys) {
		k.keys, k.created = k.keys[:n], k.created[:n]
		changed = true
	}
	if changed {
		k.cfg.SetSessionTicketKeys(k.keys)
	}
}

func (k *ticketKeys) encrypt(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	k.rotate()
	return k.cfg.EncryptTicket(cs, ss)
}

func (k *ticketKeys) decrypt(id []byte, cs tls.ConnectionState) *tls.SessionState {
	k.rotate()
	ss, err := k.cfg.DecryptTicket(id, cs)
	if err != nil {
		return nil
	}
	return ss
}
