package modtlsredis

import (
	"testing"
	"time"
)

func benchCache(b *testing.B) *SessionCache {
	r := startRedis(b)
	return openSessions(b, serverSettings(r.addr()))
}

func BenchmarkSessionAdd(b *testing.B) {
	c := benchCache(b)
	id, state := randomID(b), goState(250) // a typical TLS 1.3 server state
	expires := time.Now().Add(time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		id[0], id[1] = byte(i), byte(i>>8)
		if err := c.Add(id, expires, state); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionGet(b *testing.B) {
	c := benchCache(b)
	id, state := randomID(b), goState(250)
	if err := c.Add(id, time.Now().Add(time.Hour), state); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := c.Get(id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSessionGetParallel(b *testing.B) {
	c := benchCache(b)
	id, state := randomID(b), goState(250)
	if err := c.Add(id, time.Now().Add(time.Hour), state); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.Get(id); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkDecodeCompact(b *testing.B) {
	v := sessionFormat.appendValue(nil, 1795596671, goState(250))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sessionFormat.decode(v); err != nil {
			b.Fatal(err)
		}
	}
}
