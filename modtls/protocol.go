package modtls

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
)

// Protocols is a set of TLSProtocol versions.
type Protocols uint8

const (
	ProtoSSLv3 Protocols = 1 << iota
	ProtoTLSv1
	ProtoTLSv11
	ProtoTLSv12
	ProtoTLSv13

	protoAll = ProtoSSLv3 | ProtoTLSv1 | ProtoTLSv11 | ProtoTLSv12 | ProtoTLSv13
)

// protocolNames are TLSProtocol's words, compared case-insensitively
// (mod_tls's strncasecmp over the whole word).
var protocolNames = map[string]Protocols{
	"sslv3":   ProtoSSLv3,
	"tlsv1":   ProtoTLSv1,
	"tlsv1.0": ProtoTLSv1,
	"tlsv1.1": ProtoTLSv11,
	"tlsv1.2": ProtoTLSv12,
	"tlsv1.3": ProtoTLSv13,
}

// versions are the crypto/tls versions of the set that crypto/tls can
// serve (SSLv3 is not one of them; OpenSSL 3.0 has none either).
func (p Protocols) versions() []uint16 {
	var vs []uint16
	for i, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13} {
		if p&(ProtoTLSv1<<i) != 0 {
			vs = append(vs, v)
		}
	}
	return vs
}

// errNoProtocol is TLSProtocol's refusal, outside `proftpd -t`'s verdict,
// of a set with no version crypto/tls can serve.
var errNoProtocol = errors.New("no protocol that ftpdtls can serve is enabled (crypto/tls has no SSLv3; ProFTPD, with OpenSSL 3.0, fails every handshake then)")

// setProtocol handles TLSProtocol: a list of protocol names (SSLv23
// meaning all of them), or "ALL" followed by +name/-name adjustments.
func setProtocol(cmd *directives.Cmd) error {
	if err := cmd.CheckArgs(1, -1); err != nil {
		return err
	}
	var set Protocols
	if args := cmd.Args; strings.EqualFold(args[0], "all") {
		set = protoAll
		for _, a := range args[1:] {
			if a == "" || (a[0] != '+' && a[0] != '-') {
				return fmt.Errorf("missing required +/- prefix: %s", a)
			}
			p, ok := protocolNames[strings.ToLower(a[1:])]
			if !ok {
				return fmt.Errorf("unknown protocol: '%s'", a)
			}
			if a[0] == '+' {
				set |= p
			} else {
				set &^= p
			}
		}
	} else {
		for _, a := range args {
			if strings.EqualFold(a, "SSLv23") {
				set |= protoAll
				continue
			}
			p, ok := protocolNames[strings.ToLower(a)]
			if !ok {
				return fmt.Errorf("unknown protocol: '%s'", a)
			}
			set |= p
		}
	}
	vs := set.versions()
	if len(vs) == 0 && !cmd.ProFTPD() {
		return errNoProtocol
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.Protocols = set
		st.MinVersion, st.MaxVersion = 0, 0
		if len(vs) > 0 {
			st.MinVersion, st.MaxVersion = vs[0], vs[len(vs)-1]
		}
	}
	return nil
}

// setCipherSuite handles "TLSCipherSuite CIPHERS" and "TLSCipherSuite
// TLSv1.3 SUITES" (mod_tls 2.9.2). It accepts and refuses what OpenSSL
// 3.0 does; outside `proftpd -t`'s verdict it also refuses a string none
// of whose suites crypto/tls implements, and warns about the suites it
// leaves out.
func setCipherSuite(cmd *directives.Cmd) error {
	args := cmd.Args
	switch len(args) {
	case 1:
	case 2:
		if !strings.EqualFold(args[0], "TLSv1.3") {
			return fmt.Errorf("unknown/unsupported protocol specifier: %s", args[0])
		}
		names, err := evalTLS13Suites(args[1])
		if err != nil {
			return fmt.Errorf("unable to use ciphersuite '%s': %w", args[1], err)
		}
		st := settingsFor(cmd)
		if !st.first(cmd.Name + " TLSv1.3") {
			return nil
		}
		st.TLS13Ciphers = append([]string{}, names...)
		if unserved, _ := checkTLS13Suites(names); len(unserved) > 0 && !cmd.ProFTPD() && !cmd.Replay {
			cmd.Warnf("%s: crypto/tls does not implement %s; those suites are left out", cmd.Name, strings.Join(unserved, ", "))
		}
		return nil
	default:
		return directives.ErrWrongArgs // mod_tls crashes on a third argument
	}
	suite := args[0]
	if !strings.HasPrefix(suite, "PROFILE=") {
		suite += ":!EXPORT" // as mod_tls does (Bug#4163)
	}
	cs, err := ParseCipherString(suite)
	if err != nil {
		return fmt.Errorf("unable to use ciphersuite '%s': %w", suite, err)
	}
	if !cmd.ProFTPD() {
		if len(cs.IDs) == 0 {
			return fmt.Errorf("unable to use ciphersuite '%s': none of the suites it selects is implemented by crypto/tls (%s)",
				suite, strings.Join(cs.Unserved, ":"))
		}
		if !cmd.Replay {
			if len(cs.Unserved) > 0 {
				cmd.Warnf("%s: crypto/tls does not implement %d of the %d suites '%s' selects; they are left out: %s",
					cmd.Name, len(cs.Unserved), len(cs.Unserved)+len(cs.IDs), suite, strings.Join(cs.Unserved, ":"))
			}
			if cs.SecLevel >= 0 {
				cmd.Warnf("%s: @SECLEVEL=%d is not applied: crypto/tls has no security levels", cmd.Name, cs.SecLevel)
			}
		}
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.CipherSuite, st.Ciphers = suite, &cs
	}
	return nil
}

// opensslGroups are the group names OpenSSL 3.0 accepts in
// SSL_CTX_set1_curves_list (its TLS group table: the TLS name and the
// curve's own name, compared case-sensitively), with the crypto/tls
// curve, 0 for those crypto/tls does not implement.
var opensslGroups = func() map[string]tls.CurveID {
	m := map[string]tls.CurveID{
		"secp256r1": tls.CurveP256, "P-256": tls.CurveP256, "prime256v1": tls.CurveP256,
		"secp384r1": tls.CurveP384, "P-384": tls.CurveP384,
		"secp521r1": tls.CurveP521, "P-521": tls.CurveP521,
		"x25519": tls.X25519, "X25519": tls.X25519,
	}
	for _, n := range []string{
		"secp192r1", "P-192", "prime192v1", "secp224r1", "P-224",
		"sect163k1", "sect163r1", "sect163r2", "sect193r1", "sect193r2", "sect233k1", "sect233r1",
		"sect239k1", "sect283k1", "sect283r1", "sect409k1", "sect409r1", "sect571k1", "sect571r1",
		"secp160k1", "secp160r1", "secp160r2", "secp192k1", "secp224k1", "secp256k1",
		"brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1", "x448", "X448",
		"ffdhe2048", "ffdhe3072", "ffdhe4096", "ffdhe6144", "ffdhe8192",
	} {
		m[n] = 0
	}
	return m
}()

// setECDHCurve handles TLSECDHCurve: "auto" (any case), or a
// ':'-separated list of groups.
func setECDHCurve(cmd *directives.Cmd) error {
	names := cmd.Args[0]
	if strings.EqualFold(names, "auto") {
		return nil
	}
	var curves []tls.CurveID
	var unserved []string
	for _, n := range strings.Split(names, ":") {
		id, ok := opensslGroups[n]
		if !ok {
			return fmt.Errorf("unable to use ECDH curves '%s': passed invalid argument [group '%s' cannot be set]", names, n)
		}
		if id == 0 {
			unserved = append(unserved, n)
		} else {
			curves = append(curves, id)
		}
	}
	if !cmd.ProFTPD() {
		if len(curves) == 0 {
			return fmt.Errorf("unable to use ECDH curves '%s': crypto/tls implements none of them (it has P-256, P-384, P-521 and X25519)", names)
		}
		if len(unserved) > 0 && !cmd.Replay {
			cmd.Warnf("%s: crypto/tls does not implement %s; left out", cmd.Name, strings.Join(unserved, ", "))
		}
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.Curves = curves
	}
	return nil
}
