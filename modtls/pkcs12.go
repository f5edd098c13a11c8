package modtls

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"hash"
)

// What mod_tls does with a TLSPKCS12File when the configuration is
// complete (its postparse listener): it opens the file with OpenSSL and,
// unless the file opens without a password (no password, or the empty
// one), asks for the password on the terminal. `proftpd -t` has none, so
// it logs "error reading PKCS12 password: ..." and "unable to use PKCS12
// certificate in '...', exiting", and exits. ftpdtls serves no PKCS#12
// file; it reads the file only to give that verdict.
//
// pkcs12Unusable tells whether OpenSSL 3.0 (Debian 12's) would open data
// without a password: a DER PFX whose authenticated safe is plain data,
// with a MAC that verifies with no password or the empty one, and whose
// encrypted parts use no algorithm OpenSSL 3.0 keeps in its legacy
// provider (RC2, RC4, single DES), which mod_tls does not load. The
// encrypted parts are not decrypted. It returns "" for a usable file,
// else the reason mod_tls prints: "(unknown)" for an empty file (OpenSSL
// queues no error), "Not provided" otherwise (mod_tls's text when it
// cannot render OpenSSL's errors at that point).
//
// provided is set when a TLSPassPhraseProvider is configured: a file
// whose MAC needs a password then counts as opening (ProFTPD would run
// the program for it; ftpdtls runs nothing).
func pkcs12Unusable(data []byte, provided bool) string {
	if len(data) == 0 {
		return "(unknown)"
	}
	if err := pkcs12OpensWithoutPassword(data, provided); err != nil {
		return "Not provided"
	}
	return ""
}

var (
	oidData             = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKeyBag   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
	oidPBES2            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	errPKCS12           = errors.New("not a PKCS#12 file OpenSSL opens without a password")
	pkcs12LegacyCiphers = map[string]bool{}
)

// pkcs12MACDigests are the MAC digests OpenSSL 3.0's default provider has.
var pkcs12MACDigests = map[string]func() hash.Hash{
	"1.2.840.113549.2.5":     md5.New,
	"1.3.14.3.2.26":          sha1.New,
	"2.16.840.1.101.3.4.2.1": sha256.New,
	"2.16.840.1.101.3.4.2.2": sha512.New384,
	"2.16.840.1.101.3.4.2.3": sha512.New,
	"2.16.840.1.101.3.4.2.4": sha256.New224,
	"2.16.840.1.101.3.4.2.5": sha512.New512_224,
	"2.16.840.1.101.3.4.2.6": sha512.New512_256,
}

func init() {
	// Encryption algorithms that OpenSSL 3.0 has only in its legacy
	// provider: PKCS#12's RC4 and RC2 PBEs, PKCS#5 v1.5's DES and RC2
	// PBEs, and DES or RC2 as PBES2's scheme.
	for _, oid := range []string{
		"1.2.840.113549.1.12.1.1", "1.2.840.113549.1.12.1.2", // pbeWithSHAAnd128BitRC4, 40BitRC4
		"1.2.840.113549.1.12.1.5", "1.2.840.113549.1.12.1.6", // pbeWithSHAAnd128BitRC2-CBC, 40BitRC2-CBC
		"1.2.840.113549.1.5.1", "1.2.840.113549.1.5.3", "1.2.840.113549.1.5.4", // MD2/MD5 with DES, MD2 with RC2
		"1.2.840.113549.1.5.6", "1.2.840.113549.1.5.10", "1.2.840.113549.1.5.11", // MD5 with RC2, SHA1 with DES, SHA1 with RC2
		"1.3.14.3.2.7",       // des-cbc
		"1.2.840.113549.3.2", // rc2-cbc
		"1.2.840.113549.3.4", // rc4
	} {
		pkcs12LegacyCiphers[oid] = true
	}
}

type pfxPDU struct {
	Version  int
	AuthSafe pkcs7ContentInfo
	MacData  pkcs12MacData `asn1:"optional"`
}

type pkcs7ContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type pkcs12MacData struct {
	Mac struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	MacSalt    []byte
	Iterations int `asn1:"optional,default:1"`
}

type pkcs12SafeBag struct {
	ID         asn1.ObjectIdentifier
	Value      asn1.RawValue `asn1:"tag:0,explicit"`
	Attributes asn1.RawValue `asn1:"optional"`
}

type pkcs7EncryptedData struct {
	Version int
	Content struct {
		ContentType asn1.ObjectIdentifier
		Algorithm   pkix.AlgorithmIdentifier
		Encrypted   asn1.RawValue `asn1:"tag:0,optional"`
	}
}

type pkcs8Encrypted struct {
	Algorithm pkix.AlgorithmIdentifier
	Encrypted []byte
}

type pbes2Params struct {
	KDF    pkix.AlgorithmIdentifier
	Scheme pkix.AlgorithmIdentifier
}

// pkcs12OpensWithoutPassword is the test pkcs12Unusable describes.
func pkcs12OpensWithoutPassword(der []byte, provided bool) error {
	var pfx pfxPDU
	if _, err := asn1.Unmarshal(der, &pfx); err != nil {
		return err
	}
	if !pfx.AuthSafe.ContentType.Equal(oidData) || pfx.MacData.Mac.Digest == nil {
		return errPKCS12 // public-key integrity mode, or no MAC: a password is asked for
	}
	var safe []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &safe); err != nil {
		return err
	}
	if !provided && !pkcs12MACVerifies(pfx.MacData, safe, nil) && !pkcs12MACVerifies(pfx.MacData, safe, []byte{0, 0}) {
		return errPKCS12
	}
	var parts []pkcs7ContentInfo
	if _, err := asn1.Unmarshal(safe, &parts); err != nil {
		return err
	}
	for _, ci := range parts {
		switch {
		case ci.ContentType.Equal(oidData):
			var contents []byte
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &contents); err != nil {
				return err
			}
			var bags []pkcs12SafeBag
			if _, err := asn1.Unmarshal(contents, &bags); err != nil {
				return err
			}
			for _, b := range bags {
				if !b.ID.Equal(oidShroudedKeyBag) {
					continue
				}
				var key pkcs8Encrypted
				if _, err := asn1.Unmarshal(b.Value.Bytes, &key); err != nil {
					return err
				}
				if err := pkcs12CipherAvailable(key.Algorithm); err != nil {
					return err
				}
			}
		case ci.ContentType.Equal(oidEncryptedData):
			var ed pkcs7EncryptedData
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				return err
			}
			if err := pkcs12CipherAvailable(ed.Content.Algorithm); err != nil {
				return err
			}
		}
	}
	return nil
}

// pkcs12CipherAvailable refuses the algorithms of OpenSSL 3.0's legacy
// provider, directly or as PBES2's encryption scheme.
func pkcs12CipherAvailable(alg pkix.AlgorithmIdentifier) error {
	if pkcs12LegacyCiphers[alg.Algorithm.String()] {
		return errPKCS12
	}
	if alg.Algorithm.Equal(oidPBES2) {
		var p pbes2Params
		if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil {
			return err
		}
		if pkcs12LegacyCiphers[p.Scheme.Algorithm.String()] {
			return errPKCS12
		}
	}
	return nil
}

// pkcs12MACVerifies checks the PFX's MAC over data with the password
// given as PKCS#12's BMPString bytes (nil: OpenSSL's NULL password, no
// bytes at all; {0, 0}: the empty password, its terminator alone).
func pkcs12MACVerifies(m pkcs12MacData, data, password []byte) bool {
	newHash := pkcs12MACDigests[m.Mac.Algorithm.Algorithm.String()]
	if newHash == nil || m.Iterations < 1 {
		return false
	}
	key := pkcs12KDF(newHash, 3, password, m.MacSalt, m.Iterations, newHash().Size())
	mac := hmac.New(newHash, key)
	mac.Write(data)
	return hmac.Equal(mac.Sum(nil), m.Mac.Digest)
}

// pkcs12KDF is PKCS#12's key derivation (RFC 7292, appendix B.2): n
// bytes of key material of purpose id (3: MAC key) from the password,
// the salt and the iteration count.
func pkcs12KDF(newHash func() hash.Hash, id byte, password, salt []byte, iterations, n int) []byte {
	h := newHash()
	u, v := h.Size(), h.BlockSize()
	fill := func(b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		out := make([]byte, v*((len(b)+v-1)/v))
		for i := range out {
			out[i] = b[i%len(b)]
		}
		return out
	}
	d := make([]byte, v)
	for i := range d {
		d[i] = id
	}
	in := append(fill(salt), fill(password)...)
	out := make([]byte, 0, n+u)
	b := make([]byte, v)
	for len(out) < n {
		h.Reset()
		h.Write(d)
		h.Write(in)
		a := h.Sum(nil)
		for j := 1; j < iterations; j++ {
			h.Reset()
			h.Write(a)
			a = h.Sum(a[:0])
		}
		out = append(out, a...)
		if len(out) >= n {
			break
		}
		for i := range b {
			b[i] = a[i%u]
		}
		// Each v-byte block of the input becomes (block + b + 1) mod 2^(8v).
		for j := 0; j < len(in); j += v {
			carry := 1
			for k := v - 1; k >= 0; k-- {
				s := int(in[j+k]) + int(b[k]) + carry
				in[j+k] = byte(s)
				carry = s >> 8
			}
		}
	}
	return out[:n]
}
