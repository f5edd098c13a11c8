package modtlsredis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// Default ports and timeouts of mod_redis.
const (
	DefaultServerPort   = 6379
	DefaultSentinelPort = 26379
	// DefaultTimeout is RedisTimeouts' default for both the connect and
	// the I/O timeout.
	DefaultTimeout = 500 * time.Millisecond
)

// Settings are one server's mod_redis directives, parsed. The handlers
// store them in the directives.Server the lines configure; SettingsOf
// reads them back. The caches use the main server's.
type Settings struct {
	// Engine is RedisEngine; EngineSet tells whether the directive was
	// given. mod_tls_redis only refuses to work with an explicit
	// "RedisEngine off".
	Engine, EngineSet bool
	// Servers are the RedisServer lines, in order. One server is a plain
	// Redis; several are the seed nodes of a Redis Cluster.
	Servers []Endpoint
	// Sentinels are the RedisSentinel addresses ("host:port"); when set,
	// the master is found through them and followed across failovers.
	Sentinels []string
	// MasterName is the Sentinel master ("master NAME"); empty means the
	// first master the Sentinels know.
	MasterName string
	// SentinelTLS is the Sentinels' ssl options.
	SentinelTLS TLSFiles
	// ConnectTimeout and IOTimeout are RedisTimeouts.
	ConnectTimeout, IOTimeout time.Duration
	// NoReconnect is RedisOptions NoReconnect: a command that fails on a
	// broken connection is not retried.
	NoReconnect bool
	// Log is RedisLog: an absolute path, "none", or "" when not set.
	Log string
	// LogOnCommand, LogOnEvent and LogFormatExtra keep the arguments of
	// those directives; ftpdtls does not log FTP commands to Redis.
	LogOnCommand, LogOnEvent, LogFormatExtra [][]string

	// own records the directives given in the server's own body, so that
	// a <Global> line does not override them.
	own map[string]bool
}

// Endpoint is one RedisServer line.
type Endpoint struct {
	// Network is "tcp", or "unix" for a socket path.
	Network string
	// Addr is "host:port" (IPv6 hosts bracketed) or the socket path.
	Addr string
	// Username and Password are sent with AUTH when Password is set
	// ("AUTH password" when Username is empty).
	Username, Password string
	// DB is the database index to SELECT, 0 when not set.
	DB int
	// TLS holds the ssl options.
	TLS TLSFiles

	badDB string // an unusable db-index, which makes connecting fail
}

// TLSFiles are the ssl:, ssl-ca:, ssl-cert: and ssl-key: options of
// RedisServer and RedisSentinel.
type TLSFiles struct {
	Enabled       bool // ssl:true
	CA, Cert, Key string
}

// DefaultSettings returns the settings of a server without mod_redis
// directives.
func DefaultSettings() *Settings {
	return &Settings{ConnectTimeout: DefaultTimeout, IOTimeout: DefaultTimeout}
}

// settings is where the handlers store *Settings in a directives.Server.
var settings = directives.NewSettings(DefaultSettings)

// SettingsOf returns the mod_redis settings of s, or the defaults if it
// has none (or s is nil). The result is shared: treat it as read-only.
func SettingsOf(s *directives.Server) *Settings { return settings.Of(s) }

// settingsFor returns the settings being built for cmd's server.
func settingsFor(cmd *directives.Cmd) *Settings { return settings.For(cmd) }

// apply reports whether cmd may set the named directive's value: always
// for a line of the server's own body (which then owns it), and for a
// <Global> line replayed onto the server only when the server's own body
// did not set it.
func (s *Settings) apply(cmd *directives.Cmd, name string) bool {
	if cmd.Replay {
		return !s.own[name]
	}
	if s.own == nil {
		s.own = make(map[string]bool)
	}
	s.own[name] = true
	return true
}

const (
	serverish = directives.Root | directives.VirtualHost | directives.Global
	logish    = serverish | directives.Anonymous | directives.Directory
)

// redisDirectives is mod_redis's directive table. The argument checks
// run before the context check, in ProFTPD's order (CHECK_ARGS, then
// CHECK_CONF).
func redisDirectives() []directives.Directive {
	return []directives.Directive{
		{Name: "RedisEngine", Contexts: serverish, Args: directives.ArgsAtLeast(1), Handler: setRedisEngine},
		{Name: "RedisLog", Contexts: serverish, Args: directives.ArgsAtLeast(1), Handler: setRedisLog},
		{Name: "RedisLogFormatExtra", Contexts: logish, Args: directives.ArgsAtLeast(2), Handler: setRedisLogFormatExtra},
		{Name: "RedisLogOnCommand", Contexts: logish, Args: logOnArgs, Handler: setRedisLogOn},
		{Name: "RedisLogOnEvent", Contexts: logish, Args: logOnArgs, Handler: setRedisLogOn},
		// An empty RedisOptions is "wrong number of parameters", not the
		// usual "missing parameters".
		{Name: "RedisOptions", Contexts: serverish, Args: directives.ArgsBetween(1, -1), Handler: setRedisOptions},
		{Name: "RedisSentinel", Contexts: serverish, Args: directives.ArgsAtLeast(1), Handler: setRedisSentinel},
		{Name: "RedisServer", Contexts: serverish, Args: directives.ArgsAtLeast(1), Handler: setRedisServer},
		{Name: "RedisTimeouts", Contexts: serverish, Args: directives.ArgsAtLeast(2), Handler: setRedisTimeouts},
	}
}

func setRedisEngine(cmd *directives.Cmd) error {
	on, err := directives.ParseBool(cmd.Args[0])
	if err != nil {
		return err
	}
	s := settingsFor(cmd)
	if s.apply(cmd, "RedisEngine") {
		s.Engine, s.EngineSet = on, true
	}
	return nil
}

func setRedisLog(cmd *directives.Cmd) error {
	path := cmd.Args[0]
	if !strings.EqualFold(path, "none") && !strings.HasPrefix(path, "/") {
		return errors.New("must be an absolute path")
	}
	s := settingsFor(cmd)
	if s.apply(cmd, "RedisLog") {
		s.Log = path
	}
	return nil
}

// logFormatConfigured reports whether a LogFormat of that name was
// configured for cmd's server so far. LogFormat is a "server config"
// directive, so, as in ProFTPD, a <VirtualHost> has none of its own.
func logFormatConfigured(cmd *directives.Cmd, name string) bool {
	if cmd.Server == nil {
		return false
	}
	for _, n := range cmd.Server.Directives("LogFormat") {
		if len(n.Args) > 0 && n.Args[0] == name {
			return true
		}
	}
	return false
}

func setRedisLogFormatExtra(cmd *directives.Cmd) error {
	name, extra := cmd.Args[0], cmd.Args[1]
	if !logFormatConfigured(cmd, name) {
		return fmt.Errorf("no LogFormat '%s' configured", name)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(extra), &obj); err != nil || obj == nil {
		return fmt.Errorf("error parsing '%s' as JSON object: invalid JSON", extra)
	}
	s := settingsFor(cmd)
	s.LogFormatExtra = append(s.LogFormatExtra, append([]string(nil), cmd.Args...))
	return nil
}

// logOnArgs: "none" alone, or "rules format-name [key]".
func logOnArgs(cmd *directives.Cmd) error {
	if len(cmd.Args) == 1 && strings.EqualFold(cmd.Args[0], "none") {
		return nil
	}
	return cmd.CheckArgs(2, 3)
}

func setRedisLogOn(cmd *directives.Cmd) error {
	if len(cmd.Args) >= 2 && !logFormatConfigured(cmd, cmd.Args[1]) {
		return fmt.Errorf("no LogFormat '%s' configured", cmd.Args[1])
	}
	s := settingsFor(cmd)
	args := append([]string(nil), cmd.Args...)
	if cmd.Name == "RedisLogOnEvent" {
		s.LogOnEvent = append(s.LogOnEvent, args)
	} else {
		s.LogOnCommand = append(s.LogOnCommand, args)
	}
	return nil
}

func setRedisOptions(cmd *directives.Cmd) error {
	for _, opt := range cmd.Args {
		if opt != "NoReconnect" { // case-sensitive, as in mod_redis
			// The leading ": " is ProFTPD's, which prints "RedisOptions: : unknown ...".
			return fmt.Errorf(": unknown RedisOption '%s'", opt)
		}
	}
	// RedisOptions lines OR together.
	settingsFor(cmd).NoReconnect = true
	return nil
}

func setRedisTimeouts(cmd *directives.Cmd) error {
	connect, ok := parseMillis(cmd.Args[0])
	if !ok {
		return fmt.Errorf("badly formatted connect timeout value: %s", cmd.Args[0])
	}
	io, ok := parseMillis(cmd.Args[1])
	if !ok {
		return fmt.Errorf("badly formatted IO timeout value: %s", cmd.Args[1])
	}
	s := settingsFor(cmd)
	if s.apply(cmd, "RedisTimeouts") {
		s.ConnectTimeout, s.IOTimeout = connect, io
	}
	return nil
}

// parseMillis reads a millisecond count as mod_redis's strtoul does: an
// empty string is 0, a sign is accepted ("-5" wraps to a huge number),
// and trailing characters are an error. It returns 0 for 0 and for
// numbers too large for a time.Duration; the caches use the 500 ms
// default for 0, since they never wait without bound.
func parseMillis(s string) (time.Duration, bool) {
	digits := strings.TrimLeft(s, " \t\n\v\f\r")
	neg := false
	if digits != "" && (digits[0] == '+' || digits[0] == '-') {
		neg = digits[0] == '-'
		digits = digits[1:]
	}
	if digits == "" {
		return 0, s == "" // strtoul("") consumes nothing and leaves "" behind
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || neg || n > uint64(time.Duration(1<<62)/time.Millisecond) {
		return 0, true // wrapped or clamped by strtoul
	}
	return time.Duration(n) * time.Millisecond, true
}

func setRedisServer(cmd *directives.Cmd) error {
	ep := Endpoint{Network: "tcp"}
	host := cmd.Args[0]
	if strings.HasPrefix(host, "/") {
		ep.Network, ep.Addr = "unix", host
	} else {
		h, port := splitHostPort(host, DefaultServerPort)
		ep.Addr = net.JoinHostPort(h, strconv.Itoa(port))
	}
	var dbText string
	for i, arg := range cmd.Args[1:] {
		if strings.HasPrefix(arg, "ssl") {
			parseSSLOption(cmd, arg, &ep.TLS)
			continue
		}
		if i > 2 || strings.Contains(arg, ":") {
			continue // as mod_redis, which only reads positions 2-4
		}
		switch i {
		case 0:
			ep.Username = arg
		case 1:
			ep.Password = arg
		case 2:
			dbText = arg
		}
	}
	if dbText != "" {
		db, err := strconv.Atoi(dbText)
		if err != nil || db < 0 {
			// proftpd -t accepts it; the connection then fails at SELECT.
			cmd.Warnf("%s: db-index '%s' is not a number; connections to this server will fail", cmd.Name, dbText)
			ep.badDB = dbText
		}
		ep.DB = db
	}
	if ep.Username != "" && ep.Password == "" {
		cmd.Warnf("%s: '%s' is a username and no password is set, so no AUTH is sent (for a password alone, write: RedisServer %s \"\" %s)",
			cmd.Name, ep.Username, cmd.Args[0], ep.Username)
	}
	// Each line adds a server (several make a cluster); <Global> lines
	// only for a server that names none of its own.
	if s := settingsFor(cmd); s.apply(cmd, "RedisServer") {
		s.Servers = append(s.Servers, ep)
	}
	return nil
}

func setRedisSentinel(cmd *directives.Cmd) error {
	args := cmd.Args
	master := ""
	if len(args) >= 3 && strings.EqualFold(args[len(args)-2], "master") {
		master = args[len(args)-1]
		args = args[:len(args)-2]
	}
	var addrs []string
	var tlsFiles TLSFiles
	for _, arg := range args {
		if strings.HasPrefix(arg, "ssl") {
			parseSSLOption(cmd, arg, &tlsFiles)
			continue
		}
		host, port := splitHostPort(arg, DefaultSentinelPort)
		if why := unresolvable(host, useIPv6(cmd)); why != "" {
			cmd.Warnf("%s: unable to resolve '%s' (%s), ignoring", cmd.Name, host, why)
			continue
		}
		addrs = append(addrs, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	s := settingsFor(cmd)
	if s.apply(cmd, "RedisSentinel") {
		s.Sentinels, s.MasterName, s.SentinelTLS = addrs, master, tlsFiles
	}
	return nil
}

// parseSSLOption reads one ssl:BOOL, ssl-ca:, ssl-cert: or ssl-key:
// argument into t. A bad one is a warning and is ignored, as mod_redis
// ignores it.
func parseSSLOption(cmd *directives.Cmd, arg string, t *TLSFiles) {
	name, val, ok := strings.Cut(arg, ":")
	if !ok {
		cmd.Warnf("%s: badly formatted SSL option '%s', ignoring", cmd.Name, arg)
		return
	}
	switch name {
	case "ssl":
		on, err := directives.ParseBool(val)
		if err != nil {
			cmd.Warnf("%s: badly formatted SSL option '%s', ignoring", cmd.Name, arg)
			return
		}
		t.Enabled = on
	case "ssl-ca":
		t.CA = val
	case "ssl-cert":
		t.Cert = val
	case "ssl-key":
		t.Key = val
	default:
		cmd.Warnf("%s: unknown SSL option '%s', ignoring", cmd.Name, arg)
	}
}

// splitHostPort splits "host[:port]" at the last colon as mod_redis does,
// handling "[v6]" and "[v6]:port"; a missing or unparsable port (atoi)
// gives def or 0.
func splitHostPort(s string, def int) (string, int) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return s, def
	}
	if strings.HasPrefix(s, "[") {
		switch {
		case i > 0 && s[i-1] == ']':
			return s[1 : i-1], atoi(s[i+1:])
		case strings.HasSuffix(s, "]"):
			return s[1 : len(s)-1], def
		}
	}
	return s[:i], atoi(s[i+1:])
}

// atoi is C's atoi: leading digits, 0 if none.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9' && n < 1<<20; i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// useIPv6 reports whether IPv6 is enabled where cmd stands: UseIPv6 (a
// "server config" directive, on by default) as the lines before it set
// it, since ProFTPD resolves addresses while it parses.
func useIPv6(cmd *directives.Cmd) bool {
	return cmd.Config == nil || cmd.Config.Main == nil || cmd.Config.Main.UseIPv6
}

// unresolvable says why host cannot be resolved as mod_redis resolves it
// (pr_netaddr_get_addr), in glibc's words, or "" when it can. With IPv6
// off, an IPv6 address is "Address family not supported by protocol"
// (an IPv4-mapped one is IPv4) and names resolve to IPv4 only.
func unresolvable(host string, ipv6 bool) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Is6() && !ip.Is4In6() && !ipv6 {
			return "Address family not supported by protocol"
		}
		return ""
	}
	network := "ip"
	if !ipv6 {
		network = "ip4"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if addrs, err := net.DefaultResolver.LookupIP(ctx, network, host); err != nil || len(addrs) == 0 {
		return "No such file or directory"
	}
	return ""
}
