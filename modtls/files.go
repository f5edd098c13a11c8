package modtls

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ftpdtls/ftpdtls/directives"
)

// The checks mod_tls makes of the files and directories its directives
// name, with its messages.

// certificateFile handles TLSRSACertificateFile and TLSECCertificateFile
// in mod_tls's order: the path must be absolute, then the file must hold
// a PEM certificate (of any key type: a mismatch shows when the server
// starts).
//
// For a `proftpd -t` verdict it also gives mod_tls's notices about the
// first certificate: a key of another type than the directive's
// ("expected RSA certificate, found EC"), and an expired certificate.
func certificateFile(keyType string, field func(*Settings) *string) directives.Handler {
	return func(cmd *directives.Cmd) error {
		path := cmd.Args[0]
		if !cmd.Replay {
			if !strings.HasPrefix(path, "/") {
				return errNotAbsolute
			}
			data, err := os.ReadFile(path)
			if err != nil || !hasPEM(data, isCertificate) {
				return fmt.Errorf("'%s' does not exist or does not contain a certificate", path)
			}
			if cmd.ProFTPD() {
				certificateNotices(cmd, path, data, keyType)
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
// certificate, which `ftpdtls check` says. The path is kept for a
// `proftpd -t` verdict (checkPassphrases).
func dsaFile(check func(cmd *directives.Cmd) error, field func(*Settings) *string) directives.Handler {
	return func(cmd *directives.Cmd) error {
		if !cmd.Replay {
			if err := check(cmd); err != nil {
				return err
			}
			if !cmd.ProFTPD() { // a real ProFTPD serves them
				cmd.Warnf("%s: '%s' is ignored: ftpdtls cannot serve DSA certificates", cmd.Name, cmd.Args[0])
			}
		}
		if st := settingsFor(cmd); st.first(cmd.Name) {
			*field(st) = cmd.Args[0]
		}
		return nil
	}
}

// checkDSACertificate: the path must be absolute, the file exist and hold
// a certificate (with mod_tls's notices for a `proftpd -t` verdict).
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
	if cmd.ProFTPD() {
		certificateNotices(cmd, path, data, "DSA")
	}
	return nil
}

// certificateNotices gives mod_tls's notices about the first certificate
// of a TLS*CertificateFile (OpenSSL's PEM_read_X509 reads that one):
// its key is not of the directive's type, or it has expired.
func certificateNotices(cmd *directives.Cmd, path string, data []byte, keyType string) {
	var cert *x509.Certificate
	for rest := data; cert == nil; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return
		}
		if b.Type == "CERTIFICATE" || b.Type == "X509 CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return
			}
			cert = c
		}
	}
	found := "unknown"
	switch cert.PublicKeyAlgorithm {
	case x509.RSA:
		found = "RSA"
	case x509.DSA:
		found = "DSA"
	case x509.ECDSA:
		found = "EC"
	}
	if found != keyType {
		cmd.Warnf("%s: certificate '%s': expected %s certificate, found %s", ModuleVersion, path, keyType, found)
	}
	if cert.NotAfter.Before(time.Now()) {
		// OpenSSL's ASN1_TIME_print.
		cmd.Warnf("%s: certificate '%s': expired on %s", ModuleVersion, path, cert.NotAfter.UTC().Format("Jan _2 15:04:05 2006 GMT"))
	}
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

// directoryPath handles TLSCACertificatePath and TLSCARevocationPath: the
// directory must exist, then its path must be absolute.
func directoryPath(field func(*Settings) *string) directives.Handler {
	return func(cmd *directives.Cmd) error {
		path := cmd.Args[0]
		if !cmd.Replay {
			if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
				return errors.New("parameter must be a directory path")
			}
			if !strings.HasPrefix(path, "/") {
				return errNotAbsolute
			}
		}
		if st := settingsFor(cmd); st.first(cmd.Name) {
			*field(st) = path
		}
		return nil
	}
}

// setPKCS12File checks TLSPKCS12File as mod_tls does: the file must
// exist and not be a directory (mod_tls's file_exists2 test, which says
// "does not exist" of a directory), then its path must be absolute.
// ftpdtls cannot read PKCS#12 files, so outside a `proftpd -t` verdict
// the directive is refused with what to do instead; for the verdict, the
// file is read as mod_tls reads it when the configuration is complete
// (checkPassphrases).
func setPKCS12File(cmd *directives.Cmd) error {
	path := cmd.Args[0]
	if !cmd.Replay {
		if fi, err := os.Stat(path); err != nil || fi.IsDir() {
			return fmt.Errorf("'%s' does not exist", path)
		}
		if !strings.HasPrefix(path, "/") {
			return errNotAbsolute
		}
		if !cmd.ProFTPD() {
			return fmt.Errorf("'%s': PKCS#12 files are not supported by ftpdtls serve; "+
				"convert it (openssl pkcs12 -in %s -nodes) and use TLSRSACertificateFile/TLSECCertificateFile", path, path)
		}
	}
	if st := settingsFor(cmd); st.first(cmd.Name) {
		st.PKCS12File = path
	}
	return nil
}

// checkPassPhraseProvider checks TLSPassPhraseProvider as mod_tls does:
// an absolute path to a regular file (its message lacks a closing
// quote). ftpdtls never runs the program.
func checkPassPhraseProvider(cmd *directives.Cmd) error {
	path := cmd.Args[0]
	if cmd.Replay {
		return nil
	}
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("must be a full path: '%s'", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("error checking '%s': %s", path, directives.Strerror(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("unable to use '%s: Not a regular file", path)
	}
	return nil
}
