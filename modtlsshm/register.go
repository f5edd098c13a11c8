package modtlsshm

import (
	"fmt"

	"github.com/ftpdtls/ftpdtls/directives"
	"github.com/ftpdtls/ftpdtls/modtls"
)

// Importing the package is the Go spelling of "LoadModule
// mod_tls_shmcache.c": it registers the "shm" session and OCSP cache
// types with mod_tls, and the module (which has no directives) with the
// configuration parser.
func init() {
	if err := modtls.RegisterSessionCache("shm", NewSessionProvider()); err != nil {
		panic(fmt.Sprintf("%s: notice: error registering 'shm' SSL session cache: %v", ModuleVersion, err))
	}
	if err := modtls.RegisterOCSPCache("shm", NewOCSPProvider()); err != nil {
		panic(fmt.Sprintf("%s: notice: error registering 'shm' OCSP response cache: %v", ModuleVersion, err))
	}
	directives.Register(&directives.Module{
		Name:     ModuleName,
		Version:  ModuleVersion,
		Requires: []string{"mod_tls.c"},
	})
}

// Interface checks.
var (
	_ modtls.SessionCacheProvider = (*SessionProvider)(nil)
	_ modtls.OCSPCacheProvider    = (*OCSPProvider)(nil)
	_ modtls.InfoChecker          = (*SessionProvider)(nil)
	_ modtls.InfoChecker          = (*OCSPProvider)(nil)
	_ modtls.SessionCache         = (*SessionCache)(nil)
	_ modtls.OCSPCache            = (*OCSPCache)(nil)
	_ modtls.StatsReporter        = (*SessionCache)(nil)
	_ modtls.StatsReporter        = (*OCSPCache)(nil)

	_ modtls.SessionCacheExistingOpener = (*SessionProvider)(nil)
	_ modtls.OCSPCacheExistingOpener    = (*OCSPProvider)(nil)
	_ modtls.SessionCacheStatusInfo     = (*SessionProvider)(nil)
	_ modtls.OCSPCacheStatusInfo        = (*OCSPProvider)(nil)
	_ modtls.InfoRemover                = (*SessionProvider)(nil)
	_ modtls.InfoRemover                = (*OCSPProvider)(nil)
)
