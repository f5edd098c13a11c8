package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/internal/access"
	"github.com/ftpdtls/ftpdtls/internal/testpeers"
	"github.com/ftpdtls/ftpdtls/internal/testpki"
	"github.com/ftpdtls/ftpdtls/modtls"
	// Linked by cmd/ftpdtls: mod_redis's directives are served.
	_ "github.com/ftpdtls/ftpdtls/modtlsredis"
)

// opsUsers writes an AuthUserFile whose user serves whoever runs the
// test (root: uid 54321; otherwise the test's uid, the only one a daemon
// not started as root serves).
func opsUsers(t *testing.T, dir string) ftpUser {
	t.Helper()
	u := ftpUser{name: "alice", password: "alice-pw", uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), home: filepath.Join(dir, "alice")}
	if os.Geteuid() == 0 {
		u.uid, u.gid = aliceUID, aliceGID
	}
	if err := os.MkdirAll(u.home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(u.home, int(u.uid), int(u.gid)); err != nil {
		t.Fatal(err)
	}
	writeUsers(t, dir, u)
	return u
}

// parseOps parses text (with %{env:DIR} the directory) as serve does.
func parseOps(t *testing.T, dir, text string) *directives.Config {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("ops-%d.conf", time.Now().UnixNano()))
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "%{env:DIR}", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(path, "")
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", text, err)
	}
	return cfg
}

// valueCases are lines whose value decides whether serve applies them:
// each directive with a value check in servedDirectives has at least one
// accepted and one refused line here (TestServedDirectiveValues checks).
var valueCases = []struct {
	line    string
	refused bool
}{
	{"Port 2121", false}, {"Port 0", true},
	{"DefaultAddress 127.0.0.1", false}, {"DefaultAddress 127.0.0.1 127.0.0.2", true},
	{"DefaultAddress 127.0.0.1\nSocketBindTight on", false}, {"SocketBindTight on", true},
	{"SocketBindTight off", false}, {"DefaultAddress 127.0.0.1\nSocketBindTight off", true},
	{"DefaultServer on", false}, {"DefaultAddress 127.0.0.1\nDefaultServer off", false}, {"DefaultServer off", true},
	{"ServerType standalone", false}, {"ServerType inetd", true},
	{"WtmpLog off", false}, {"WtmpLog NONE", false}, {"WtmpLog on", true},
	{"UseReverseDNS off", false}, {"UseReverseDNS on", true},
	{"RequireValidShell off", false}, {"RequireValidShell on", false},
	{"UseFtpUsers off", false}, {"UseFtpUsers on", false},
	{"UseLastlog off", false}, {"UseLastlog on", true},
	{"RootRevoke on", false}, {"RootRevoke off", true},
	{"AuthOrder mod_auth_file.c", false}, {"AuthOrder mod_auth_file.c*", false}, {"AuthOrder mod_auth_file.c mod_auth_unix.c", true},
	{"DelayEngine off", false}, {"DelayEngine on", true},
	{"LoadModule mod_ident.c\nIdentLookups off", false}, {"LoadModule mod_ident.c\nIdentLookups on", true},
	{"ServerIdent on", false}, {"ServerIdent off", true}, {"ServerIdent on \"Welcome\"", true},
	{"DeferWelcome off", false}, {"DeferWelcome on", true},
	{"TimesGMT on", false}, {"TimesGMT off", true},
	{"ShowSymlinks on", false}, {"ShowSymlinks off", true},
	{"DefaultTransferMode ascii", false}, {"DefaultTransferMode binary", true},
	{"UseGlobbing off", false}, {"UseGlobbing on", false},
	{"TCPNoDelay on", false}, {"TCPNoDelay off", true},
	{"TLSVerifyOrder crl", false}, {"TLSVerifyOrder crl ocsp", true},
	{"TLSOptions NoSessionReuseRequired NoEmptyFragments", false}, {"TLSOptions IgnoreSNI AllowWeakDH", false}, {"TLSOptions iPAddressRequired NoAutoECDH", false},
	{"TLSOptions StdEnvVars", true}, {"TLSOptions NoSessionReuseRequired dNSNameRequired", true},
	{"TLSRenegotiate none", false}, {"TLSRenegotiate ctrl 3600", true},
	{"RedisLog none", false}, {"RedisLog %{env:DIR}/redis.log", true},
	{"TraceLog %{env:DIR}/trace.log\nTrace tls:5", false}, {"Trace session tls:5", true}, {"<Global>\nTrace tls:5\n</Global>", true},
	{"TraceOptions +ConnIPs", false}, {"<Global>\nTraceOptions +ConnIPs\n</Global>", true},
	{"LoadModule mod_tls.c\nLoadModule mod_tls_shmcache.c\nLoadModule mod_redis.c\nLoadModule mod_tls_redis.c", false},
	{"LoadModule mod_ban.c", true},
}

// TestServedDirectiveValues: a line that asks for what ftpdtls does is
// accepted; its other values are refused with the line's place.
func TestServedDirectiveValues(t *testing.T) {
	dir := t.TempDir()
	opsUsers(t, dir)
	base := "AuthUserFile %{env:DIR}/ftpd.passwd\n"
	covered := map[string][2]bool{}
	for _, tc := range valueCases {
		cfg := parseOps(t, dir, base+tc.line+"\n")
		errs, _ := CheckServe(cfg)
		lines := strings.Split(tc.line, "\n")
		last := strings.Fields(lines[len(lines)-1])[0]
		if last == "</Global>" {
			last = strings.Fields(lines[1])[0]
		}
		var refusal *directives.Error
		for _, e := range errs {
			switch {
			case errors.Is(e, ErrNotSupported) && e.Directive == last:
				refusal = e
			case e.Directive == "LoadModule" && strings.Contains(tc.line, "LoadModule mod_ident.c"):
				// IdentLookups exists only after mod_ident.c is loaded,
				// which serve refuses (mod_ident is not in ftpdtls).
			default:
				t.Errorf("%q: unexpected error %v", tc.line, e)
			}
		}
		if (refusal != nil) != tc.refused {
			t.Errorf("%q: refused=%v, want %v (%v)", tc.line, refusal != nil, tc.refused, errs)
		}
		if refusal != nil && (refusal.File == "" || refusal.Line == 0 || !strings.Contains(refusal.Error(), "not supported by ftpdtls serve")) {
			t.Errorf("%q: refusal without place or words: %v", tc.line, refusal)
		}
		c := covered[strings.ToLower(last)]
		c[btoi(tc.refused)] = true
		covered[strings.ToLower(last)] = c
	}
	for _, d := range servedDirectives {
		if d.refuse == nil {
			continue
		}
		if c := covered[strings.ToLower(d.name)]; !c[0] || !c[1] {
			t.Errorf("%s has a value check but valueCases lack an accepted or a refused line (%v)", d.name, c)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestUnservedDirectivesRefused: every directive of every module ProFTPD
// 1.3.8 ships (and every section) that is not in servedDirectives and not
// the access policy's is refused wherever it appears, with its place and
// "not supported by ftpdtls serve"; the table only names directives the
// parser knows.
func TestUnservedDirectivesRefused(t *testing.T) {
	known := map[string]bool{}
	var nodes []*directives.Node
	line := 0
	for _, names := range directives.Catalogue() {
		for _, name := range names {
			if strings.HasPrefix(name, "</") || known[strings.ToLower(name)] {
				continue
			}
			known[strings.ToLower(name)] = true
			if served(name) != nil || access.Handles(name) || structural[strings.ToLower(name)] {
				continue
			}
			line++
			nodes = append(nodes, &directives.Node{Name: name, Args: []string{"on"}, File: "all.conf", Line: line, Context: directives.Root})
		}
	}
	if line < 300 {
		t.Fatalf("only %d unserved directives in the catalogue: is it loaded?", line)
	}
	c := &checker{cfg: &directives.Config{Main: &directives.Server{}}, pos: map[place]int{}}
	c.walk(nodes)
	if len(c.errs) != len(nodes) {
		t.Fatalf("%d refusals for %d unserved directives", len(c.errs), len(nodes))
	}
	for i, e := range c.errs {
		if n := nodes[i]; e.Directive != n.Name || e.Line != n.Line || e.File != "all.conf" || !errors.Is(e, ErrNotSupported) {
			t.Errorf("%s: %v", n.Name, e)
		}
	}
	// Sections: <VirtualHost> and everything in it, <IfUser>, ... once each.
	for _, sec := range []string{"<VirtualHost>", "<IfUser>", "<IfClass>", "<IfVersion>"} {
		c := &checker{cfg: &directives.Config{Main: &directives.Server{}}, pos: map[place]int{}}
		c.walk([]*directives.Node{{Name: sec, Args: []string{"x"}, File: "s.conf", Line: 1,
			Children: []*directives.Node{{Name: "ServerName", Args: []string{"x"}, File: "s.conf", Line: 2}}}})
		if len(c.errs) != 1 || c.errs[0].Directive != sec || !errors.Is(c.errs[0], ErrNotSupported) {
			t.Errorf("%s: %v", sec, c.errs)
		}
	}
	// Every name in the table is one the parser knows: the catalogue's,
	// or a registered module's (mod_redis, mod_proxy_protocol).
	linked := map[string]bool{}
	for _, d := range slices.Concat(redisNames, proxyNames) {
		linked[strings.ToLower(d)] = true
	}
	for _, d := range servedDirectives {
		if !known[strings.ToLower(d.name)] && !linked[strings.ToLower(d.name)] {
			t.Errorf("served directive %s is not a ProFTPD directive", d.name)
		}
		if d.by == byAccess && !access.Handles(d.name) {
			t.Errorf("%s is listed as the access policy's, which does not handle it", d.name)
		}
	}
}

var (
	redisNames = []string{"RedisEngine", "RedisServer", "RedisSentinel", "RedisTimeouts", "RedisOptions", "RedisLog"}
	proxyNames = []string{"ProxyProtocolEngine", "ProxyProtocolTrustedSources", "ProxyProtocolTimeout", "ProxyProtocolVersion", "ProxyProtocolOptions"}
)

// effectProof is how a served directive is shown to have its effect: a
// test of this file (run), tests elsewhere (cite: "package/dir TestName",
// each must exist), and for a directive whose accepted values are what
// ftpdtls always does, its valueCases (values).
type effectProof struct {
	run    func(t *testing.T, k *kitchen)
	cite   []string
	values bool
}

// effects covers every directive of servedDirectives: a directive added
// to the table without an entry here fails TestServedDirectivesHaveEffect.
var effects = map[string]effectProof{
	// The daemon.
	"Port":                  {run: testListenAddress},
	"DefaultAddress":        {run: testListenAddress},
	"SocketBindTight":       {run: testListenAddress, values: true},
	"DefaultServer":         {values: true},
	"ServerType":            {values: true},
	"UseIPv6":               {run: testListenAddress},
	"User":                  {cite: []string{"internal/daemon TestPrivilegeSeparation", "internal/daemon TestUserRootRefused"}},
	"Group":                 {cite: []string{"internal/daemon TestPrivilegeSeparation", "internal/daemon TestUserRootRefused"}},
	"MaxInstances":          {cite: []string{"internal/daemon TestMaxInstances"}},
	"PidFile":               {run: testKitchenPidFile},
	"SystemLog":             {run: testKitchenSystemLog, cite: []string{"internal/daemon TestLoggedExchangeMatchesProFTPD"}},
	"SetEnv":                {run: testSetEnv},
	"UnsetEnv":              {run: testSetEnv},
	"WtmpLog":               {values: true},
	"IdentLookups":          {values: true},
	"DelayEngine":           {values: true},
	"UseReverseDNS":         {values: true, cite: []string{"internal/daemon TestLoggedExchangeMatchesProFTPD"}},
	"AuthUserFile":          {cite: []string{"internal/daemon TestPrivilegeSeparation", "internal/daemon TestAuthUserFileLines"}},
	"AuthGroupFile":         {cite: []string{"internal/daemon TestPrivilegeSeparation"}},
	"AuthOrder":             {values: true},
	"RootLogin":             {cite: []string{"internal/daemon TestRootLoginOn", "internal/daemon TestPrivilegeSeparation"}},
	"RequireValidShell":     {cite: []string{"internal/daemon TestRequireValidShell", "internal/daemon TestLoginShellAndFtpUsersErrors", "internal/authfile TestValidShell", "conformance TestLoginChecksMatchProFTPD"}},
	"UseFtpUsers":           {cite: []string{"internal/daemon TestUseFtpUsers", "internal/daemon TestLoginShellAndFtpUsersErrors", "internal/authfile TestInFtpUsers", "conformance TestLoginChecksMatchProFTPD"}},
	"UseLastlog":            {values: true},
	"RootRevoke":            {values: true, cite: []string{"internal/daemon TestPrivilegeSeparation"}},
	"MaxClients":            {cite: []string{"internal/daemon TestMaxClientsAcrossWorkers", "internal/daemon TestLimitsOf"}},
	"MaxClientsPerHost":     {cite: []string{"internal/daemon TestCounter", "internal/daemon TestLimitsOf", "internal/ftpd TestAdmissionLimits"}},
	"MaxClientsPerUser":     {cite: []string{"internal/daemon TestCounter", "internal/ftpd TestAdmissionLimits"}},
	"MaxConnectionsPerHost": {run: testKitchenMaxConnectionsPerHost},
	"MaxHostsPerUser":       {cite: []string{"internal/daemon TestCounter", "internal/daemon TestLimitsOf"}},

	// The FTP engine.
	"ServerName":          {run: testKitchenGreeting},
	"ServerIdent":         {run: testKitchenGreeting, values: true},
	"DeferWelcome":        {run: testKitchenGreeting, values: true},
	"PassivePorts":        {cite: []string{"internal/ftpd TestPassivePortsAndMasquerade", "internal/daemon TestLoadCoreAndTraceDirectives"}},
	"MasqueradeAddress":   {cite: []string{"internal/ftpd TestPassivePortsAndMasquerade", "internal/daemon TestLoadCoreAndTraceDirectives"}},
	"TimeoutLogin":        {cite: []string{"internal/ftpd TestConfigure", "internal/ftpd TestTimeouts", "internal/servetest TestTimeoutsApplied"}},
	"TimeoutIdle":         {cite: []string{"internal/ftpd TestConfigure", "internal/ftpd TestTimeouts", "internal/servetest TestTimeoutsApplied"}},
	"TimeoutNoTransfer":   {cite: []string{"internal/ftpd TestConfigure", "internal/ftpd TestTimeouts"}},
	"TimeoutStalled":      {cite: []string{"internal/ftpd TestConfigure", "internal/ftpd TestStalledUploadEndsSession"}},
	"MaxLoginAttempts":    {cite: []string{"internal/ftpd TestConfigure", "internal/servetest TestMaxLoginAttempts"}},
	"TransferLog":         {run: testKitchenTransferLog, cite: []string{"internal/servetest TestTransferLog", "internal/daemon TestLoggedExchangeMatchesProFTPD"}},
	"TimesGMT":            {values: true, cite: []string{"internal/ftpd TestListingFormats"}},
	"ShowSymlinks":        {values: true, cite: []string{"internal/ftpd TestNLSTAndSymlinks"}},
	"DefaultTransferMode": {values: true, cite: []string{"internal/ftpd TestASCIIMode"}},
	"UseGlobbing":         {cite: []string{"internal/ftpd TestListGlobs"}},
	"TCPNoDelay":          {values: true},
	"TLSTimeoutHandshake": {cite: []string{"internal/ftpd TestConfigure", "internal/ftpd TestTLSHandshakeBounded"}},

	// The access policy.
	"<Limit>":              {cite: []string{"internal/access TestLimitUsersAndGroups", "internal/access TestProFTPDDifferential", "internal/servetest TestLimitWriteDenyAll"}},
	"<Directory>":          {cite: []string{"internal/access TestDirectories", "internal/access TestProFTPDDifferential"}},
	"AllowUser":            {cite: []string{"internal/access TestLimitUsersAndGroups"}},
	"DenyUser":             {cite: []string{"internal/access TestLimitUsersAndGroups"}},
	"AllowGroup":           {cite: []string{"internal/access TestLimitUsersAndGroups", "internal/access TestGroupsAndAll"}},
	"DenyGroup":            {cite: []string{"internal/access TestLimitUsersAndGroups"}},
	"Allow":                {cite: []string{"internal/access TestAddresses"}},
	"Deny":                 {cite: []string{"internal/access TestAddresses"}},
	"AllowAll":             {cite: []string{"internal/access TestOrder"}},
	"DenyAll":              {cite: []string{"internal/access TestOrder", "internal/servetest TestLimitWriteDenyAll"}},
	"Order":                {cite: []string{"internal/access TestOrder"}},
	"DefaultRoot":          {cite: []string{"internal/access TestDefaultRoot", "internal/ftpd TestConfinement"}},
	"Umask":                {cite: []string{"internal/access TestDirSettings", "internal/ftpd TestUmaskAndOverwrite"}},
	"AllowOverwrite":       {cite: []string{"internal/ftpd TestUmaskAndOverwrite", "internal/servetest TestStoresNeverDestroyData"}},
	"AllowStoreRestart":    {cite: []string{"internal/access TestDirSettings", "internal/servetest TestStoresNeverDestroyData"}},
	"AllowRetrieveRestart": {cite: []string{"internal/access TestDirSettings", "internal/access TestProFTPDDifferential"}},
	"HiddenStores":         {cite: []string{"internal/access TestDirSettings", "internal/userfs TestHiddenStores"}},
	"DeleteAbortedStores":  {cite: []string{"internal/access TestDirSettings", "internal/userfs TestNewFileAbortRules"}},
	"AllowForeignAddress":  {cite: []string{"internal/access TestDirSettings", "internal/ftpd TestPassiveTheft"}},
	"AllowOverride":        {cite: []string{"internal/access TestAllowOverrideOff"}},

	// mod_tls.
	"TLSEngine":                {cite: []string{"modtls TestDirectiveSettings", "internal/daemon TestLoggedExchangeMatchesProFTPD"}},
	"TLSRequired":              {cite: []string{"modtls TestDirectiveSettings", "internal/ftpd TestTLSSessionWorkflow"}},
	"TLSProtocol":              {cite: []string{"modtls TestProtocolHolesServedExactly"}},
	"TLSCipherSuite":           {cite: []string{"modtls TestParseCipherStringMapsToGo", "modtls TestCipherStringsMatchOpenSSL"}},
	"TLSECDHCurve":             {run: testECDHCurve},
	"TLSLog":                   {cite: []string{"modtls TestTLSLogMatchesProFTPD", "internal/daemon TestLoggedExchangeMatchesProFTPD"}},
	"TLSRSACertificateFile":    {cite: []string{"modtls TestCertificateFilesFromDirectives", "internal/daemon TestLoggedExchangeMatchesProFTPD"}},
	"TLSRSACertificateKeyFile": {cite: []string{"modtls TestCertificateFilesFromDirectives", "internal/daemon TestLoggedExchangeMatchesProFTPD"}},
	"TLSECCertificateFile":     {cite: []string{"modtls TestCertificateFilesFromDirectives"}},
	"TLSECCertificateKeyFile":  {cite: []string{"modtls TestCertificateFilesFromDirectives"}},
	"TLSCertificateChainFile":  {cite: []string{"modtls TestCertificateFilesFromDirectives"}},
	"TLSCACertificateFile":     {cite: []string{"modtls TestRevokedClientCertificate"}},
	"TLSCACertificatePath":     {run: testClientCertificatePaths},
	"TLSCARevocationFile":      {cite: []string{"modtls TestRevokedClientCertificate"}},
	"TLSCARevocationPath":      {run: testClientCertificatePaths},
	"TLSVerifyClient":          {run: testClientCertificatePaths, cite: []string{"modtls TestRevokedClientCertificate"}},
	"TLSVerifyOrder":           {values: true, run: testClientCertificatePaths},
	"TLSOptions":               {values: true, cite: []string{"modtls TestDataChannelReuse", "modtls TestClientIPAddressRequired", "modtls TestAppliedLists"}},
	"TLSVerifyDepth":           {cite: []string{"modtls TestVerifyDepth"}},
	"TLSRenegotiate":           {values: true},
	"TLSNextProtocol":          {cite: []string{"modtls TestNextProtocol"}},
	"TLSSessionCache":          {cite: []string{"modtls TestResumptionThroughProvider", "modtls TestOpenFailureFallsBackToInternalWithTimeout", "internal/daemon TestSessionResumptionAcrossWorkers"}},
	"TLSSessionTickets":        {cite: []string{"modtls TestSessionTicketsMode"}},
	"TLSSessionTicketKeys":     {cite: []string{"modtls TestTicketKeyRotation"}},
	"TLSStapling":              {cite: []string{"modtls TestOCSPGoResponder"}},
	"TLSStaplingCache":         {cite: []string{"modtls TestOCSPGoResponder", "modtlsredis TestOCSPRoundTrip"}},
	"TLSStaplingOptions":       {cite: []string{"modtls TestOCSPRequestNonce"}},
	"TLSStaplingResponder":     {cite: []string{"modtls TestStaplingResponderURL", "modtls TestOCSPGoResponder"}},
	"TLSStaplingTimeout":       {cite: []string{"modtls TestOCSPBoundedByHandshakeContext"}},

	// mod_redis.
	"RedisEngine":   {cite: []string{"modtlsredis TestSettingsOfMainServer", "modtlsredis TestProviderUsesMainServerSettings"}},
	"RedisServer":   {cite: []string{"modtlsredis TestRedisServerArguments", "modtlsredis TestSessionRoundTrip"}},
	"RedisSentinel": {cite: []string{"modtlsredis TestRedisSentinelArguments", "modtlsredis TestSentinelFailover"}},
	"RedisTimeouts": {cite: []string{"modtlsredis TestClientOptions"}},
	"RedisOptions":  {cite: []string{"modtlsredis TestClientOptions"}},
	"RedisLog":      {values: true},

	// mod_proxy_protocol.
	"ProxyProtocolEngine":         {cite: []string{"internal/proxyprotocol TestWrap", "conformance TestClientProxyProtocol"}},
	"ProxyProtocolTrustedSources": {cite: []string{"internal/proxyprotocol TestTrusts", "internal/proxyprotocol TestWrapperNeedsTrustedSources"}},
	"ProxyProtocolTimeout":        {cite: []string{"internal/proxyprotocol TestDirectives", "internal/proxyprotocol TestWrap"}},
	"ProxyProtocolVersion":        {cite: []string{"internal/proxyprotocol TestDirectives", "internal/proxyprotocol TestWrap"}},
	"ProxyProtocolOptions":        {cite: []string{"internal/proxyprotocol TestDirectives"}},

	// Trace.
	"TraceLog":     {run: testKitchenTrace},
	"Trace":        {run: testKitchenTrace, values: true},
	"TraceOptions": {run: testKitchenTrace, values: true, cite: []string{"trace TestWithConnShowsTheConnection"}},

	// The parser.
	"LoadModule":     {run: testKitchenLoadModule, values: true},
	"ModulePath":     {cite: []string{"conformance TestProFTPDCases", "directives TestLoadModule"}},
	"Define":         {run: testDefine},
	"IncludeOptions": {cite: []string{"directives TestInclude"}},
}

// TestServedDirectivesHaveEffect walks servedDirectives: each directive
// serve accepts has its effect proved here, by a test it cites (which
// must exist), or by its value cases (which must cover it).
func TestServedDirectivesHaveEffect(t *testing.T) {
	k := &kitchen{parent: t}
	if os.Geteuid() == 0 {
		k.start(t)
	}
	valueCovered := map[string]bool{}
	for _, tc := range valueCases {
		for _, l := range strings.Split(tc.line, "\n") {
			if f := strings.Fields(l); len(f) > 0 {
				valueCovered[strings.ToLower(f[0])] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range servedDirectives {
		seen[d.name] = true
		p, ok := effects[d.name]
		if !ok {
			t.Errorf("%s is accepted by serve, but no test proves its effect: add it to effects", d.name)
			continue
		}
		if p.run == nil && len(p.cite) == 0 && !p.values {
			t.Errorf("%s: empty proof", d.name)
		}
		if p.values && (d.refuse == nil || !valueCovered[strings.ToLower(d.name)]) {
			t.Errorf("%s: proved by its values, but it has no value check or no value case", d.name)
		}
		for _, c := range p.cite {
			if err := testExists(c); err != nil {
				t.Errorf("%s: %v", d.name, err)
			}
		}
		if p.run != nil {
			t.Run(strings.Trim(d.name, "<>"), func(t *testing.T) { p.run(t, k) })
		}
	}
	for name := range effects {
		if !seen[name] {
			t.Errorf("effects proves %s, which is not in servedDirectives", name)
		}
	}
	k.checkStopped(t)
}

// testExists checks that "package/dir TestName" names a test function.
func testExists(cite string) error {
	pkg, name, ok := strings.Cut(cite, " ")
	if !ok {
		return fmt.Errorf("citation %q is not \"package TestName\"", cite)
	}
	files, _ := filepath.Glob(filepath.Join("..", "..", pkg, "*_test.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && regexp.MustCompile(`(?m)^func `+regexp.QuoteMeta(name)+`\(t \*testing\.T\)`).Match(b) {
			return nil
		}
	}
	return fmt.Errorf("cited test %s does not exist", cite)
}

// testListenAddress: Port, DefaultAddress and UseIPv6 decide the address
// the control listener binds (its binding is the daemon's tests').
func testListenAddress(t *testing.T, _ *kitchen) {
	dir := t.TempDir()
	opsUsers(t, dir)
	for _, tc := range []struct{ lines, want string }{
		{"Port 2999\nDefaultAddress 127.0.0.2\nSocketBindTight on", "127.0.0.2:2999"},
		{"Port 2999", ":2999"},
		{"Port 2999\nUseIPv6 off", "0.0.0.0:2999"},
		{"", ":21"},
	} {
		path := filepath.Join(dir, "addr.conf")
		if err := os.WriteFile(path, []byte("AuthUserFile "+dir+"/ftpd.passwd\n"+tc.lines+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path, "", newSystemLog(&syncLog{}))
		if err != nil {
			t.Fatalf("%q: %v", tc.lines, err)
		}
		cfg.Close()
		if cfg.Addr != tc.want {
			t.Errorf("%q: listens on %q, want %q", tc.lines, cfg.Addr, tc.want)
		}
	}
}

// testSetEnv: SetEnv and UnsetEnv change %{env:} for the lines after them
// and the environment of the server's processes.
func testSetEnv(t *testing.T, _ *kitchen) {
	t.Setenv("FTPDTLS_OPS_GONE", "present")
	t.Setenv("FTPDTLS_OPS_SET", "")
	dir := t.TempDir()
	opsUsers(t, dir)
	path := filepath.Join(dir, "env.conf")
	text := "AuthUserFile " + dir + "/ftpd.passwd\nSetEnv FTPDTLS_OPS_SET hello\nUnsetEnv FTPDTLS_OPS_GONE\nServerName \"%{env:FTPDTLS_OPS_SET}\"\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, "", newSystemLog(&syncLog{}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	if cfg.Dirs.Main.Name != "hello" {
		t.Errorf("ServerName %q, want the SetEnv value", cfg.Dirs.Main.Name)
	}
	if v := os.Getenv("FTPDTLS_OPS_SET"); v != "hello" {
		t.Errorf("SetEnv: environment has %q", v)
	}
	if v, ok := os.LookupEnv("FTPDTLS_OPS_GONE"); ok {
		t.Errorf("UnsetEnv: environment still has %q", v)
	}
}

// testDefine: Define makes <IfDefine> bodies count.
func testDefine(t *testing.T, _ *kitchen) {
	dir := t.TempDir()
	opsUsers(t, dir)
	cfg := parseOps(t, dir, "AuthUserFile %{env:DIR}/ftpd.passwd\nDefine OPS\n<IfDefine OPS>\nServerName defined\n</IfDefine>\n<IfDefine !OPS>\nServerName undefined\n</IfDefine>\n")
	if errs, _ := CheckServe(cfg); len(errs) > 0 || cfg.Main.Name != "defined" {
		t.Errorf("ServerName %q, errors %v", cfg.Main.Name, errs)
	}
}

// testECDHCurve: TLSECDHCurve restricts the key exchange groups: a
// client offering only another group fails, one offering it succeeds.
func testECDHCurve(t *testing.T, _ *kitchen) {
	dir := t.TempDir()
	opsUsers(t, dir)
	cert, key := testpki.NewCA().Server(testpki.ECDSA).WriteFiles(t, dir, "server")
	cfg := parseOps(t, dir, "AuthUserFile %{env:DIR}/ftpd.passwd\nTLSEngine on\nTLSECCertificateFile "+cert+"\nTLSECCertificateKeyFile "+key+"\nTLSECDHCurve prime256v1\n")
	eng, err := modtls.Open(cfg, modtls.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, tc := range []struct {
		curve tls.CurveID
		ok    bool
	}{{tls.X25519, false}, {tls.CurveP256, true}} {
		err := handshake(t, eng.TLSConfig(nil), &tls.Config{InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tc.curve}})
		if (err == nil) != tc.ok {
			t.Errorf("client offering %v: %v, want ok=%v", tc.curve, err, tc.ok)
		}
	}
}

// testClientCertificatePaths: TLSCACertificatePath's CAs verify client
// certificates (TLSVerifyClient on), and TLSCARevocationPath's CRLs
// refuse a revoked one (TLSVerifyOrder crl).
func testClientCertificatePaths(t *testing.T, _ *kitchen) {
	dir := t.TempDir()
	opsUsers(t, dir)
	ca := testpki.NewCA()
	cert, key := ca.Server(testpki.ECDSA).WriteFiles(t, dir, "server")
	good, revoked, stranger := ca.Client(testpki.ECDSA), ca.Client(testpki.ECDSA), testpki.NewCA().Client(testpki.ECDSA)
	ca.Revoke(revoked)
	cas, crls := filepath.Join(dir, "cas"), filepath.Join(dir, "crls")
	for _, d := range []string{cas, crls} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ca.WriteFile(t, cas, "ca.pem")
	ca.WriteCRL(t, crls, "ca.crl")
	cfg := parseOps(t, dir, "AuthUserFile %{env:DIR}/ftpd.passwd\nTLSEngine on\nTLSECCertificateFile "+cert+"\nTLSECCertificateKeyFile "+key+
		"\nTLSVerifyClient on\nTLSVerifyOrder crl\nTLSCACertificatePath "+cas+"\nTLSCARevocationPath "+crls+"\n")
	eng, err := modtls.Open(cfg, modtls.Env{})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, tc := range []struct {
		name   string
		client *testpki.Cert
		ok     bool
	}{{"good", good, true}, {"revoked", revoked, false}, {"of another CA", stranger, false}, {"none", nil, false}} {
		cc := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
		if tc.client != nil {
			cc.Certificates = []tls.Certificate{tc.client.TLS}
		}
		if err := handshake(t, eng.TLSConfig(nil), cc); (err == nil) != tc.ok {
			t.Errorf("client certificate %s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// handshake runs a TLS handshake between server and client configs over
// loopback and returns the server's error (or the client's).
func handshake(t *testing.T, server, client *tls.Config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(wait))
		s := tls.Server(c, server)
		err = s.Handshake()
		if err == nil {
			// TLS 1.3 client certificates are checked after the client's
			// Finished: read, so a refusal reaches the client.
			s.Write([]byte("x"))
		}
		done <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err == nil {
		c.SetDeadline(time.Now().Add(wait))
		_, err = c.Read(make([]byte, 1))
		c.Close()
	}
	if serr := <-done; serr != nil {
		return serr
	}
	return err
}

// kitchen is one daemon (master and a worker) running a configuration
// with several of serve's directives at once, started by the first test
// that needs it.
type kitchen struct {
	d                               *daemonProc
	dir, conf                       string
	sysLog, xferLog, trace, pidFile string
	u                               ftpUser
	parent                          *testing.T
}

// start returns the kitchen daemon; it runs when the test runs as root
// (TestServedDirectivesHaveEffect starts it, so that it lives as long as
// the whole test).
func (k *kitchen) start(t *testing.T) *kitchen {
	t.Helper()
	if k.d != nil {
		return k
	}
	requireRoot(t)
	if k.parent != t {
		t.Fatal("the kitchen daemon is started by TestServedDirectivesHaveEffect")
	}
	k.dir = worldDir(t)
	k.u = opsUsers(t, k.dir)
	cert, key := testpki.NewCA().Server(testpki.ECDSA).WriteFiles(t, k.dir, "server")
	k.sysLog, k.xferLog, k.trace, k.pidFile = filepath.Join(k.dir, "system.log"), filepath.Join(k.dir, "xferlog"), filepath.Join(k.dir, "trace.log"), filepath.Join(k.dir, "run", "ftpdtls.pid")
	if err := os.Mkdir(filepath.Dir(k.pidFile), 0o755); err != nil {
		t.Fatal(err)
	}
	text := fmt.Sprintf(`ServerName "kitchen sink"
ServerIdent on
DeferWelcome off
DefaultAddress 127.0.0.1
SocketBindTight on
PidFile %[2]s
SystemLog %[1]s/system.log
TransferLog %[1]s/xferlog
AuthUserFile %[1]s/ftpd.passwd
RequireValidShell off
DefaultRoot ~
AllowOverwrite on
MaxConnectionsPerHost 1 "only %%m from your host"
ModulePath /usr/lib/proftpd
LoadModule mod_tls.c
LoadModule mod_tls_shmcache.c
Include %[1]s/not-there.conf
TLSEngine on
TLSRequired off
TLSECCertificateFile %[3]s
TLSECCertificateKeyFile %[4]s
TLSSessionCache shm:/file=%[1]s/sess_cache 600
TraceLog %[1]s/trace.log
Trace tls.shmcache:9 tls:9
TraceOptions -Timestamp +ConnIPs
`, k.dir, k.pidFile, cert, key)
	k.conf = writeConf(t, k.dir, text)
	k.d = startDaemon(t, testOptions{ConfigPath: k.conf, Workers: 2})
	return k
}

// dial connects and reads the greeting, retrying while the daemon still
// counts the previous test's connection (MaxConnectionsPerHost 1: the
// master releases it once the worker reports the session's end).
func (k *kitchen) dial(t *testing.T) (*ftpConn, string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		f := dialFTP(t, k.d.addr)
		code, msg, _ := f.tp.ReadResponse(0)
		if code == 220 {
			return f, msg
		}
		f.c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("no greeting after %v (last reply %d %s)", wait, code, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the daemon's exit.
func (k *kitchen) stop() {
	if k.d == nil || k.stopped() {
		return
	}
	k.d.cmd.Process.Signal(syscall.SIGTERM)
	<-k.d.done
}

func (k *kitchen) stopped() bool {
	select {
	case <-k.d.done:
		return true
	default:
		return false
	}
}

func testKitchenGreeting(t *testing.T, k *kitchen) {
	k.start(t)
	f, g := k.dial(t)
	if g != "ftpdtls Server (kitchen sink) [127.0.0.1]" {
		t.Errorf("greeting %q", g)
	}
	f.cmd("QUIT")
}

// testKitchenMaxConnectionsPerHost: a second connection from the same
// address is refused with the directive's message while the first is open.
func testKitchenMaxConnectionsPerHost(t *testing.T, k *kitchen) {
	k.start(t)
	first, _ := k.dial(t)
	second := dialFTP(t, k.d.addr)
	code, msg, err := second.tp.ReadResponse(0)
	if code != 530 || msg != "only 1 from your host" {
		t.Errorf("second connection: %d %q (%v), want 530 with the directive's message", code, msg, err)
	}
	first.cmd("QUIT")
	first.c.Close()
	// Once the first is gone, a connection is served again.
	f, _ := k.dial(t)
	f.cmd("QUIT")
}

// testKitchenTransferLog: an upload is logged in xferlog format (ASCII:
// the client sent no TYPE, and ProFTPD starts sessions in ASCII mode).
func testKitchenTransferLog(t *testing.T, k *kitchen) {
	k.start(t)
	f, _ := k.dial(t)
	f.login(k.u.name, k.u.password)
	if code, msg := f.stor("logged.txt", []byte("twelve bytes")); code != 226 {
		t.Fatalf("STOR: %d %s", code, msg)
	}
	f.cmd("QUIT")
	line := waitFile(t, k.xferLog, regexp.MustCompile(`logged\.txt`), 1)
	if !regexp.MustCompile(`(?m)^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} \d+ 127\.0\.0\.1 12 ` + regexp.QuoteMeta(k.u.home) + `/logged\.txt a _ i r alice ftp 0 \* c$`).MatchString(line) {
		t.Errorf("xferlog:\n%s", line)
	}
	// TransferLog none: nothing is opened.
	dir := t.TempDir()
	opsUsers(t, dir)
	path := filepath.Join(dir, "none.conf")
	os.WriteFile(path, []byte("AuthUserFile "+dir+"/ftpd.passwd\nTransferLog none\n"), 0o600)
	cfg, err := Load(path, "", newSystemLog(&syncLog{}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Close()
	if cfg.FTP.TransferLog != nil {
		t.Error("TransferLog none opened a log")
	}
}

// testKitchenSystemLog: the server log goes to SystemLog, in ProFTPD's
// format, with the start-up line and the sessions; nothing on stderr.
func testKitchenSystemLog(t *testing.T, k *kitchen) {
	k.start(t)
	f, _ := k.dial(t)
	f.login(k.u.name, k.u.password)
	f.cmd("QUIT")
	text := waitFile(t, k.sysLog, regexp.MustCompile(`USER alice: Login successful\.`), 1)
	for _, re := range []string{
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S+ ftpdtls\[\d+\] 127\.0\.0\.1: ftpdtls \S+ \(go\S+\) standalone mode STARTUP$`,
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \S+ ftpdtls\[\d+\] 127\.0\.0\.1 \(127\.0\.0\.1\[127\.0\.0\.1\]\): USER alice: Login successful\.$`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("SystemLog lacks %s:\n%s", re, text)
		}
	}
	if s := k.d.log.String(); strings.TrimSpace(s) != "" {
		t.Errorf("serve wrote to standard error though SystemLog is set:\n%s", s)
	}
}

// testKitchenLoadModule: LoadModule of the modules ftpdtls links says
// nothing (no "unable to load", no "already loaded"), and the parser's
// warnings are logged once, not by every worker.
func testKitchenLoadModule(t *testing.T, k *kitchen) {
	k.start(t)
	text := waitFile(t, k.sysLog, regexp.MustCompile(`generation 1 ready`), 1)
	for _, bad := range []string{"mod_dso", "already loaded", "unable to load"} {
		if strings.Contains(text, bad) {
			t.Errorf("SystemLog has %q:\n%s", bad, text)
		}
	}
	// Two workers, one master: the parser's warning once.
	if n := strings.Count(text, "unable to include '"+k.dir+"/not-there.conf'"); n != 1 {
		t.Errorf("the Include warning is logged %d times, want once:\n%s", n, text)
	}
}

// testKitchenTrace: Trace levels select the lines of TraceLog, in every
// process; TraceOptions -Timestamp removes the timestamp and +ConnIPs
// shows the connection on the lines of a TLS handshake (not on the
// daemon's own).
func testKitchenTrace(t *testing.T, k *kitchen) {
	k.start(t)
	f, _ := k.dial(t)
	f.expect(234, "AUTH TLS")
	// A client session cache makes crypto/tls offer resumption, for which
	// the server issues a session.
	tc := tls.Client(f.c, &tls.Config{InsecureSkipVerify: true, ClientSessionCache: tls.NewLRUClientSessionCache(1)})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("AUTH TLS handshake: %v", err)
	}
	tc.Write([]byte("QUIT\r\n"))
	tc.Read(make([]byte, 64))
	tc.Close()
	text := waitFile(t, k.trace, regexp.MustCompile(`<tls:9>: adding new SSL session to 'shm' cache`), 1)
	record := regexp.MustCompile(`^\[(\d+)\] (\(client ([\d.]+), server ([\d.:]+)\) )?<(tls\.shmcache|tls):(\d+)>: (.*)$`)
	var withConn, daemonLevel int
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		m := record.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("trace line %q: not -Timestamp's form", l)
			continue
		}
		if lv := m[6]; len(lv) != 1 {
			t.Errorf("trace line %q beyond its channel's levels (1-9)", l)
		}
		switch {
		case m[2] != "":
			withConn++
			if m[3] != "127.0.0.1" || m[4] != k.d.addr {
				t.Errorf("trace line %q: connection is not the client's and the server's (%s)", l, k.d.addr)
			}
		case strings.HasPrefix(m[7], "opening shmcache"):
			daemonLevel++
		}
		if strings.HasPrefix(m[7], "adding new SSL session") && m[2] == "" {
			t.Errorf("handshake trace line without its connection: %q", l)
		}
	}
	if withConn == 0 || daemonLevel == 0 {
		t.Errorf("%d lines with a connection, %d daemon lines:\n%s", withConn, daemonLevel, text)
	}
}

// testKitchenPidFile: the master's pid while it runs (checkStopped checks
// that it is gone once the daemon stops).
func testKitchenPidFile(t *testing.T, k *kitchen) {
	k.start(t)
	b, err := os.ReadFile(k.pidFile)
	if err != nil || strings.TrimSpace(string(b)) != fmt.Sprint(k.d.cmd.Process.Pid) {
		t.Fatalf("PidFile %q (%v), want the master's pid %d", b, err, k.d.cmd.Process.Pid)
	}
	if _, err := os.Stat(k.pidFile + ".state"); err != nil {
		t.Errorf("no state next to the PidFile: %v", err)
	}
}

// checkStopped stops the kitchen daemon, if it ran: its PidFile and
// state are removed, and its SystemLog ends with ProFTPD's lines.
func (k *kitchen) checkStopped(t *testing.T) {
	if k.d == nil {
		return
	}
	k.stop()
	for _, f := range []string{k.pidFile, k.pidFile + ".state"} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after the server stopped: %v", f, err)
		}
	}
	if text, _ := os.ReadFile(k.sysLog); !regexp.MustCompile(`ftpdtls killed \(signal 15\)\n.*standalone mode SHUTDOWN\n$`).Match(text) {
		t.Errorf("SystemLog does not end with the shutdown lines:\n%s", text)
	}
}

// TestServeRefusesWhatCheckServeReturns: serve refuses at start exactly
// what CheckServe returns (which `ftpdtls check` prints), every line, in
// the same order, and starts no worker.
func TestServeRefusesWhatCheckServeReturns(t *testing.T) {
	dir := worldDir(t)
	opsUsers(t, dir)
	text := "AuthUserFile " + dir + "/ftpd.passwd\nDisplayLogin welcome.msg\nWtmpLog on\n" +
		"<VirtualHost 127.0.0.2>\n  ServerName other\n</VirtualHost>\n<Anonymous " + dir + ">\n  User ftp\n</Anonymous>\n" +
		"<IfModule mod_tls.c>\n  TLSOptions StdEnvVars\n</IfModule>\nLoadModule mod_ban.c\n"
	conf := writeConf(t, dir, text)
	cfg, err := Parse(conf, "")
	if err != nil {
		t.Fatal(err)
	}
	errs, _ := CheckServe(cfg)
	wantLines := []int{2, 3, 4, 7, 11, 13}
	if len(errs) != len(wantLines) {
		t.Fatalf("CheckServe: %d errors, want %d: %v", len(errs), len(wantLines), errs)
	}
	for i, e := range errs {
		if e.Line != wantLines[i] || !errors.Is(e, ErrNotSupported) {
			t.Errorf("error %d: %v, want a refusal on line %d", i, e, wantLines[i])
		}
	}
	for _, workers := range []int{0, 2} {
		d := launchDaemon(t, testOptions{ConfigPath: conf, Workers: workers, InProcess: workers == 0 && os.Geteuid() != 0})
		if code, _ := d.exit(); code != 1 {
			t.Fatalf("-workers %d: serve started (status %d):\n%s", workers, code, d.log)
		}
		log := d.log.String()
		at := 0
		for _, e := range errs {
			i := strings.Index(log[at:], e.Error())
			if i < 0 {
				t.Errorf("-workers %d: serve does not refuse with %q (in order):\n%s", workers, e.Error(), log)
				break
			}
			at += i
		}
		if strings.Contains(log, "worker 1") {
			t.Errorf("-workers %d: a worker started for a refused configuration:\n%s", workers, log)
		}
	}
}

// TestDefaultConfigurationChecksClean: the embedded default configuration
// (and the effective file it writes for the cache controls) has nothing
// serve refuses or warns about.
func TestDefaultConfigurationChecksClean(t *testing.T) {
	h := testHome(t)
	cfg, err := Parse("", h.Dir)
	if err != nil {
		t.Fatal(err)
	}
	errs, warnings := CheckServe(cfg)
	if len(errs) > 0 || len(warnings) > 0 || len(cfg.Warnings) > 0 {
		t.Errorf("default configuration: errors %v, warnings %v %v", errs, warnings, cfg.Warnings)
	}
	eff, err := Parse(h.ConfigFile(), "")
	if err != nil {
		t.Fatal(err)
	}
	if errs, warnings := CheckServe(eff); len(errs) > 0 || len(warnings) > 0 {
		t.Errorf("effective configuration: errors %v, warnings %v", errs, warnings)
	}
	for _, want := range []string{"User", "Group", "DefaultRoot", "AllowOverwrite", "MaxLoginAttempts", "TimeoutIdle", "MaxClients", "TLSRequired", "TLSProtocol", "TLSSessionCache", "PidFile", "TransferLog"} {
		if len(cfg.Main.Directives(want)) == 0 && (os.Geteuid() == 0 || (want != "User" && want != "Group")) {
			t.Errorf("the default configuration does not show %s", want)
		}
	}
	if os.Geteuid() != 0 && !strings.Contains(DefaultConf(), "\n# User ") {
		t.Error("not root, the default configuration's User line is not commented out")
	}
}

// TestExampleChecksCleanAndServes: examples/proftpd.conf, after the one
// setup step its header gives (run as written, with the example's paths
// moved to a test directory), has nothing serve refuses or warns about,
// serves with two workers, and a client logs in with the password the
// step chose and lists the served directory over FTPS.
func TestExampleChecksCleanAndServes(t *testing.T) {
	requireRoot(t)
	curl := testpeers.Need(t, "curl")
	testpeers.Need(t, "openssl")
	if _, _, err := lookupUser("proftpd"); err != nil {
		t.Skipf("no proftpd account (Debian's proftpd package makes it): %v", err)
	}
	text, err := os.ReadFile("../../examples/proftpd.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := worldDir(t)
	cert, key := testpki.NewCA().Server(testpki.RSA).WriteFiles(t, dir, "snakeoil")
	move := strings.NewReplacer("/run/ftpdtls", dir+"/run", "/etc/ftpdtls", dir+"/etc", "/srv/ftp", dir+"/srv",
		"/var/log/proftpd", dir+"/log", "/etc/ssl/certs/ssl-cert-snakeoil.pem", cert, "/etc/ssl/private/ssl-cert-snakeoil.key", key)
	m := regexp.MustCompile(`(?m)^#   (umask 077; install .*)$`).FindStringSubmatch(string(text))
	if m == nil {
		t.Fatal("the example's header gives no setup step")
	}
	if err := os.Mkdir(dir+"/log", 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("/bin/sh", "-c", move.Replace(m[1])).CombinedOutput(); err != nil {
		t.Fatalf("setup step: %v\n%s", err, out)
	}
	os.WriteFile(dir+"/srv/README", []byte("served\n"), 0o644)
	conf := writeConf(t, dir, move.Replace(string(text)))
	cfg, err := Parse(conf, "")
	if err != nil {
		t.Fatal(err)
	}
	errs, warnings := CheckServe(cfg)
	if len(errs) > 0 || len(warnings) > 0 || len(cfg.Warnings) > 0 {
		t.Fatalf("the example after its setup step: errors %v, warnings %v %v", errs, warnings, cfg.Warnings)
	}
	d := startDaemon(t, testOptions{ConfigPath: conf, Workers: 2})
	d.waitLog(`generation 1 ready`)
	// Two workers, and not one warning (no "mod_dso ... unable to load"
	// for the example's LoadModule lines).
	if log := d.log.String(); strings.Contains(log, "warning:") || strings.Contains(log, "mod_dso") {
		t.Errorf("serve warns about the example:\n%s", log)
	}
	out, err := exec.Command(curl, "-s", "-k", "--ssl-reqd", "--user", "alice:choose a password", "ftp://"+d.addr+"/").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "README") {
		t.Errorf("curl: %v\n%s", err, out)
	}
	d.signal(syscall.SIGTERM)
	if code, err := d.exit(); code != 0 {
		t.Errorf("serve: status %d (%v)", code, err)
	}
	if _, err := os.Stat(dir + "/run/ftpdtls.pid"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("PidFile left behind: %v", err)
	}
}

// docsServe is the operators' guide that lists what serve applies.
const docsServe = "../../docs/SERVE.md"

// The generated part of docs/SERVE.md: the table of servedDirectives.
const (
	docTableStart = "<!-- served directives: generated from internal/daemon/checkserve.go by TestServeDocListsServedDirectives; FTPDTLS_UPDATE_DOCS=1 rewrites it -->\n"
	docTableEnd   = "<!-- end of served directives -->\n"
)

// servedTable renders servedDirectives as docs/SERVE.md shows them.
func servedTable() string {
	var b strings.Builder
	b.WriteString("| directive | applied by | what `ftpdtls serve` does |\n|---|---|---|\n")
	for _, d := range servedDirectives {
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", d.name, d.by, strings.ReplaceAll(d.how, "|", "\\|"))
	}
	return b.String()
}

// TestServeDocListsServedDirectives: docs/SERVE.md lists exactly the
// directives serve applies, as the table in checkserve.go says.
func TestServeDocListsServedDirectives(t *testing.T) {
	b, err := os.ReadFile(docsServe)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, docTableStart), strings.Index(doc, docTableEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated table (markers %q ... %q)", docsServe, docTableStart, docTableEnd)
	}
	want := servedTable()
	if got := doc[i+len(docTableStart) : j]; got != want {
		if os.Getenv("FTPDTLS_UPDATE_DOCS") == "1" {
			if err := os.WriteFile(docsServe, []byte(doc[:i+len(docTableStart)]+want+doc[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("%s's table of served directives is not checkserve.go's; run FTPDTLS_UPDATE_DOCS=1 go test -run TestServeDocListsServedDirectives ./internal/daemon/", docsServe)
	}
}
