// Package bench is the engine of `ftpdtls bench`: it measures, on the
// machine it runs on, what the TLS session caches cost and hold, and
// renders the results as tables (text, markdown for BENCHMARKS.md, JSON).
//
// Groups (Options.Groups):
//
//   - capacity: real values (crypto/tls session states as modtls stores
//     them after real handshakes; OCSP responses from ocsp.CreateResponse)
//     are added to shm segments until the first eviction; the counts are
//     set against ProFTPD's fixed-slot figures and nginx's documented one.
//   - cache: shm get-hit, get-miss, add and delete, timed in batches for a
//     distribution (median, p99), at several sizes and fill levels, next
//     to a Go map holding as many sessions, the bare lock word pair and an
//     fcntl lock pair (ProFTPD's lock).
//   - scaling: operations/s over 1..8 goroutines and over processes
//     attached to one segment; resumed handshakes over 1..8 clients.
//   - handshake: full and resumed handshakes/s over TCP loopback through
//     the shm cache, the internal cache, modtls's tickets and Go's own
//     stateless tickets, for TLS 1.2/1.3 and ECDSA/RSA certificates.
//   - redis: the same through a Redis started for the run.
//   - e2e: ProFTPD 1.3.8 and `ftpdtls serve` driven by one FTPS client.
//
// Every measurement is repeated Options.Runs times, the runs of one table
// interleaved, and the tables show medians. Every segment, file and
// process Run makes is removed before it returns, also when its context
// is cancelled (the command cancels it on SIGINT and SIGTERM):
//
//	rep, err := bench.Run(ctx, bench.Options{Groups: []string{"capacity"}})
//	if err == nil {
//		rep.WriteMarkdown(os.Stdout)
//	}
package bench
