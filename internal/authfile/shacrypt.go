package authfile

import (
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SHA-512 crypt, "$6$", as specified by Ulrich Drepper ("Unix crypt using
// SHA-256 and SHA-512", the scheme of glibc's crypt(3)). Only the steps
// are followed here; the names below are the spec's.

const (
	roundsDefault = 5000
	roundsMin     = 1000
	roundsMax     = 999999999
	saltMax       = 16
	cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrUnsupportedHash: the hash is not a "$6$" SHA-512 crypt string.
var ErrUnsupportedHash = errors.New("unsupported password hash (only $6$ SHA-512 crypt is supported)")

// SHA512Crypt hashes password with the settings of setting ("$6$salt" or
// "$6$rounds=N$salt", optionally followed by "$hash", which is ignored)
// and returns the full crypt string.
func SHA512Crypt(password, setting string) (string, error) {
	rest, ok := strings.CutPrefix(setting, "$6$")
	if !ok {
		return "", ErrUnsupportedHash
	}
	rounds, custom := roundsDefault, false
	if r, after, ok := strings.Cut(rest, "$"); ok && strings.HasPrefix(r, "rounds=") {
		n, err := strconv.ParseUint(strings.TrimPrefix(r, "rounds="), 10, 64)
		if err != nil {
			return "", fmt.Errorf("bad rounds in %q: %w", setting, err)
		}
		rounds, custom, rest = int(min(max(n, roundsMin), roundsMax)), true, after
	}
	salt, _, _ := strings.Cut(rest, "$")
	if len(salt) > saltMax {
		salt = salt[:saltMax]
	}

	pw, s := []byte(password), []byte(salt)

	// Digest B: password, salt, password.
	h := sha512.New()
	h.Write(pw)
	h.Write(s)
	h.Write(pw)
	b := h.Sum(nil)

	// Digest A: password, salt, then B for as many bytes as the password
	// has, then for each bit of the password length B (1) or password (0).
	h.Reset()
	h.Write(pw)
	h.Write(s)
	for n := len(pw); n > 0; n -= len(b) {
		h.Write(b[:min(n, len(b))])
	}
	for n := len(pw); n > 0; n >>= 1 {
		if n&1 != 0 {
			h.Write(b)
		} else {
			h.Write(pw)
		}
	}
	a := h.Sum(nil)

	// Sequence P: the digest of the password repeated once per byte,
	// stretched to the password's length.
	h.Reset()
	for range len(pw) {
		h.Write(pw)
	}
	p := stretch(h.Sum(nil), len(pw))

	// Sequence S: the digest of the salt repeated 16+A[0] times,
	// stretched to the salt's length.
	h.Reset()
	for range 16 + int(a[0]) {
		h.Write(s)
	}
	sq := stretch(h.Sum(nil), len(s))

	// The rounds.
	c := a
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(sq)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}

	var out strings.Builder
	out.WriteString("$6$")
	if custom {
		fmt.Fprintf(&out, "rounds=%d$", rounds)
	}
	out.WriteString(salt)
	out.WriteByte('$')
	// The spec's byte order for SHA-512: 21 groups of three bytes taken
	// at i, i+21, i+42 with a rotating start, then the last byte.
	for i := range 21 {
		x, y, z := order512(i)
		b64(&out, uint32(c[x])<<16|uint32(c[y])<<8|uint32(c[z]), 4)
	}
	b64(&out, uint32(c[63]), 2)
	return out.String(), nil
}

// order512 returns the indexes of the i-th 3-byte group of the SHA-512
// crypt encoding: (0,21,42), (22,43,1), (44,2,23), (3,24,45), ...
func order512(i int) (int, int, int) {
	a, b, c := i, i+21, i+42
	switch i % 3 {
	case 1:
		a, b, c = b, c, a
	case 2:
		a, b, c = c, a, b
	}
	return a, b, c
}

// stretch repeats d to n bytes.
func stretch(d []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, d[:min(len(d), n-len(out))]...)
	}
	return out
}

func b64(out *strings.Builder, w uint32, n int) {
	for range n {
		out.WriteByte(cryptAlphabet[w&0x3f])
		w >>= 6
	}
}

// CheckPassword reports whether password matches the crypt string hash.
func CheckPassword(hash, password string) (bool, error) {
	got, err := SHA512Crypt(password, hash)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1, nil
}
