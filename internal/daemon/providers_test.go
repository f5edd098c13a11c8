package daemon

// The cache providers the daemon's tests use, linked as cmd/ftpdtls links
// them (the daemon itself imports none: a program chooses its providers).
import _ "github.com/ftpdtls/ftpdtls/modtlsshm"
