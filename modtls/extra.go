package modtls

import (
	"bytes"
	"encoding/binary"
)

// modtls keeps two facts in SessionState.Extra, each as its own entry so
// that other layers may add theirs (crypto/tls asks users to append and to
// recognise entries by a prefix):
//
//	"ftpdtls\x01" 'v' uint32 vhost        the issuing server's id, the Go
//	                                      counterpart of the session id
//	                                      context ProFTPD sets to s->sid
//	"ftpdtls\x01" 'c' opaque tag[32]      the control connection the session
//	                                      descends from (ProFTPD's ticket
//	                                      appdata)
//
// The "\x01" is the layout version; an entry with another version is
// ignored, which makes a session unresumable rather than misread.
const extraPrefix = "ftpdtls\x01"

const (
	extraVHost   = 'v'
	extraControl = 'c'
	tagLen       = 32
)

func vhostExtra(id uint32) []byte {
	b := make([]byte, 0, len(extraPrefix)+1+4)
	b = append(b, extraPrefix...)
	b = append(b, extraVHost)
	return binary.BigEndian.AppendUint32(b, id)
}

func controlExtra(tag []byte) []byte {
	b := make([]byte, 0, len(extraPrefix)+1+tagLen)
	b = append(b, extraPrefix...)
	b = append(b, extraControl)
	return append(b, tag...)
}

func parseVHostExtra(e []byte) (uint32, bool) {
	p, ok := cutExtra(e, extraVHost)
	if !ok || len(p) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(p), true
}

func parseControlExtra(e []byte) ([]byte, bool) {
	p, ok := cutExtra(e, extraControl)
	if !ok || len(p) != tagLen {
		return nil, false
	}
	return p, true
}

func cutExtra(e []byte, kind byte) ([]byte, bool) {
	if len(e) < len(extraPrefix)+1 || !bytes.HasPrefix(e, []byte(extraPrefix)) || e[len(extraPrefix)] != kind {
		return nil, false
	}
	return e[len(extraPrefix)+1:], true
}

// sessionTags returns the vhost id and control tag found in extras.
func sessionTags(extras [][]byte) (vhost uint32, haveVHost bool, control []byte) {
	for _, e := range extras {
		if id, ok := parseVHostExtra(e); ok {
			vhost, haveVHost = id, true
		} else if tag, ok := parseControlExtra(e); ok {
			control = tag
		}
	}
	return vhost, haveVHost, control
}
