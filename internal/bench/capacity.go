package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/ftpdtls/ftpdtls/modtlsshm"
)

// ProFTPD 1.3.8's fixed-slot geometry (spec §1.5): a header, then slots
// of a fixed size whatever the entry's real size.
const (
	proftpdSessHeader = 56
	proftpdSessSlot   = 10288
	proftpdOCSPHeader = 48
	proftpdOCSPSlot   = 4176
	// nginxPerMiB is nginx's documented density for ssl_session_cache
	// ("one megabyte of the cache contains about 4000 sessions").
	nginxPerMiB = 4000
)

// proftpdEntries is how many entries ProFTPD fits in a requested size,
// and the segment it makes (rounded up to a page).
func proftpdEntries(requested int64, ocsp bool) (n, segment int64) {
	header, slot := int64(proftpdSessHeader), int64(proftpdSessSlot)
	if ocsp {
		header, slot = proftpdOCSPHeader, proftpdOCSPSlot
	}
	n = (requested - header) / slot
	return n, pageRound(header + n*slot)
}

func pageRound(n int64) int64 { return (n + 4095) &^ 4095 }

// sessionID is the i-th synthetic 32-byte session id (modtls's ids are
// 32 random bytes; these spread as well through any hash).
func sessionID(dst []byte, i uint64) []byte {
	dst = dst[:32]
	x := i*0x9e3779b97f4a7c15 + 0x632be59bd9b4e019
	for j := 0; j < 4; j++ {
		x ^= x >> 31
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 29
		binary.LittleEndian.PutUint64(dst[8*j:], x)
	}
	binary.LittleEndian.PutUint64(dst[24:], i)
	return dst
}

// fillResult is what filling a segment showed.
type fillResult struct {
	first  uint64 // entries held just before the first eviction
	steady uint64 // entries held after adding half as many again
	// At the first eviction: the fraction of the record log in use and
	// of the index slots in use (which of the two ran out).
	logUsed, slotsUsed float64
}

// fill adds entries (add(i) stores the i-th) until the first eviction,
// then half as many again, reading the counters after each add.
func fill(ctx context.Context, add func(i uint64) error, stats func() (modtlsshm.Stats, error), limit uint64) (fillResult, error) {
	var res fillResult
	var i uint64
	for ; ; i++ {
		if i >= limit {
			return res, fmt.Errorf("no eviction after %d entries", limit)
		}
		if i%4096 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		before, err := stats()
		if err != nil {
			return res, err
		}
		if err := add(i); err != nil {
			return res, err
		}
		after, err := stats()
		if err != nil {
			return res, err
		}
		if after.Evicted > 0 {
			res.first = before.Current
			res.logUsed = ratio(float64(before.UsedBytes), float64(before.DataBytes))
			res.slotsUsed = ratio(float64(before.Current), float64(before.IndexSlots))
			break
		}
	}
	for end := i + i/2; i < end; i++ {
		if i%4096 == 0 && ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err := add(i); err != nil {
			return res, err
		}
	}
	st, err := stats()
	res.steady = st.Current
	return res, err
}

// fillSessions fills a new session cache of size with values.
func (r *runner) fillSessions(ctx context.Context, size int64, values [][]byte) (fillResult, *modtlsshm.SessionCache, string, error) {
	sc, info, err := r.segs.session(size)
	if err != nil {
		return fillResult{}, nil, "", err
	}
	exp := time.Now().Add(time.Hour)
	id := make([]byte, 32)
	res, err := fill(ctx, func(i uint64) error {
		return sc.Add(sessionID(id, i), exp, values[i%uint64(len(values))])
	}, sc.SegmentStats, uint64(pageRound(size)/16))
	return res, sc, info, err
}

func init() {
	register(&group{
		name:  "capacity",
		steps: func(r *runner) int { return 1 + len(r.o.Sizes)*(len(sessionKinds)+len(ocspKinds)) },
		ready: func(*runner) string { return "" },
		run:   runCapacity,
	})
}

func runCapacity(ctx context.Context, r *runner) ([]*Table, error) {
	set, err := r.samples(ctx)
	if err != nil {
		return nil, err
	}
	r.prog.step("capacity: made real session states (TLS 1.3 %.0f B, TLS 1.2 %.0f B, mTLS %.0f B) and OCSP responses (ECDSA %.0f B, RSA %.0f B)",
		set.meanLen("tls13"), set.meanLen("tls12"), set.meanLen("mtls"), set.meanLen("ocsp-ecdsa"), set.meanLen("ocsp-rsa"))
	t := &Table{
		ID:    "capacity",
		Title: "Capacity: entries a segment holds",
		Note: "Filled with real values until the first eviction (\"first eviction\"), then with half as many again " +
			"(\"when full\": what stays when the oldest are being dropped). \"log / slots used\": how full the record log and the index were at the first eviction. Per MiB uses the segment's size and the \"when full\" count. " +
			"ProFTPD's figures are computed from its fixed slots (10,288 B per session, 4,176 B per OCSP response); " +
			"nginx's is its documented ~4,000 sessions per MiB.",
		Columns: []string{"entry (mean value size)", "segment", "first eviction", "log / slots used then", "when full", "per MiB",
			"ProFTPD 1.3.8", "ProFTPD per MiB", "nginx per MiB", "vs ProFTPD"},
	}
	for _, size := range r.o.Sizes {
		seg := pageRound(size)
		for _, k := range append(append([]sampleKind{}, sessionKinds...), ocspKinds...) {
			var res fillResult
			if k.ocsp {
				res, err = r.fillOCSP(ctx, size, set.values[k.id])
			} else {
				var sc *modtlsshm.SessionCache
				res, sc, _, err = r.fillSessions(ctx, size, set.values[k.id])
				if sc != nil {
					sc.Remove()
				}
			}
			if err != nil {
				return []*Table{t}, fmt.Errorf("%s in %s: %w", k.label, sizeName(size), err)
			}
			perMiB := float64(res.steady) / (float64(seg) / (1 << 20))
			pn, pseg := proftpdEntries(size, k.ocsp)
			pPerMiB := float64(pn) / (float64(pseg) / (1 << 20))
			nginx := text("-")
			if !k.ocsp {
				nginx = count(nginxPerMiB)
			}
			t.add(text(fmt.Sprintf("%s (%.0f B)", k.label, set.meanLen(k.id))), text(thousands(seg)+" B"),
				count(float64(res.first)), text(fmt.Sprintf("%.0f%% / %.0f%%", 100*res.logUsed, 100*res.slotsUsed)),
				count(float64(res.steady)), count(perMiB),
				count(float64(pn)), count(pPerMiB), nginx, times(ratio(perMiB, pPerMiB)))
			r.prog.step("capacity %s, %s: %s at first eviction, %s when full (%s per MiB)", k.label, sizeName(size),
				thousands(int64(res.first)), thousands(int64(res.steady)), thousands(int64(perMiB)))
		}
	}
	return []*Table{t}, nil
}

func (r *runner) fillOCSP(ctx context.Context, size int64, values [][]byte) (fillResult, error) {
	oc, _, err := r.segs.ocsp(size)
	if err != nil {
		return fillResult{}, err
	}
	defer oc.Remove()
	now := time.Now()
	return fill(ctx, func(i uint64) error {
		return oc.Add(fingerprint(i), values[i%uint64(len(values))], now)
	}, oc.SegmentStats, uint64(pageRound(size)/16))
}
