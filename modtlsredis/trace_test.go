package modtlsredis

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/ftpdtls/ftpdtls/internal/syncbuf"
	"github.com/ftpdtls/ftpdtls/modtls"
	"github.com/ftpdtls/ftpdtls/trace"
)

// TestTraceHasNoSecrets traces everything on tls.redis while sessions are
// stored, found, missed and rejected: ProFTPD's messages appear at its
// levels, and no session data or id does.
func TestTraceHasNoSecrets(t *testing.T) {
	r := startRedis(t)
	tr := trace.New()
	if err := tr.SetLevels(TraceChannel, 1, 20); err != nil {
		t.Fatal(err)
	}
	var out syncbuf.Buffer
	tr.SetOutput(&out)
	c, err := OpenSessionCache(serverSettings(r.addr()), "/json", modtls.Env{Trace: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	id, state := randomID(t), goState(120)
	copy(state[20:], "SECRET-MASTER-KEY")
	if err := c.Add(id, time.Now().Add(time.Hour), state); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(id); err != nil {
		t.Fatal(err)
	}
	_, _, _ = c.Get(randomID(t))
	bad := randomID(t)
	if err := r.admin().Set(bg(), string(appendSessionKey(nil, bad)), "not json SECRET-MASTER-KEY", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	_, _, _ = c.Get(bad)
	_ = c.Delete(id)

	text := out.String()
	for _, want := range []string{
		"<tls.redis:9>: opening Redis cache (info '/json')",
		"<tls.redis:9>: adding session to Redis cache ",
		"<tls.redis:9>: stored JSON session data in cache",
		"<tls.redis:9>: retrieved JSON session data from cache",
		"<tls.redis:3>: no matching Redis entry found for session ID (74 bytes)",
		"<tls.redis:2>: error retrieving session from cache: invalid cache entry: not a JSON object",
		"<tls.redis:9>: removing session from Redis cache ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}
	for _, secret := range []string{"SECRET-MASTER-KEY", base64.StdEncoding.EncodeToString(state)[:40], hex.EncodeToString(id)} {
		if strings.Contains(text, secret) {
			t.Errorf("trace contains %q:\n%s", secret, text)
		}
	}
}
