package modtls

//go:generate go run gen_ciphers.go

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// TLSCipherSuite takes an OpenSSL cipher string. modtls evaluates it as
// OpenSSL 3.0's SSL_CTX_set_cipher_list does, over OpenSSL's own cipher
// table (ciphers_table.go), so that it accepts and refuses exactly the
// strings ProFTPD does; then it maps the suites selected to the ones
// crypto/tls implements. The rules, from OpenSSL's ciphers(1):
//
//   - elements are separated by ':' (or ' ', ';', ','); each is a cipher
//     name or an alias (HIGH, aNULL, ECDHE, AESGCM, ...), or several
//     joined by '+', which selects the suites all of them select;
//   - a plain element adds its suites, '-' removes them (a later element
//     may add them back), '!' removes them for good, '+' moves them to
//     the end (order only);
//   - "@STRENGTH" sorts, "@SECLEVEL=n" sets the security level; any other
//     "@" command, or a character that is not a letter, digit, '-', '.'
//     or '=', is "invalid command";
//   - a string starting with "DEFAULT" starts from "ALL:!COMPLEMENTOFDEFAULT:!eNULL";
//     one starting with SUITEB128, SUITEB128ONLY, SUITEB128C2 or
//     SUITEB192 is replaced by the Suite B suites;
//   - unknown names are ignored; an empty result is "no cipher match".
//
// crypto/tls ignores the order of Config.CipherSuites, so only which
// suites are selected matters here.

// opensslCipher is one row of OpenSSL's cipher table.
type opensslCipher struct {
	name, std        string // OpenSSL's name, the IANA name
	minTLS           uint16 // the version the suite needs (0x0300 for SSLv3)
	kx, au, enc, mac uint32
	bits             int    // strength bits, as SSL_CIPHER_get_bits says
	strength         uint32 // strength classes (sHIGH ...) and sNotDefault
}

// Algorithm bits, mirroring OpenSSL's SSL_k*, SSL_a*, SSL_e* and SSL_m*.
const (
	kRSA uint32 = 1 << iota
	kDHE
	kECDHE
	kPSK
	kRSAPSK
	kECDHEPSK
	kDHEPSK
	kSRP
	kGOST
	kAny
)

const kAllPSK = kPSK | kRSAPSK | kECDHEPSK | kDHEPSK

const (
	aRSA uint32 = 1 << iota
	aDSS
	aNULL
	aECDSA
	aPSK
	aGOST01
	aGOST12
	aSRP
	aAny
)

const (
	eAES128 uint32 = 1 << iota
	eAES256
	eAES128GCM
	eAES256GCM
	eAES128CCM
	eAES256CCM
	eAES128CCM8
	eAES256CCM8
	eCAMELLIA128
	eCAMELLIA256
	eARIA128GCM
	eARIA256GCM
	eCHACHA20
	eNULL
	e3DES
	eRC4
	eRC2
	eIDEA
	eSEED
	eGOST
)

const (
	eAllAES = eAES128 | eAES256 | eAES128GCM | eAES256GCM | eAES128CCM | eAES256CCM | eAES128CCM8 | eAES256CCM8
	eAllEnc = ^uint32(0)
)

const (
	mMD5 uint32 = 1 << iota
	mSHA1
	mSHA256
	mSHA384
	mAEAD
	mGOST94
	mGOST89
	mGOST12
)

const (
	sLOW uint32 = 1 << iota
	sMEDIUM
	sHIGH
	sFIPS
	sNotDefault

	// FIPS is a strength class too, as OpenSSL's SSL_FIPS is.
	sStrongMask  = sLOW | sMEDIUM | sHIGH | sFIPS
	sDefaultMask = sNotDefault
)

// cipherAlias is an entry of OpenSSL's cipher_aliases table.
type cipherAlias struct {
	kx, au, enc, mac uint32
	minTLS           uint16
	strength         uint32
}

var cipherAliases = map[string]cipherAlias{
	"ALL":                 {enc: eAllEnc &^ eNULL},
	"COMPLEMENTOFALL":     {enc: eNULL},
	"COMPLEMENTOFDEFAULT": {strength: sNotDefault},
	"kRSA":                {kx: kRSA},
	"kEDH":                {kx: kDHE},
	"kDHE":                {kx: kDHE},
	"DH":                  {kx: kDHE},
	"kEECDH":              {kx: kECDHE},
	"kECDHE":              {kx: kECDHE},
	"ECDH":                {kx: kECDHE},
	"kPSK":                {kx: kPSK},
	"kRSAPSK":             {kx: kRSAPSK},
	"kECDHEPSK":           {kx: kECDHEPSK},
	"kDHEPSK":             {kx: kDHEPSK},
	"kSRP":                {kx: kSRP},
	"kGOST":               {kx: kGOST},
	"aRSA":                {au: aRSA},
	"aDSS":                {au: aDSS},
	"DSS":                 {au: aDSS},
	"aNULL":               {au: aNULL},
	"aECDSA":              {au: aECDSA},
	"ECDSA":               {au: aECDSA},
	"aPSK":                {au: aPSK},
	"aGOST01":             {au: aGOST01},
	"aGOST12":             {au: aGOST12},
	"aGOST":               {au: aGOST01 | aGOST12},
	"aSRP":                {au: aSRP},
	"EDH":                 {kx: kDHE, au: ^aNULL},
	"DHE":                 {kx: kDHE, au: ^aNULL},
	"EECDH":               {kx: kECDHE, au: ^aNULL},
	"ECDHE":               {kx: kECDHE, au: ^aNULL},
	"NULL":                {enc: eNULL},
	"RSA":                 {kx: kRSA, au: aRSA},
	"ADH":                 {kx: kDHE, au: aNULL},
	"AECDH":               {kx: kECDHE, au: aNULL},
	"PSK":                 {kx: kAllPSK},
	"SRP":                 {kx: kSRP},
	"3DES":                {enc: e3DES},
	"RC4":                 {enc: eRC4},
	"RC2":                 {enc: eRC2},
	"IDEA":                {enc: eIDEA},
	"SEED":                {enc: eSEED},
	"eNULL":               {enc: eNULL},
	"GOST89":              {enc: eGOST},
	"AES128":              {enc: eAES128 | eAES128GCM | eAES128CCM | eAES128CCM8},
	"AES256":              {enc: eAES256 | eAES256GCM | eAES256CCM | eAES256CCM8},
	"AES":                 {enc: eAllAES},
	"AESGCM":              {enc: eAES128GCM | eAES256GCM},
	"AESCCM":              {enc: eAES128CCM | eAES256CCM | eAES128CCM8 | eAES256CCM8},
	"AESCCM8":             {enc: eAES128CCM8 | eAES256CCM8},
	"CAMELLIA128":         {enc: eCAMELLIA128},
	"CAMELLIA256":         {enc: eCAMELLIA256},
	"CAMELLIA":            {enc: eCAMELLIA128 | eCAMELLIA256},
	"CHACHA20":            {enc: eCHACHA20},
	"ARIA":                {enc: eARIA128GCM | eARIA256GCM},
	"ARIAGCM":             {enc: eARIA128GCM | eARIA256GCM},
	"ARIA128":             {enc: eARIA128GCM},
	"ARIA256":             {enc: eARIA256GCM},
	"MD5":                 {mac: mMD5},
	"SHA1":                {mac: mSHA1},
	"SHA":                 {mac: mSHA1},
	"GOST94":              {mac: mGOST94},
	"GOST89MAC":           {mac: mGOST89},
	"SHA256":              {mac: mSHA256},
	"SHA384":              {mac: mSHA384},
	"GOST12":              {mac: mGOST12},
	"SSLv3":               {minTLS: 0x0300},
	"TLSv1":               {minTLS: tls.VersionTLS10},
	"TLSv1.0":             {minTLS: tls.VersionTLS10},
	"TLSv1.2":             {minTLS: tls.VersionTLS12},
	"LOW":                 {strength: sLOW},
	"MEDIUM":              {strength: sMEDIUM},
	"HIGH":                {strength: sHIGH},
	"FIPS":                {enc: eAllEnc &^ eNULL, strength: sFIPS},
}

// Errors of an OpenSSL cipher string, worded as OpenSSL's error queue.
var (
	errNoCipherMatch  = errors.New("no cipher match")
	errInvalidCommand = errors.New("invalid command")
)

func itemSep(c byte) bool { return c == ':' || c == ' ' || c == ';' || c == ',' }

func cipherNameChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '='
}

// cipherRule is one element of a cipher string, resolved.
type cipherRule struct {
	cipher           int // index+1 of an explicit cipher, or 0
	kx, au, enc, mac uint32
	minTLS           uint16
	strength         uint32
}

func (r *cipherRule) matches(c *opensslCipher, index int) bool {
	switch {
	case r.cipher != 0 && r.cipher != index+1,
		r.kx != 0 && r.kx&c.kx == 0,
		r.au != 0 && r.au&c.au == 0,
		r.enc != 0 && r.enc&c.enc == 0,
		r.mac != 0 && r.mac&c.mac == 0,
		r.minTLS != 0 && r.minTLS != c.minTLS,
		r.strength&sStrongMask != 0 && r.strength&sStrongMask&c.strength == 0,
		r.strength&sDefaultMask != 0 && r.strength&sDefaultMask&c.strength == 0:
		return false
	}
	return true
}

// and narrows r by the alias or cipher a, as a '+' does; false when
// nothing can match any more.
func (r *cipherRule) and(a cipherAlias, cipher int) bool {
	narrow := func(have *uint32, m uint32) bool {
		if m == 0 {
			return true
		}
		if *have == 0 {
			*have = m
			return true
		}
		*have &= m
		return *have != 0
	}
	if !narrow(&r.kx, a.kx) || !narrow(&r.au, a.au) || !narrow(&r.enc, a.enc) || !narrow(&r.mac, a.mac) {
		return false
	}
	if s := a.strength & sStrongMask; s != 0 {
		if r.strength&sStrongMask != 0 {
			r.strength &= s | ^sStrongMask
			if r.strength&sStrongMask == 0 {
				return false
			}
		} else {
			r.strength |= s
		}
	}
	if s := a.strength & sDefaultMask; s != 0 {
		if r.strength&sDefaultMask != 0 {
			r.strength &= s | ^sDefaultMask
			if r.strength&sDefaultMask == 0 {
				return false
			}
		} else {
			r.strength |= s
		}
	}
	if cipher != 0 {
		r.cipher = cipher // an explicit suite's version is not part of the pattern
	} else if a.minTLS != 0 {
		if r.minTLS != 0 && r.minTLS != a.minTLS {
			return false
		}
		r.minTLS = a.minTLS
	}
	return true
}

// lookupCipherName finds an explicit TLS 1.2-or-earlier suite or an alias.
func lookupCipherName(name string) (cipherAlias, int, bool) {
	for i := range opensslCiphers {
		c := &opensslCiphers[i]
		if c.minTLS < tls.VersionTLS13 && c.name == name {
			return cipherAlias{kx: c.kx, au: c.au, enc: c.enc, mac: c.mac, strength: c.strength}, i + 1, true
		}
	}
	a, ok := cipherAliases[name]
	return a, 0, ok
}

// cipherSelection is the state of an evaluation: which suites are in the
// list and which were removed for good.
type cipherSelection struct {
	active, dead []bool
	secLevel     int // -1: not set
}

func (s *cipherSelection) apply(op byte, r *cipherRule) {
	for i := range opensslCiphers {
		c := &opensslCiphers[i]
		if c.minTLS >= tls.VersionTLS13 || s.dead[i] || !r.matches(c, i) {
			continue
		}
		switch op {
		case '+': // order only
		case '-':
			s.active[i] = false
		case '!':
			s.active[i], s.dead[i] = false, true
		default:
			s.active[i] = true
		}
	}
}

// process runs OpenSSL's ssl_cipher_process_rulestr over rule.
func (s *cipherSelection) process(rule string) error {
	var failed error
	l := 0
	for l < len(rule) {
		ch := rule[l]
		op := byte(0)
		switch ch {
		case '-', '+', '!', '@':
			op = ch
			l++
		}
		if itemSep(ch) {
			l++
			continue
		}
		var r cipherRule
		found := false
		var word string
		for {
			start := l
			for l < len(rule) && cipherNameChar(rule[l]) {
				l++
			}
			word = rule[start:l]
			if word == "" {
				failed, found = errInvalidCommand, false
				l++
				break
			}
			if op == '@' {
				break
			}
			multi := l < len(rule) && rule[l] == '+'
			if multi {
				l++
			}
			a, cipher, ok := lookupCipherName(word)
			if !ok || !r.and(a, cipher) {
				found = false
				break
			}
			found = true
			if !multi {
				break
			}
		}
		switch {
		case op == '@' && word != "":
			switch {
			case word == "STRENGTH":
			case len(word) == len("SECLEVEL=n") && strings.HasPrefix(word, "SECLEVEL=") && word[9] >= '0' && word[9] <= '5':
				s.secLevel = int(word[9] - '0')
			default:
				failed = errInvalidCommand
			}
			for l < len(rule) && !itemSep(rule[l]) {
				l++
			}
		case found:
			s.apply(op, &r)
		default:
			for l < len(rule) && !itemSep(rule[l]) {
				l++
			}
		}
	}
	return failed
}

// suiteBRules are OpenSSL's replacements for a string starting with a
// Suite B keyword, longest keyword first.
var suiteBRules = []struct{ prefix, rule string }{
	{"SUITEB128ONLY", "ECDHE-ECDSA-AES128-GCM-SHA256"},
	{"SUITEB128C2", "ECDHE-ECDSA-AES256-GCM-SHA384"},
	{"SUITEB128", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"},
	{"SUITEB192", "ECDHE-ECDSA-AES256-GCM-SHA384"},
}

// evalCipherString evaluates an OpenSSL cipher string for TLS 1.2 and
// earlier and returns the indices of the suites it selects in
// opensslCiphers, and the @SECLEVEL it sets (-1 if none).
func evalCipherString(rule string) ([]int, int, error) {
	for _, sb := range suiteBRules {
		if strings.HasPrefix(rule, sb.prefix) {
			rule = sb.rule
			break
		}
	}
	s := &cipherSelection{active: make([]bool, len(opensslCiphers)), dead: make([]bool, len(opensslCiphers)), secLevel: -1}
	if rest, ok := strings.CutPrefix(rule, "DEFAULT"); ok {
		if err := s.process("ALL:!COMPLEMENTOFDEFAULT:!eNULL"); err != nil {
			return nil, -1, err
		}
		rule = strings.TrimPrefix(rest, ":")
	}
	if err := s.process(rule); err != nil {
		return nil, -1, err
	}
	var sel []int
	for i, on := range s.active {
		if on {
			sel = append(sel, i)
		}
	}
	if len(sel) == 0 {
		return nil, -1, errNoCipherMatch
	}
	return sel, s.secLevel, nil
}

// TLS 1.3 suites as OpenSSL 3.0 knows them (its ciphersuites list takes
// only these IANA names).
var tls13OpenSSLSuites = []string{
	"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
	"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256",
}

// evalTLS13Suites evaluates "TLSCipherSuite TLSv1.3 LIST" as OpenSSL 3.0's
// SSL_CTX_set_ciphersuites: ':'-separated IANA names, unknown ones
// ignored, an empty string allowed (no TLS 1.3 suite), but not a
// non-empty one that names no suite.
func evalTLS13Suites(list string) ([]string, error) {
	if list == "" {
		return nil, nil
	}
	var names []string
	for _, n := range strings.Split(list, ":") {
		if slices.Contains(tls13OpenSSLSuites, n) && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, errNoCipherMatch
	}
	return names, nil
}

// goSuiteIDs maps IANA names to the suites crypto/tls implements,
// insecure ones included (an operator who names one gets it).
var goSuiteIDs = func() map[string]uint16 {
	m := map[string]uint16{}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, s := range list {
			m[s.Name] = s.ID
		}
	}
	return m
}()

// CipherSuites is a TLSCipherSuite evaluated for crypto/tls.
type CipherSuites struct {
	// IDs are the TLS 1.2-and-earlier suites selected that crypto/tls
	// implements (for tls.Config.CipherSuites).
	IDs []uint16
	// Unserved are the suites selected (OpenSSL names) that crypto/tls
	// does not implement: DHE, CCM, ARIA, Camellia, PSK, SRP, NULL ...
	Unserved []string
	// SecLevel is the @SECLEVEL the string set, -1 if none (crypto/tls
	// has no security levels).
	SecLevel int
}

// ParseCipherString evaluates an OpenSSL cipher string (TLSCipherSuite
// without a protocol) as OpenSSL 3.0 does and maps it to crypto/tls. Its
// errors are OpenSSL's "no cipher match" and "invalid command".
func ParseCipherString(s string) (CipherSuites, error) {
	sel, level, err := evalCipherString(s)
	if err != nil {
		return CipherSuites{SecLevel: -1}, err
	}
	cs := CipherSuites{SecLevel: level}
	for _, i := range sel {
		c := &opensslCiphers[i]
		if id, ok := goSuiteIDs[c.std]; ok {
			cs.IDs = append(cs.IDs, id)
		} else {
			cs.Unserved = append(cs.Unserved, c.name)
		}
	}
	return cs, nil
}

// goTLS13Suites are the TLS 1.3 suites crypto/tls offers, always all of
// them (tls.Config.CipherSuites does not apply to TLS 1.3).
var goTLS13Suites = []string{"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}

// checkTLS13Suites tells whether crypto/tls can serve TLS 1.3 with the
// suites of "TLSCipherSuite TLSv1.3": it cannot leave any of its three
// out. It returns the suites that list names and crypto/tls does not
// implement (CCM), to be reported.
func checkTLS13Suites(names []string) (unserved []string, err error) {
	var missing []string
	for _, g := range goTLS13Suites {
		if !slices.Contains(names, g) {
			missing = append(missing, g)
		}
	}
	for _, n := range names {
		if !slices.Contains(goTLS13Suites, n) {
			unserved = append(unserved, n)
		}
	}
	if len(missing) > 0 {
		return unserved, fmt.Errorf("crypto/tls always offers %s with TLS 1.3 and cannot leave %s out: "+
			"list all three, or take TLSv1.3 out of TLSProtocol", strings.Join(goTLS13Suites, ":"), strings.Join(missing, ", "))
	}
	return unserved, nil
}

// cipherNames are OpenSSL's names of the suites crypto/tls implements and
// OpenSSL 3.0 no longer builds (so they are not in its table).
var extraCipherNames = map[uint16]struct {
	name string
	bits int
}{
	tls.TLS_RSA_WITH_RC4_128_SHA:                {"RC4-SHA", 128},
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:           {"DES-CBC3-SHA", 112},
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:        {"ECDHE-ECDSA-RC4-SHA", 128},
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:          {"ECDHE-RSA-RC4-SHA", 128},
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:     {"ECDHE-RSA-DES-CBC3-SHA", 112},
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: {"ECDHE-ECDSA-AES128-SHA256", 128},
}

var cipherNamesByID = func() map[uint16]int {
	m := map[uint16]int{}
	for i := range opensslCiphers {
		if id, ok := goSuiteIDs[opensslCiphers[i].std]; ok {
			m[id] = i
		}
	}
	return m
}()

// CipherName returns OpenSSL's name of a cipher suite and its strength in
// bits, as mod_tls's TLSLog shows them ("ECDHE-RSA-AES256-GCM-SHA384",
// 256; TLS 1.3 suites keep their IANA names). Unknown suites get
// crypto/tls's name and 0.
func CipherName(id uint16) (string, int) {
	if i, ok := cipherNamesByID[id]; ok {
		return opensslCiphers[i].name, opensslCiphers[i].bits
	}
	if e, ok := extraCipherNames[id]; ok {
		return e.name, e.bits
	}
	return tls.CipherSuiteName(id), 0
}

// cipherDescription is mod_tls's "CIPHER (BITS bits[, resumed session])".
func cipherDescription(state tls.ConnectionState) string {
	name, bits := CipherName(state.CipherSuite)
	resumed := ""
	if state.DidResume {
		resumed = ", resumed session"
	}
	return fmt.Sprintf("%s (%d bits%s)", name, bits, resumed)
}
