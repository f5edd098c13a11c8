// Package authfile reads ProFTPD's AuthUserFile: a file in /etc/passwd
// format whose second field is a crypt(3) hash,
//
//	name:hash:uid:gid:gecos:home:shell
//
// (ftpasswd writes such files). The uid and gid are the identity the
// user's sessions act with; the home directory is where they start (and
// their root with "DefaultRoot ~"). The shell is what RequireValidShell
// checks (ValidShell); InFtpUsers reads /etc/ftpusers for UseFtpUsers.
// AuthGroupFile, in /etc/group format, gives the supplementary groups
// and the group names (LoadGroups).
//
// Only SHA-512 crypt ("$6$", the ftpasswd and glibc default) hashes are
// accepted; lines with other hashes are reported by Load and never match.
package authfile

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// User is one line of the file.
type User struct {
	Name, Hash string
	Uid, Gid   uint32
	Gecos      string
	Home       string
	Shell      string
}

// File is a loaded AuthUserFile. It is read once; SIGHUP reloads the
// configuration and with it the file.
type File struct {
	Path  string
	users map[string]User
}

// Load reads path. Malformed lines and unsupported hashes are returned as
// warnings; they do not stop the load, as ProFTPD skips bad lines.
func Load(path string) (*File, []string, error) {
	af := &File{Path: path, users: make(map[string]User)}
	warnings, err := readRecords("AuthUserFile", path, 7, func(fields []string) string {
		u := User{Name: fields[0], Hash: fields[1], Gecos: fields[4], Home: fields[5], Shell: fields[6]}
		uid, uerr := strconv.ParseUint(fields[2], 10, 32)
		gid, gerr := strconv.ParseUint(fields[3], 10, 32)
		if uerr != nil || gerr != nil {
			return fmt.Sprintf("user %s: bad uid %q or gid %q", u.Name, fields[2], fields[3])
		}
		u.Uid, u.Gid = uint32(uid), uint32(gid)
		if !strings.HasPrefix(u.Hash, "$6$") {
			return fmt.Sprintf("user %s: %v", u.Name, ErrUnsupportedHash)
		}
		if _, dup := af.users[u.Name]; !dup { // the first line wins, as getpwnam
			af.users[u.Name] = u
		}
		return ""
	})
	if err != nil {
		return nil, nil, err
	}
	return af, warnings, nil
}

// readRecords reads path, a file of the directive kind (AuthUserFile,
// AuthGroupFile), and gives add the fields of each line that is not empty
// or a comment. A line without nfields ':'-separated fields, or for which
// add returns a warning, is skipped and reported as "path line n: ...".
func readRecords(kind, path string, nfields int, add func(fields []string) (warning string)) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	defer f.Close()
	var warnings []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var warning string
		if fields := strings.Split(line, ":"); len(fields) != nfields {
			warning = fmt.Sprintf("want %d ':'-separated fields, got %d", nfields, len(fields))
		} else {
			warning = add(fields)
		}
		if warning != "" {
			warnings = append(warnings, fmt.Sprintf("%s line %d: %s", path, n, warning))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", kind, path, err)
	}
	return warnings, nil
}

// ErrLoginIncorrect is returned for unknown users and wrong passwords.
var ErrLoginIncorrect = errors.New("login incorrect")

// Authenticate checks password and returns the user's home directory.
func (f *File) Authenticate(name, password string) (string, error) {
	u, err := f.Check(name, password)
	return u.Home, err
}

// Check checks password and returns the user's entry.
func (f *File) Check(name, password string) (User, error) {
	u, ok := f.users[name]
	if !ok {
		// Spend the same time on unknown users as on known ones.
		_, _ = CheckPassword(dummyHash, password)
		return User{}, fmt.Errorf("no such user %q in %s: %w", name, f.Path, ErrLoginIncorrect)
	}
	match, err := CheckPassword(u.Hash, password)
	if err != nil {
		return User{}, err
	}
	if !match {
		return User{}, fmt.Errorf("user %q: wrong password: %w", name, ErrLoginIncorrect)
	}
	return u, nil
}

// Names returns the user names by uid (the first line of each uid wins),
// for listings.
func (f *File) Names() map[uint32]string {
	m := make(map[uint32]string, len(f.users))
	for _, u := range f.users {
		if old, ok := m[u.Uid]; !ok || u.Name < old {
			m[u.Uid] = u.Name
		}
	}
	return m
}

// Homes returns the home directories by user name, for the <Directory
// ~name> sections of the access policy.
func (f *File) Homes() map[string]string {
	m := make(map[string]string, len(f.users))
	for _, u := range f.users {
		m[u.Name] = u.Home
	}
	return m
}

var dummyHash = "$6$ftpdtlsdummysalt$"

// Users returns the number of usable users.
func (f *File) Users() int { return len(f.users) }

// Line formats an AuthUserFile line for name with a fresh SHA-512 crypt
// hash of password, uid and gid 65534 and the given home.
func Line(name, password, home string) (string, error) {
	return LineFor(name, password, 65534, 65534, home)
}

// LineFor is Line with the given uid and gid.
func LineFor(name, password string, uid, gid uint32, home string) (string, error) {
	hash, err := SHA512Crypt(password, "$6$"+RandomString(16))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%s:%d:%d:ftpdtls user:%s:/bin/false", name, hash, uid, gid, home), nil
}

// RandomString returns n random characters of the crypt alphabet.
func RandomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on Linux; fall back to the clock.
		t := time.Now().UnixNano()
		for i := range b {
			b[i] = byte(t >> (8 * (i % 8)))
		}
	}
	for i := range b {
		b[i] = cryptAlphabet[b[i]&0x3f]
	}
	return string(b)
}
