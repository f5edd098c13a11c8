package modtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
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

// Argument-count checks that ProFTPD's handlers make before they check the
// context (CHECK_ARGS, or an argc test, ahead of CHECK_CONF), so that
// "TLSProtocol" alone in <Anonymous> is "wrong number of parameters", not
// "directive not allowed". Checked against proftpd -t 1.3.8 for every
// mod_tls directive: TLSNextProtocol is the one that checks its context
// first.
var (
	oneOrMore     = directives.ArgsAtLeast(1)     // "missing parameters"; extra words are ignored
	someArgs      = directives.ArgsBetween(1, -1) // "wrong number of parameters" when there are none
	ticketKeyArgs = func(cmd *directives.Cmd) error {
		if n := len(cmd.Args); n != 2 && n != 4 {
			return directives.ErrWrongArgs
		}
		return nil
	}
)

func init() {
	directives.Register(&directives.Module{
		Name:    ModuleName,
		Version: ModuleVersion,
		Directives: []directives.Directive{
			{Name: "TLSCACertificateFile", Contexts: serverish, Args: oneOrMore, Handler: loadableFile(checkCAFile, func(s *Settings) *string { return &s.CACertificateFile })},
			{Name: "TLSCACertificatePath", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSCARevocationFile", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSCARevocationPath", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSCertificateChainFile", Contexts: serverish, Args: oneOrMore, Handler: loadableFile(checkChainFile, func(s *Settings) *string { return &s.CertificateChainFile })},
			{Name: "TLSCipherSuite", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSControlsACLs", Contexts: rootOnly, Args: directives.ArgsAtLeast(4), Handler: setControlsACLs},
			{Name: "TLSCryptoDevice", Contexts: rootOnly, Args: oneOrMore},
			{Name: "TLSDHParamFile", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSDSACertificateFile", Contexts: serverish, Args: oneOrMore, Handler: dsaFile(checkDSACertificate)},
			{Name: "TLSDSACertificateKeyFile", Contexts: serverish, Args: oneOrMore, Handler: dsaFile(checkDSAKey)},
			{Name: "TLSECCertificateFile", Contexts: serverish, Args: oneOrMore, Handler: certificateFile(func(s *Settings) *string { return &s.ECCertificateFile })},
			{Name: "TLSECCertificateKeyFile", Contexts: serverish, Args: oneOrMore, Handler: loadableFile(checkKeyFile, func(s *Settings) *string { return &s.ECCertificateKeyFile })},
			{Name: "TLSECDHCurve", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSEngine", Contexts: serverish, Args: oneOrMore, Handler: boolSetting(func(s *Settings) *bool { return &s.Engine })},
			{Name: "TLSLog", Contexts: serverish, Args: oneOrMore, Handler: setLog},
			{Name: "TLSMasqueradeAddress", Contexts: directives.Root | directives.VirtualHost, Args: oneOrMore},
			{Name: "TLSNextProtocol", Contexts: serverish, Handler: setNextProtocol},
			{Name: "TLSOptions", Contexts: serverish, Args: someArgs, Handler: setOptions},
			{Name: "TLSPassPhraseProvider", Contexts: rootOnly, Args: oneOrMore},
			{Name: "TLSPKCS12File", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSPreSharedKey", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSProtocol", Contexts: serverish, Args: someArgs, Handler: setProtocol},
			{Name: "TLSRandomSeed", Contexts: rootOnly, Args: oneOrMore},
			{Name: "TLSRenegotiate", Contexts: serverish, Args: directives.ArgsBetween(1, 8), Handler: checkRenegotiate},
			{Name: "TLSRequired", Contexts: serverish | directives.Anonymous | directives.Directory | directives.FTPAccess, Args: oneOrMore, Handler: setRequired},
			{Name: "TLSRSACertificateFile", Contexts: serverish, Args: oneOrMore, Handler: certificateFile(func(s *Settings) *string { return &s.RSACertificateFile })},
			{Name: "TLSRSACertificateKeyFile", Contexts: serverish, Args: oneOrMore, Handler: loadableFile(checkKeyFile, func(s *Settings) *string { return &s.RSACertificateKeyFile })},
			{Name: "TLSServerCipherPreference", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSServerInfoFile", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSSessionCache", Contexts: rootOnly, Args: directives.ArgsBetween(1, 2), Handler: setSessionCache},
			{Name: "TLSSessionTicketKeys", Contexts: rootOnly, Args: ticketKeyArgs, Handler: setTicketKeys},
			{Name: "TLSSessionTickets", Contexts: serverish, Args: oneOrMore, Handler: boolSetting(func(s *Settings) *bool { return &s.SessionTickets })},
			{Name: "TLSStapling", Contexts: serverish, Args: oneOrMore, Handler: boolSetting(func(s *Settings) *bool { return &s.Stapling })},
			{Name: "TLSStaplingCache", Contexts: rootOnly, Args: oneOrMore, Handler: setStaplingCache},
			{Name: "TLSStaplingOptions", Contexts: serverish, Args: someArgs, Handler: setStaplingOptions},
			{Name: "TLSStaplingResponder", Contexts: serverish, Args: oneOrMore, Handler: setStaplingResponder},
			{Name: "TLSStaplingTimeout", Contexts: serverish, Args: oneOrMore, Handler: setStaplingTimeout},
			{Name: "TLSTimeoutHandshake", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSUserName", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSVerifyClient", Contexts: serverish, Args: oneOrMore, Handler: setVerifyClient},
			{Name: "TLSVerifyDepth", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSVerifyOrder", Contexts: serverish, Args: directives.ArgsBetween(1, 2), Handler: checkVerifyOrder},
			{Name: "TLSVerifyServer", Contexts: serverish, Args: oneOrMore},
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
		n, rest, _ := directives.Strtol(cmd.Args[1])
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

// certificateFile handles TLSRSACertificateFile and TLSECCertificateFile
// in mod_tls's order: the path must be absolute, then the file must hold
// a PEM certificate (of any key type: a mismatch shows when the server
// starts).
func certificateFile(field func(*Settings) *string) directives.Handler {
	return func(cmd *directives.Cmd) error {
		path := cmd.Args[0]
		if !cmd.Replay {
			if !strings.HasPrefix(path, "/") {
				return errNotAbsolute
			}
			if data, err := os.ReadFile(path); err != nil || !hasPEM(data, isCertificate) {
				return fmt.Errorf("'%s' does not exist or does not contain a certificate", path)
			}
		}
		if st := settingsFor(cmd); st.first(cmd.Name) {
			*field(st) = path
		}
		return nil
	}
}

// loadableFile handles the files mod_tls hands to OpenSSL at once
// (TLSCACertificateFile, TLSCertificateChainFile, the key files): a file
// that does not load is "unable to use 'X': ..." whether or not its path
// is absolute, and only a file that loads must have an absolute path.
// ProFTPD ends that message with OpenSSL's error queue; ftpdtls says what
// check found wrong instead.
func loadableFile(check func(data []byte) error, field func(*Settings) *string) directives.Handler {
	return func(cmd *directives.Cmd) error {
		path := cmd.Args[0]
		if !cmd.Replay {
			if err := checkLoadable(path, check); err != nil {
				return err
			}
		}
		if st := settingsFor(cmd); st.first(cmd.Name) {
			*field(st) = path
		}
		return nil
	}
}

// checkLoadable reads path and checks its contents, then that the path
// is absolute.
func checkLoadable(path string, check func(data []byte) error) error {
	data, err := os.ReadFile(path)
	if err == nil {
		err = check(data)
	} else {
		err = errors.New(directives.Strerror(err))
	}
	if err != nil {
		return fmt.Errorf("unable to use '%s': %w", path, err)
	}
	if !strings.HasPrefix(path, "/") {
		return errNotAbsolute
	}
	return nil
}

// dsaFile checks TLSDSACertificateFile and TLSDSACertificateKeyFile as
// mod_tls does, then ignores them: crypto/tls cannot serve a DSA
// certificate, which `ftpdtls check` says.
func dsaFile(check func(cmd *directives.Cmd) error) directives.Handler {
	return func(cmd *directives.Cmd) error {
		if cmd.Replay {
			return nil
		}
		if err := check(cmd); err != nil {
			return err
		}
		cmd.Warnf("%s: '%s' is ignored: ftpdtls cannot serve DSA certificates", cmd.Name, cmd.Args[0])
		return nil
	}
}

// checkDSACertificate: the path must be absolute, the file exist and hold
// a certificate.
func checkDSACertificate(cmd *directives.Cmd) error {
	path := cmd.Args[0]
	if !strings.HasPrefix(path, "/") {
		return errNotAbsolute
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("unable to use '%s': %s", path, directives.Strerror(err))
	}
	if !hasPEM(data, isCertificate) {
		return fmt.Errorf("unable to use '%s': %w", path, errNoCertificate)
	}
	return nil
}

// checkDSAKey: the file must hold a private key, then have an absolute
// path, as for the other key files.
func checkDSAKey(cmd *directives.Cmd) error { return checkLoadable(cmd.Args[0], checkKeyFile) }

var (
	errNotAbsolute   = errors.New("parameter must be an absolute path")
	errNoCertificate = errors.New("no PEM certificate found")
	errNoKey         = errors.New("no PEM private key found")
)

// checkCAFile accepts what OpenSSL's X509_LOOKUP_load_file does: PEM
// certificates or CRLs.
func checkCAFile(data []byte) error {
	if hasPEM(data, isCertificate) || hasPEM(data, func(b *pem.Block) bool { return b.Type == "X509 CRL" }) {
		return nil
	}
	return errors.New("no PEM certificate or CRL found")
}

func checkChainFile(data []byte) error {
	if hasPEM(data, isCertificate) {
		return nil
	}
	return errNoCertificate
}

func checkKeyFile(data []byte) error {
	if hasPEM(data, func(b *pem.Block) bool { return strings.HasSuffix(b.Type, "PRIVATE KEY") }) {
		return nil
	}
	return errNoKey
}

// isCertificate reports whether b is a PEM certificate whose DER parses.
func isCertificate(b *pem.Block) bool {
	switch b.Type {
	case "CERTIFICATE", "X509 CERTIFICATE":
		_, err := x509.ParseCertificate(b.Bytes)
		return err == nil
	case "TRUSTED CERTIFICATE":
		return true // OpenSSL's form, with trust settings after the DER, which crypto/x509 does not read
	}
	return false
}

// hasPEM reports whether data holds a PEM block that ok accepts.
func hasPEM(data []byte, ok func(*pem.Block) bool) bool {
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return false
		}
		if ok(b) {
			return true
		}
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
	opts, err := optionFlags(cmd.Args, tlsOptionNames, "TLSOption")
	if err != nil {
		return err
	}
	settingsFor(cmd).Options |= opts
	return nil
}

// optionFlags ORs together the flags that args name (case-sensitive, as
// mod_tls compares them); an unknown name is mod_tls's ": unknown <what>
// '<name>'" (the leading colon is ProFTPD's).
func optionFlags[F ~uint8 | ~uint32](args []string, names map[string]F, what string) (F, error) {
	var flags F
	for _, a := range args {
		f, ok := names[a]
		if !ok {
			return 0, fmt.Errorf(": unknown %s '%s'", what, a)
		}
		flags |= f
	}
	return flags, nil
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
			c, _, _ := directives.Strtol(v)
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
	opts, err := optionFlags(cmd.Args, staplingOptionNames, "TLSStaplingOption")
	if err != nil {
		return err
	}
	settingsFor(cmd).StaplingOptions |= opts
	return nil
}

// setStaplingResponder handles TLSStaplingResponder URL. ProFTPD accepts
// what OpenSSL's OCSP_parse_url does (see checkResponderURL), and a URL
// without a scheme means http://.
func setStaplingResponder(cmd *directives.Cmd) error {
	raw := cmd.Args[0]
	if err := checkResponderURL(raw); err != nil {
		// ProFTPD prints OpenSSL's error queue here, which is empty for
		// these errors; ftpdtls says what is wrong.
		return fmt.Errorf("error parsing URL '%s': %w", raw, err)
	}
	u := raw
	if u != "" && !strings.Contains(u, "://") {
		u = "http://" + u
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.StaplingResponder = u
	}
	return nil
}

// checkResponderURL applies the rules of OpenSSL 3.0's OCSP_parse_url
// (OSSL_HTTP_parse_url), which decide whether ProFTPD accepts a
// TLSStaplingResponder: "[scheme://][userinfo@]host[:port][/path][?query][#fragment]",
// where the scheme, if any, is "http" or "https" (case matters), the host
// may be empty or a bracketed IPv6 literal, and the port is a decimal
// number up to 65535 followed by the end or the path.
func checkResponderURL(raw string) error {
	rest := raw
	if scheme, after, ok := strings.Cut(raw, "://"); ok {
		switch scheme {
		case "http", "https":
		case "":
			return errors.New("missing scheme before '://'")
		default:
			return fmt.Errorf("unsupported scheme '%s', expected http or https", scheme)
		}
		rest = after
	}
	if _, after, ok := strings.Cut(rest, "@"); ok {
		rest = after
	}
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return errors.New("missing ']' after the IPv6 address")
		}
		rest = rest[end+1:]
	} else if i := strings.IndexAny(rest, ":/?#"); i >= 0 {
		rest = rest[i:]
	} else {
		rest = ""
	}
	if port, ok := strings.CutPrefix(rest, ":"); ok {
		// sscanf("%u") then the digits: blanks or a sign are read by
		// sscanf but then leave a port that is not followed by a path.
		n := 0
		for n < len(port) && port[n] >= '0' && port[n] <= '9' {
			n++
		}
		if n > 0 {
			v, err := strconv.ParseUint(port[:n], 10, 64)
			if err != nil {
				v = math.MaxUint64 // strtoul saturates
			}
			if uint32(v) > 65535 { // stored in an unsigned int
				return fmt.Errorf("port '%s' is not a number from 0 to 65535", port[:n])
			}
		}
		if n == 0 && port != "" {
			return fmt.Errorf("port '%s' is not a number", port)
		}
		rest = port[n:]
	}
	if rest != "" && rest[0] != '/' && rest[0] != '?' && rest[0] != '#' {
		return fmt.Errorf("unexpected '%s' after the host and port", rest)
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
	// mod_tls checks the words in this order: allow/deny, user/group,
	// then the actions.
	var acl ControlsACL
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
	acl.Actions = strings.Split(cmd.Args[0], ",")
	for _, a := range acl.Actions {
		if !controlsActions[a] {
			return fmt.Errorf(": unknown action: '%s'", a)
		}
	}
	st := settingsFor(cmd)
	st.ControlsACLs = append(st.ControlsACLs, acl)
	return nil
}

// setNextProtocol checks TLSNextProtocol, which ftpdtls accepts and does
// not act on (crypto/tls negotiates ALPN from NextProtos); ProFTPD wants
// one Boolean argument.
func setNextProtocol(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	if _, err := directives.ParseBool(cmd.Args[0]); err != nil {
		return err
	}
	return nil
}

// checkVerifyOrder checks TLSVerifyOrder's mechanisms as mod_tls does;
// ftpdtls verifies client certificates with crypto/tls and does not act on
// the order.
func checkVerifyOrder(cmd *directives.Cmd) error {
	for _, a := range cmd.Args {
		if !strings.EqualFold(a, "crl") && !strings.EqualFold(a, "ocsp") {
			return fmt.Errorf("unsupported verification mechanism '%s' requested", a)
		}
	}
	return nil
}

// checkRenegotiate checks TLSRenegotiate as mod_tls does ("none", or
// pairs of ctrl/data/required/timeout and a value). crypto/tls servers
// never renegotiate, so ftpdtls does not act on it. mod_tls reads past its
// arguments when the last keyword has no value (and crashes for "ctrl");
// ftpdtls says what is missing.
func checkRenegotiate(cmd *directives.Cmd) error {
	args := cmd.Args
	if len(args) == 1 && strings.EqualFold(args[0], "none") {
		return nil
	}
	for i := 0; i < len(args); i += 2 {
		key := args[i]
		switch key {
		case "ctrl", "data", "required", "timeout":
		default:
			return fmt.Errorf(": unknown TLSRenegotiate argument '%s'", key)
		}
		if i+1 == len(args) {
			return fmt.Errorf("missing value for '%s'", key)
		}
		v := args[i+1]
		switch key {
		case "data":
			if _, rest, ok := directives.Strtol(v); !ok || rest != "" {
				return fmt.Errorf("data must be valid number: '%s'", v)
			}
		case "required":
			if _, err := directives.ParseBool(v); err != nil {
				return fmt.Errorf("required must be a Boolean value: '%s'", v)
			}
		case "timeout":
			if directives.Atoi(v) <= 0 {
				return fmt.Errorf("timeout must be greater than zero: '%s'", v)
			}
		}
	}
	return nil
}
