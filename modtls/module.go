package modtls

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// ModuleName and ModuleVersion are mod_tls's, as ProFTPD 1.3.8 (Debian 12)
// reports them; ModuleVersion prefixes log lines.
const (
	ModuleName    = "mod_tls.c"
	ModuleVersion = "mod_tls/2.9.2"
)

const (
	rootOnly  = directives.Root
	serverish = directives.Root | directives.VirtualHost | directives.Global
)

func init() {
	directives.Register(&directives.Module{
		Name:    ModuleName,
		Version: ModuleVersion,
		Directives: []directives.Directive{
			{Name: "TLSCACertificateFile", Contexts: serverish, Handler: fileSetting(func(s *Settings) *string { return &s.CACertificateFile })},
			{Name: "TLSCACertificatePath", Contexts: serverish},
			{Name: "TLSCARevocationFile", Contexts: serverish},
			{Name: "TLSCARevocationPath", Contexts: serverish},
			{Name: "TLSCertificateChainFile", Contexts: serverish, Handler: fileSetting(func(s *Settings) *string { return &s.CertificateChainFile })},
			{Name: "TLSCipherSuite", Contexts: serverish},
			{Name: "TLSControlsACLs", Contexts: rootOnly, Handler: setControlsACLs},
			{Name: "TLSCryptoDevice", Contexts: rootOnly},
			{Name: "TLSDHParamFile", Contexts: serverish},
			{Name: "TLSDSACertificateFile", Contexts: serverish},
			{Name: "TLSDSACertificateKeyFile", Contexts: serverish},
			{Name: "TLSECCertificateFile", Contexts: serverish, Handler: fileSetting(func(s *Settings) *string { return &s.ECCertificateFile })},
			{Name: "TLSECCertificateKeyFile", Contexts: serverish, Handler: fileSetting(func(s *Settings) *string { return &s.ECCertificateKeyFile })},
			{Name: "TLSECDHCurve", Contexts: serverish},
			{Name: "TLSEngine", Contexts: serverish, Handler: boolSetting(func(s *Settings) *bool { return &s.Engine })},
			{Name: "TLSLog", Contexts: serverish, Handler: setLog},
			{Name: "TLSMasqueradeAddress", Contexts: directives.Root | directives.VirtualHost},
			{Name: "TLSNextProtocol", Contexts: serverish},
			{Name: "TLSOptions", Contexts: serverish, Handler: setOptions},
			{Name: "TLSPassPhraseProvider", Contexts: rootOnly},
			{Name: "TLSPKCS12File", Contexts: serverish},
			{Name: "TLSPreSharedKey", Contexts: serverish},
			{Name: "TLSProtocol", Contexts: serverish, Handler: setProtocol},
			{Name: "TLSRandomSeed", Contexts: rootOnly},
			{Name: "TLSRenegotiate", Contexts: serverish},
			{Name: "TLSRequired", Contexts: serverish | directives.Anonymous | directives.Directory | directives.FTPAccess, Handler: setRequired},
			{Name: "TLSRSACertificateFile", Contexts: serverish, Handler: fileSetting(func(s *Settings) *string { return &s.RSACertificateFile })},
			{Name: "TLSRSACertificateKeyFile", Contexts: serverish, Handler: fileSetting(func(s *Settings) *string { return &s.RSACertificateKeyFile })},
			{Name: "TLSServerCipherPreference", Contexts: serverish},
			{Name: "TLSServerInfoFile", Contexts: serverish},
			{Name: "TLSSessionCache", Contexts: rootOnly, Args: directives.ArgsBetween(1, 2), Handler: setSessionCache},
			{Name: "TLSSessionTicketKeys", Contexts: rootOnly, Handler: setTicketKeys},
			{Name: "TLSSessionTickets", Contexts: serverish, Handler: boolSetting(func(s *Settings) *bool { return &s.SessionTickets })},
			{Name: "TLSStapling", Contexts: serverish, Handler: boolSetting(func(s *Settings) *bool { return &s.Stapling })},
			{Name: "TLSStaplingCache", Contexts: rootOnly, Handler: setStaplingCache},
			{Name: "TLSStaplingOptions", Contexts: serverish, Handler: setStaplingOptions},
			{Name: "TLSStaplingResponder", Contexts: serverish, Handler: setStaplingResponder},
			{Name: "TLSStaplingTimeout", Contexts: serverish, Handler: setStaplingTimeout},
			{Name: "TLSTimeoutHandshake", Contexts: serverish},
			{Name: "TLSUserName", Contexts: serverish},
			{Name: "TLSVerifyClient", Contexts: serverish, Handler: setVerifyClient},
			{Name: "TLSVerifyDepth", Contexts: serverish},
			{Name: "TLSVerifyOrder", Contexts: serverish},
			{Name: "TLSVerifyServer", Contexts: serverish},
		},
	})
}

// Handler messages that are not argument counts (those come from
// directives.ErrWrongArgs and directives.ErrMissingArgs).
var (
	errBadlyFormatted = errors.New("badly formatted parameter")
	errExpectedBool   = directives.ErrBool
	errBadParameter   = errors.New("bad parameter")
)

// unavailableError is "session cache type 'X' not available" and its OCSP
// twin; it matches ErrNotFound.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }
func (e *unavailableError) Unwrap() error { return ErrNotFound }

// setSessionCache handles TLSSessionCache off|<type>:<info> [timeout].
func setSessionCache(cmd *directives.Cmd) error {
	if err := cmd.CheckArgs(1, 2); err != nil {
		return err
	}
	spec := CacheSpec{Configured: true, Timeout: DefaultSessionCacheTimeout}
	var checker InfoChecker
	if on, ok := boolArg(cmd.Args[0]); ok && !on {
		spec.Off = true
	} else {
		provider, info, found := strings.Cut(cmd.Args[0], ":")
		if !found {
			return errBadlyFormatted
		}
		spec.Provider, spec.Info = provider, info
		if provider != InternalCache {
			p, err := LookupSessionCache(provider)
			if err != nil || !moduleLoaded(cmd, p.Module()) {
				return &unavailableError{fmt.Sprintf("session cache type '%s' not available", provider)}
			}
			checker, _ = p.(InfoChecker)
		}
	}
	if len(cmd.Args) == 2 {
		n, rest := strtol(cmd.Args[1])
		if rest != "" {
			return fmt.Errorf("'%s' is not a valid timeout value", cmd.Args[1])
		}
		if n < 1 {
			return errors.New("timeout be greater than 1")
		}
		spec.Timeout = secondsDuration(n)
	}
	st := settingsFor(cmd)
	if !st.first(cmd.Name) {
		return nil // the first TLSSessionCache line wins, as in ProFTPD
	}
	st.SessionCache = spec
	if checker != nil && !cmd.Replay {
		for _, w := range checker.CheckInfo(spec.Info) {
			cmd.Warnf("%s", w)
		}
	}
	return nil
}

// setStaplingCache handles TLSStaplingCache off|<type>:<info>.
func setStaplingCache(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	spec := CacheSpec{Configured: true}
	var checker InfoChecker
	if on, ok := boolArg(cmd.Args[0]); ok && !on {
		spec.Off = true
	} else {
		provider, info, found := strings.Cut(cmd.Args[0], ":")
		if !found {
			return errBadlyFormatted
		}
		spec.Provider, spec.Info = provider, info
		p, err := LookupOCSPCache(provider)
		if err != nil || !moduleLoaded(cmd, p.Module()) {
			return &unavailableError{fmt.Sprintf("OCSP stapling cache type '%s' not available", provider)}
		}
		checker, _ = p.(InfoChecker)
	}
	st := settingsFor(cmd)
	if !st.first(cmd.Name) {
		return nil
	}
	st.StaplingCache = spec
	if checker != nil && !cmd.Replay {
		for _, w := range checker.CheckInfo(spec.Info) {
			cmd.Warnf("%s", w)
		}
	}
	return nil
}

// boolArg is ProFTPD's boolean test: ok is false for a non-boolean word.
func boolArg(s string) (v, ok bool) {
	v, err := directives.ParseBool(s)
	return v, err == nil
}

func moduleLoaded(cmd *directives.Cmd, module string) bool {
	return module == "" || (cmd.Config != nil && cmd.Config.ModuleLoaded(module))
}

// secondsDuration converts a saturated strtol value to a Duration without
// overflow.
func secondsDuration(n int64) time.Duration {
	const max = int64(^uint64(0)>>1) / int64(1e9)
	if n > max {
		n = max
	}
	return time.Duration(n) * time.Second
}

// boolSetting handles on|off directives (TLSEngine, TLSStapling,
// TLSSessionTickets).
func boolSetting(field func(*Settings) *bool) directives.Handler {
	return func(cmd *directives.Cmd) error {
		if err := cmd.RequireArgs(1); err != nil {
			return err
		}
		v, err := directives.ParseBool(cmd.Args[0])
		if err != nil {
			return err
		}
		if st := settingsFor(cmd); st.first(cmd.Name) {
			*field(st) = v
		}
		return nil
	}
}

// fileSetting handles the certificate and key file directives: the file
// must exist and the path be absolute.
func fileSetting(field func(*Settings) *string) directives.Handler {
	return func(cmd *directives.Cmd) error {
		if err := cmd.RequireArgs(1); err != nil {
			return err
		}
		path := cmd.Args[0]
		if !cmd.Replay {
			if _, err := os.Stat(path); err != nil {
				return fmt.Errorf("'%s' does not exist", path)
			}
			if !strings.HasPrefix(path, "/") {
				return errors.New("parameter must be an absolute path")
			}
		}
		if st := settingsFor(cmd); st.first(cmd.Name) {
			*field(st) = path
		}
		return nil
	}
}

func setLog(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.Log = cmd.Args[0]
	}
	return nil
}

// setOptions handles TLSOptions; every line adds to the flags.
func setOptions(cmd *directives.Cmd) error {
	if err := cmd.CheckArgs(1, -1); err != nil {
		return err
	}
	var opts Options
	for _, a := range cmd.Args {
		o, ok := tlsOptionNames[a]
		if !ok {
			return fmt.Errorf(": unknown TLSOption: '%s'", a)
		}
		opts |= o
	}
	settingsFor(cmd).Options |= opts
	return nil
}

var protocolVersions = map[string]uint16{
	"sslv3":   tls.VersionSSL30, //nolint:staticcheck // accepted and clamped to TLSv1
	"tlsv1":   tls.VersionTLS10,
	"tlsv1.1": tls.VersionTLS11,
	"tlsv1.2": tls.VersionTLS12,
	"tlsv1.3": tls.VersionTLS13,
}

// setProtocol handles TLSProtocol: a list of protocol names, or "ALL"
// followed by +name/-name adjustments. SSLv23 means all of them.
func setProtocol(cmd *directives.Cmd) error {
	if err := cmd.CheckArgs(1, -1); err != nil {
		return err
	}
	set := map[uint16]bool{}
	all := func() {
		for _, v := range protocolVersions {
			set[v] = true
		}
	}
	args := cmd.Args
	if strings.EqualFold(args[0], "ALL") {
		all()
		for _, a := range args[1:] {
			if len(a) < 2 || (a[0] != '+' && a[0] != '-') {
				return fmt.Errorf("unknown protocol: '%s'", a)
			}
			v, ok := protocolVersions[strings.ToLower(a[1:])]
			if !ok {
				return fmt.Errorf("unknown protocol: '%s'", a[1:])
			}
			set[v] = a[0] == '+'
		}
	} else {
		for _, a := range args {
			if strings.EqualFold(a, "SSLv23") {
				all()
				continue
			}
			v, ok := protocolVersions[strings.ToLower(a)]
			if !ok {
				return fmt.Errorf("unknown protocol: '%s'", a)
			}
			set[v] = true
		}
	}
	var lo, hi uint16
	for v, on := range set {
		if !on {
			continue
		}
		if v < tls.VersionTLS10 {
			v = tls.VersionTLS10 // crypto/tls has no SSLv3
		}
		if lo == 0 || v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	if lo == 0 {
		return errors.New("no protocols enabled")
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.MinVersion, st.MaxVersion = lo, hi
	}
	return nil
}

// setRequired handles TLSRequired on|off|ctrl|data|!data|auth|auth+data|
// auth+!data|ctrl+data|ctrl+!data|both.
func setRequired(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	var r Required
	if on, ok := boolArg(cmd.Args[0]); ok {
		r.Ctrl, r.Data, r.Auth = on, on, on
	} else {
		for _, part := range strings.Split(cmd.Args[0], "+") {
			switch part {
			case "ctrl", "control":
				r.Ctrl, r.Auth = true, true
			case "data":
				r.Data = true
			case "!data":
				r.DataForbidden = true
			case "auth":
				r.Auth = true
			case "both":
				r.Ctrl, r.Auth, r.Data = true, true, true
			default:
				return errBadParameter
			}
		}
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.Required = r
	}
	return nil
}

// setVerifyClient handles TLSVerifyClient on|off|optional.
func setVerifyClient(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	v := VerifyClientOff
	if on, ok := boolArg(cmd.Args[0]); ok {
		if on {
			v = VerifyClientOn
		}
	} else if strings.EqualFold(cmd.Args[0], "optional") {
		v = VerifyClientOptional
	} else {
		return errExpectedBool
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.VerifyClient = v
	}
	return nil
}

// setTicketKeys handles TLSSessionTicketKeys [age <duration>] [count <n>].
// Unlike mod_tls (defect M8), giving only one of the two keeps the
// default for the other.
func setTicketKeys(cmd *directives.Cmd) error {
	if n := len(cmd.Args); n != 2 && n != 4 {
		return directives.ErrWrongArgs
	}
	age, count := DefaultTicketKeyAge, DefaultTicketKeyCount
	for i := 0; i < len(cmd.Args); i += 2 {
		kw, v := cmd.Args[i], cmd.Args[i+1]
		switch strings.ToLower(kw) {
		case "age":
			d, err := directives.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("error parsing age value '%s': %s", v, directives.Strerror(err))
			}
			if d < 60*time.Second {
				return errors.New("max key age must be at least 60sec")
			}
			age = d
		case "count":
			c, _ := strtol(v)
			if c < 0 {
				return fmt.Errorf("error parsing count value '%s': %v", v, errInvalid)
			}
			if c < 2 {
				return errors.New("max key count must be at least 1")
			}
			count = int(min(c, 1<<20))
		default:
			return fmt.Errorf("unknown parameter: %s", kw)
		}
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.TicketKeyAge, st.TicketKeyCount = age, count
	}
	return nil
}

var staplingOptionNames = map[string]StaplingOptions{
	"NoNonce":        StaplingNoNonce,
	"NoVerify":       StaplingNoVerify,
	"NoFakeTryLater": StaplingNoFakeTryLater,
}

// setStaplingOptions handles TLSStaplingOptions; lines add up.
func setStaplingOptions(cmd *directives.Cmd) error {
	if err := cmd.CheckArgs(1, -1); err != nil {
		return err
	}
	var opts StaplingOptions
	for _, a := range cmd.Args {
		o, ok := staplingOptionNames[a]
		if !ok {
			return fmt.Errorf(": unknown TLSStaplingOption '%s'", a)
		}
		opts |= o
	}
	settingsFor(cmd).StaplingOptions |= opts
	return nil
}

func setStaplingResponder(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	raw := cmd.Args[0]
	u, err := url.Parse(raw)
	if err == nil && (u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
		err = errors.New("unsupported URL (expected http:// or https:// and a host)")
	}
	if err != nil {
		return fmt.Errorf("error parsing URL '%s': %v", raw, err)
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.StaplingResponder = raw
	}
	return nil
}

func setStaplingTimeout(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	d, err := directives.ParseDuration(cmd.Args[0])
	if err != nil {
		return fmt.Errorf("error parsing timeout value '%s': %s", cmd.Args[0], directives.Strerror(err))
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.StaplingTimeout = d
	}
	return nil
}

var controlsActions = map[string]bool{"all": true, "clear": true, "info": true, "ocspcache": true, "sesscache": true}

// setControlsACLs handles TLSControlsACLs actions|all allow|deny user|group list.
func setControlsACLs(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(4); err != nil {
		return err
	}
	acl := ControlsACL{Actions: strings.Split(cmd.Args[0], ",")}
	for _, a := range acl.Actions {
		if !controlsActions[a] {
			return fmt.Errorf(": unknown action: '%s'", a)
		}
	}
	switch strings.ToLower(cmd.Args[1]) {
	case "allow":
		acl.Allow = true
	case "deny":
	default:
		return errors.New("second parameter must be 'allow' or 'deny'")
	}
	list := strings.Split(cmd.Args[3], ",")
	switch strings.ToLower(cmd.Args[2]) {
	case "user":
		acl.Users = list
	case "group":
		acl.Groups = list
	default:
		return errors.New("third parameter must be 'user' or 'group'")
	}
	st := settingsFor(cmd)
	st.ControlsACLs = append(st.ControlsACLs, acl)
	return nil
}
