// Package modtlsredis keeps TLS sessions and OCSP responses in Redis, so
// that every server using the same Redis resumes the sessions of the
// others and staples the responses they fetched: the Redis caches of
// ProFTPD's mod_tls_redis, with mod_redis's directives.
//
// From Go, on a go-redis client the program already has (a Client, a
// sentinel-backed failover Client or a ClusterClient):
//
//	sessions, err := modtlsredis.NewSessionCache(client, modtlsredis.Options{})
//
// The result is a modtls.SessionCache and a modtls.StatsReporter;
// NewOCSPCache makes the modtls.OCSPCache. Options bound every operation
// (so a slow Redis delays a handshake by at most Options.Timeout), say
// whether the constructor may succeed while Redis is down, and who closes
// the client.
//
// From proftpd.conf, importing the package for its side effect is the Go
// spelling of "LoadModule mod_redis.c" and "LoadModule mod_tls_redis.c":
//
//	import _ "github.com/ftpdtls/ftpdtls/modtlsredis"
//
// after which a configuration may say
//
//	RedisServer 10.0.0.5:6379 "" s3cret 2
//	RedisTimeouts 500 500
//	TLSSessionCache redis: 1800
//	TLSStaplingCache redis:
//
// and modtls opens the "redis" caches with the main server's mod_redis
// settings (Env.Server). That route is the same as the first:
// Settings.ClientOptions turns the directives into one
// redis.UniversalOptions (one RedisServer: a plain Redis; several: a
// Redis Cluster; RedisSentinel: a master found through Sentinels), and
// OpenSessionCache and OpenOCSPCache call NewSessionCache and NewOCSPCache
// with the client made from it.
//
// go-redis logs every failed dial through its package logger (to stderr
// by default); a program may quiet it with redis.SetLogger. This package
// does not, since that logger is global. It logs the start and the end of
// a Redis outage itself, once each, to Options.Log.
//
// # Compatibility with ProFTPD
//
// The keys, values and counters are mod_tls_redis's to the byte (see
// entry.go and counters.go), so ProFTPD and ftpdtls nodes can share one
// Redis database, its counters and its tooling. One thing cannot be
// shared: a session entry holds a TLS session in its implementation's
// encoding, an OpenSSL DER SSL_SESSION from ProFTPD and crypto/tls
// SessionState bytes from ftpdtls. Each side reads the other's entries
// without harm but cannot resume them; ftpdtls counts a ProFTPD entry as
// an error and a miss, and the client makes a full handshake.
//
// The defects of mod_tls_redis 0.1 that this package fixes are listed in
// docs/DIVERGENCES.md under R1 to R8 (real expiries for sessions and OCSP
// responses, checked replies, counted misses, decimal status counters,
// clear and remove that act on Redis, no secrets in traces). Beyond
// those:
//
//   - Counter increments are gathered in the process and sent as one
//     pipelined INCRBY per counter every 100 ms (and before the counters
//     are read, and at close), so a lookup or store costs one round trip;
//     other nodes see a process's counts up to 100 ms late.
//   - The status names the server after "Redis server:" and ends with the
//     number of operations of this process that failed for want of Redis.
//   - Entries larger than the limits (10240 bytes of session, 4096 of
//     response) are counted and not cached at all; ProFTPD keeps them in a
//     list private to one process.
//   - The caches follow the main server's RedisTimeouts, RedisSentinel and
//     RedisOptions, and RedisServer lines in <Global>; ProFTPD applies
//     only a "server config" RedisServer to its caches, with fixed 500 ms
//     timeouts, no Sentinel and always reconnecting. A RedisTimeouts value
//     of 0 means the 500 ms default rather than no timeout, and every
//     operation is bounded by the connect timeout plus twice the I/O
//     timeout, retries included (clear and remove by a minute).
//   - Connections are a goroutine-safe pool that reconnects with backoff;
//     a command that failed on a broken connection is retried once (not
//     with RedisOptions NoReconnect). ProFTPD shares one socket between
//     all its processes, and after a Redis restart its daemon's socket
//     stays dead.
//   - A Redis that cannot be reached when the server starts does not stop
//     it: operations fail fast until Redis is back, handshakes go on in
//     full, and sessions are shared again as soon as Redis answers. A
//     Redis that rejects the password or database fails the open, as in
//     ProFTPD.
//   - Sentinel: the Sentinels are asked in order until one answers (ProFTPD
//     asks all of them and keeps the last answer), and the master is
//     followed across failovers while running. Several RedisServer lines
//     name the seed nodes of a Redis Cluster (database 0 only); ProFTPD
//     keeps the last line.
//   - ssl:true works (crypto/tls); Debian's hiredis 0.14 cannot do TLS.
//   - "RedisServer host secret" is, as in ProFTPD, a username with no
//     password (so no AUTH); ftpdtls check warns about it, and about an
//     info string after "redis:" other than "" or "/json" (ignored, as in
//     ProFTPD). RedisLog, RedisLogOnCommand, RedisLogOnEvent and
//     RedisLogFormatExtra are checked as ProFTPD checks them and kept in
//     Settings, but ftpdtls does not log FTP commands to Redis.
package modtlsredis
