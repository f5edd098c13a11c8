// Package modtlsredis is ProFTPD's mod_redis and mod_tls_redis for
// ftpdtls: the "redis" TLSSessionCache and TLSStaplingCache, which let
// many machines share TLS sessions and OCSP responses through one Redis,
// and the Redis* directives that say which Redis.
//
// A program enables it by importing it for its side effect, the Go
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
// modtls opens the caches through the provider registry; the provider
// reads the main server's mod_redis settings from Env.Config, so the
// caller of modtls.Open must put the parsed configuration there (without
// it there is no RedisServer and the open fails with ErrNoServer).
// OpenSessionCache and OpenOCSPCache open caches from explicit Settings.
//
// go-redis logs every failed dial through its package logger (to stderr
// by default); a program may quiet it with redis.SetLogger. This package
// does not, since that logger is global. It logs the start and the end of
// a Redis outage itself, once each, to Env.Log.
//
// # Compatibility
//
// The keys, values and counters are mod_tls_redis's to the byte (see
// entry.go and counters.go), so ProFTPD and ftpdtls nodes can share one
// Redis database, its counters and its tooling. One thing cannot be
// shared: a session entry holds a TLS session in its implementation's
// encoding, an OpenSSL DER SSL_SESSION from ProFTPD and crypto/tls
// SessionState bytes from ftpdtls. Each side reads the other's entries
// without harm but cannot resume them; ftpdtls counts a ProFTPD entry as
// an error and a miss, and the client makes a full handshake. (Clients
// that a load balancer sends to both kinds of node therefore resume only
// on the kind that made the session.)
//
// # Differences from ProFTPD
//
// mod_tls_redis 0.1 has bugs that this package does not copy:
//
//   - Sessions get a real Redis expiry, "SET key value EXAT expires", at
//     the time the value's "expires" field names; ProFTPD sends that
//     absolute time as a relative SETEX TTL (about 57 years), so its
//     entries never leave Redis.
//   - OCSP responses expire too: at the response's nextUpdate, or an hour
//     after they were obtained when they have none (ProFTPD: never).
//   - Replies are checked: a SET answered with an error (NOAUTH, READONLY,
//     OOM) is a failure, not "stored".
//   - Misses are counted: a missing, expired or undecodable entry adds
//     to cache_misses (ProFTPD counts almost none of them).
//   - Counter increments are gathered in the process and sent as one
//     pipelined INCRBY per counter every 100 ms (and before a status is
//     read, and at close), so a lookup or store costs one round trip, not
//     two, and busy nodes do not all queue on the seven counter keys.
//     Other nodes see a process's counts up to 100 ms late; increments
//     that fail to reach Redis are kept for the next attempt. There is no
//     delete of a doubly prefixed key after the first increment (R4).
//   - The status prints the counters as the decimals Redis holds (ProFTPD
//     prints the ASCII bytes as a binary number: "3" shows as 51), names
//     the server after "Redis server:", and cache_max_*_len is kept as a
//     decimal maximum.
//   - clear and remove act on Redis: clear unlinks the cache's entries
//     (SCAN MATCH "<namespace>{*" and UNLINK, bounded in time, on every
//     master of a cluster) and returns their number; remove also unlinks
//     the seven counters and closes the cache. ProFTPD's do nothing.
//   - Expired session entries found by a lookup (only ProFTPD's live
//     that long) are unlinked.
//   - Entries larger than the limits (10240 bytes of session, 4096 of
//     response) are counted and not cached at all; ProFTPD keeps them in a
//     list private to one process.
//   - Nothing secret is traced: channel "tls.redis" carries ProFTPD's
//     messages at ProFTPD's levels where the behaviour matches, but never
//     a value (ProFTPD's "redis" channel prints whole GET replies, session
//     keys included, at level 7).
//   - The connection follows the main server's RedisTimeouts,
//     RedisSentinel and RedisOptions, and RedisServer lines in <Global>;
//     ProFTPD applies only a "server config" RedisServer to its caches,
//     with fixed 500 ms timeouts, no Sentinel and always reconnecting.
//   - Connections are a goroutine-safe pool that reconnects with backoff,
//     and a command that failed on a broken connection is retried once
//     (not with RedisOptions NoReconnect) within the operation's time
//     limit. ProFTPD shares one socket between all its processes (which
//     read each other's replies), and after a Redis restart its daemon's
//     socket stays dead.
//   - A Redis that cannot be reached when the cache opens does not fail
//     the open: every operation fails fast until it is back, the handshake
//     goes on without the cache (a full handshake), the failures are
//     counted per process (Stats.Failures, and a last status line) and the
//     first one of an outage is logged; sessions are shared again as soon
//     as Redis answers, without a restart. A Redis that rejects the
//     password or database does fail the open, as in ProFTPD.
//   - Every operation is bounded: connect timeout plus twice the I/O
//     timeout (1.5 s by default), retries included; clear and remove by a
//     minute. A RedisTimeouts value of 0 means the 500 ms default rather
//     than no timeout.
//   - Sentinel: the Sentinels are asked in order until one answers (ProFTPD
//     asks all of them and keeps the last answer), and the master is
//     followed across failovers while running. With no "master NAME", the
//     first master of the first Sentinel that answers is used.
//   - Several RedisServer lines in one server name the seed nodes of a
//     Redis Cluster (which must all use database 0); ProFTPD keeps the
//     last line and has no cluster support.
//   - "RedisServer host secret" is still, as in ProFTPD, a username with
//     no password (so no AUTH); ftpdtls check warns about it. A db-index
//     that is not a number is a warning at check time and makes the open
//     fail; ProFTPD fails at SELECT.
//   - ssl:true works (crypto/tls); Debian's hiredis 0.14 cannot do TLS, so
//     a ProFTPD built on Debian ignores it.
//   - The info string after "redis:" is ignored, as in ProFTPD; ftpdtls
//     check warns when it is anything but empty or "/json".
//   - RedisLog, RedisLogOnCommand, RedisLogOnEvent and RedisLogFormatExtra
//     are checked as ProFTPD checks them and kept in Settings, but ftpdtls
//     does not log FTP commands to Redis.
package modtlsredis
