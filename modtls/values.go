package modtls

import "errors"

// errInvalid is strerror(EINVAL), which ProFTPD's parse errors quote.
var errInvalid = errors.New("Invalid argument")
