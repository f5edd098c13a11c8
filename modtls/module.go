package modtls

import (
	"errors"
	"fmt"
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
			{Name: "TLSCACertificatePath", Contexts: serverish, Args: oneOrMore, Handler: directoryPath(func(s *Settings) *string { return &s.CACertificatePath })},
			{Name: "TLSCARevocationFile", Contexts: serverish, Args: oneOrMore, Handler: loadableFile(checkCAFile, func(s *Settings) *string { return &s.CARevocationFile })},
			{Name: "TLSCARevocationPath", Contexts: serverish, Args: oneOrMore, Handler: directoryPath(func(s *Settings) *string { return &s.CARevocationPath })},
			{Name: "TLSCertificateChainFile", Contexts: serverish, Args: oneOrMore, Handler: loadableFile(checkChainFile, func(s *Settings) *string { return &s.CertificateChainFile })},
			{Name: "TLSCipherSuite", Contexts: serverish, Args: oneOrMore, Handler: setCipherSuite},
			{Name: "TLSControlsACLs", Contexts: rootOnly, Args: directives.ArgsAtLeast(4), Handler: setControlsACLs},
			{Name: "TLSCryptoDevice", Contexts: rootOnly, Args: oneOrMore},
			{Name: "TLSDHParamFile", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSDSACertificateFile", Contexts: serverish, Args: oneOrMore, Handler: dsaFile(checkDSACertificate, func(s *Settings) *string { return &s.dsaCertificateFile })},
			{Name: "TLSDSACertificateKeyFile", Contexts: serverish, Args: oneOrMore, Handler: dsaFile(checkDSAKey, func(s *Settings) *string { return &s.dsaCertificateKeyFile })},
			{Name: "TLSECCertificateFile", Contexts: serverish, Args: oneOrMore, Handler: certificateFile("EC", func(s *Settings) *string { return &s.ECCertificateFile })},
			{Name: "TLSECCertificateKeyFile", Contexts: serverish, Args: oneOrMore, Handler: loadableFile(checkKeyFile, func(s *Settings) *string { return &s.ECCertificateKeyFile })},
			{Name: "TLSECDHCurve", Contexts: serverish, Args: oneOrMore, Handler: setECDHCurve},
			{Name: "TLSEngine", Contexts: serverish, Args: oneOrMore, Handler: boolSetting(func(s *Settings) *bool { return &s.Engine })},
			{Name: "TLSLog", Contexts: serverish, Args: oneOrMore, Handler: setLog},
			{Name: "TLSMasqueradeAddress", Contexts: directives.Root | directives.VirtualHost, Args: oneOrMore},
			{Name: "TLSNextProtocol", Contexts: serverish, Handler: setNextProtocol},
			{Name: "TLSOptions", Contexts: serverish, Args: someArgs, Handler: setOptions},
			{Name: "TLSPassPhraseProvider", Contexts: rootOnly, Args: oneOrMore, Handler: checkPassPhraseProvider},
			{Name: "TLSPKCS12File", Contexts: serverish, Args: oneOrMore, Handler: setPKCS12File},
			{Name: "TLSPreSharedKey", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSProtocol", Contexts: serverish, Args: someArgs, Handler: setProtocol},
			{Name: "TLSRandomSeed", Contexts: rootOnly, Args: oneOrMore},
			{Name: "TLSRenegotiate", Contexts: serverish, Args: directives.ArgsBetween(1, 8), Handler: checkRenegotiate},
			{Name: "TLSRequired", Contexts: serverish | directives.Anonymous | directives.Directory | directives.FTPAccess, Args: oneOrMore, Handler: setRequired},
			{Name: "TLSRSACertificateFile", Contexts: serverish, Args: oneOrMore, Handler: certificateFile("RSA", func(s *Settings) *string { return &s.RSACertificateFile })},
			{Name: "TLSRSACertificateKeyFile", Contexts: serverish, Args: oneOrMore, Handler: loadableFile(checkKeyFile, func(s *Settings) *string { return &s.RSACertificateKeyFile })},
			{Name: "TLSServerCipherPreference", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSServerInfoFile", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSSessionCache", Contexts: rootOnly, Args: directives.ArgsBetween(1, 2), Handler: sessionCacheDirective.handler},
			{Name: "TLSSessionTicketKeys", Contexts: rootOnly, Args: ticketKeyArgs, Handler: setTicketKeys},
			{Name: "TLSSessionTickets", Contexts: serverish, Args: oneOrMore, Handler: boolSetting(func(s *Settings) *bool { return &s.SessionTickets })},
			{Name: "TLSStapling", Contexts: serverish, Args: oneOrMore, Handler: boolSetting(func(s *Settings) *bool { return &s.Stapling })},
			{Name: "TLSStaplingCache", Contexts: rootOnly, Args: oneOrMore, Handler: staplingCacheDirective.handler},
			{Name: "TLSStaplingOptions", Contexts: serverish, Args: someArgs, Handler: setStaplingOptions},
			{Name: "TLSStaplingResponder", Contexts: serverish, Args: oneOrMore, Handler: setStaplingResponder},
			{Name: "TLSStaplingTimeout", Contexts: serverish, Args: oneOrMore, Handler: setStaplingTimeout},
			{Name: "TLSTimeoutHandshake", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSUserName", Contexts: serverish, Args: oneOrMore},
			{Name: "TLSVerifyClient", Contexts: serverish, Args: oneOrMore, Handler: setVerifyClient},
			{Name: "TLSVerifyDepth", Contexts: serverish, Args: oneOrMore, Handler: setVerifyDepth},
			{Name: "TLSVerifyOrder", Contexts: serverish, Args: directives.ArgsBetween(1, 2), Handler: checkVerifyOrder},
			{Name: "TLSVerifyServer", Contexts: serverish, Args: oneOrMore},
		},
		PostParse: checkPassphrases,
	})
}

// Handler messages that are not argument counts (those come from
// directives.ErrWrongArgs and directives.ErrMissingArgs).
var (
	errBadlyFormatted = errors.New("badly formatted parameter")
	errExpectedBool   = directives.ErrBool
	errBadParameter   = errors.New("bad parameter")
)

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

// setNextProtocol handles TLSNextProtocol on|off: whether the ALPN
// protocol "ftp" is selected when a client offers it (mod_tls's default).
func setNextProtocol(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	v, err := directives.ParseBool(cmd.Args[0])
	if err != nil {
		return err
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.NextProtocol = v
	}
	return nil
}

// setVerifyDepth handles TLSVerifyDepth N: N is read as C's atoi reads
// it, as mod_tls does, and must not be negative.
func setVerifyDepth(cmd *directives.Cmd) error {
	if err := cmd.RequireArgs(1); err != nil {
		return err
	}
	depth := directives.Atoi(cmd.Args[0])
	if depth < 0 {
		return errors.New("depth must be zero or greater")
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.VerifyDepth = depth
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
