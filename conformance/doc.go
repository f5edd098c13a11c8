// Package conformance holds the tests that hold ftpdtls to what the real
// programs do: ProFTPD 1.3.8's configuration check, and real FTP clients
// talking to a running server. It has no code of its own.
//
// testdata/proftpd-1.3.8 is the recorded oracle: proftpd.conf fragments
// (cases/*.conf), the verdicts and messages Debian 12's "proftpd -t" gave
// for them (expected.tsv), and the script that recorded them
// (proftpd-check.sh). TestProFTPDCases checks ftpdtls against the
// recording; TestDifferentialProFTPD, which needs proftpd installed and
// root, runs the fragments and hundreds of generated variations of them
// through both programs and compares the answers:
//
//	go test ./conformance/ -run ProFTPD -v
//	FTPDTLS_SEED=1234 go test ./conformance/ -run Differential -v   # replay one run
package conformance
