package modtls

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
	"golang.org/x/sync/singleflight"
)

// OCSP stapling, after mod_tls's status-request callback: take the
// response cached for the certificate's fingerprint unless it is stale,
// otherwise ask the responder; serve a stale response when the responder
// fails, and a fake tryLater response when nothing is available. Every
// response that did not come from the cache is cached with age = now.

const (
	// ocspNoNextUpdateMaxAge: a response without nextUpdate is stale after this.
	ocspNoNextUpdateMaxAge = 3600 * time.Second
	// ocspFailedMaxAge: a non-successful (or unreadable) response is stale
	// after this (TLS_OCSP_RESP_MAX_AGE_SECS), so a cached fake tryLater
	// holds back responder queries for five minutes.
	ocspFailedMaxAge = 300 * time.Second
	// ocspClockSkew is the leeway of OCSP_check_validity.
	ocspClockSkew = 300 * time.Second
	// ocspMaxResponse bounds what is read from a responder.
	ocspMaxResponse = 1 << 20
)

// TryLaterResponse is the DER of an OCSPResponse with status tryLater and
// no body, the response mod_tls fakes when it has no real one.
var TryLaterResponse = []byte{0x30, 0x03, 0x0a, 0x01, 0x03}

// oidOCSPNonce is id-pkix-ocsp-nonce.
var oidOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// Errors of an OCSP fetch, for errors.Is.
var (
	ErrOCSPNoResponder   = errors.New("no OCSP responder URL")
	ErrOCSPNoIssuer      = errors.New("issuer certificate not found")
	ErrOCSPNonceMismatch = errors.New("OCSP response nonce does not match request nonce")
	ErrOCSPInvalid       = errors.New("OCSP response is not valid now")
)

type cacheVerdict int

const (
	cachedFresh cacheVerdict = iota
	cachedStale
	cachedExpired
)

// ocspFetcher runs the responder requests: one at a time per
// certificate, shared by every handshake that needs it, and waited for by
// Close.
type ocspFetcher struct {
	group singleflight.Group

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context // the parent of every request, canceled by close
	cancel context.CancelFunc
}

var errFetcherClosed = errors.New("modtls: closed")

// do runs fetch for key unless a run for key is in flight, and returns
// the channel its result arrives on (buffered: nobody has to read it).
func (f *ocspFetcher) do(key string, fetch func(context.Context) ([]byte, error)) <-chan singleflight.Result {
	return f.group.DoChan(key, func() (any, error) {
		f.mu.Lock()
		if f.ctx == nil {
			f.ctx, f.cancel = context.WithCancel(context.Background())
		}
		if f.closed {
			f.mu.Unlock()
			return nil, errFetcherClosed
		}
		f.wg.Add(1)
		f.mu.Unlock()
		defer f.wg.Done()
		return fetch(f.ctx)
	})
}

// close stops new runs, cancels those in flight and waits for them.
func (f *ocspFetcher) close() error {
	f.mu.Lock()
	f.closed = true
	if f.cancel != nil {
		f.cancel()
	}
	f.mu.Unlock()
	f.wg.Wait()
	return nil
}

// ocspStaple returns the DER response to staple for sc, or nil. A fresh
// cached response is stapled as it is; a stale one is stapled while a
// refresh runs in the background; without either, the handshake waits for
// the responder (one request per certificate at a time, whatever the
// number of handshakes waiting) until its own context ends, and staples a
// fake tryLater response if it has to go on without an answer.
func (t *TLS) ocspStaple(ctx context.Context, st *serverTLS, sc *stapledCert) []byte {
	fp := sc.fingerprint
	now := t.now()
	t.trace.Msg(8, "SHA1 fingerprint: %s", fp)
	t.trace.Msg(3, "using fingerprint '%s' for server cert", fp)

	var stale []byte
	if t.ocspCache == nil {
		t.trace.Msg(17, "no cached OCSP response found (TLSStaplingCache not configured)")
	} else if der, at, err := t.ocspCache.Get(fp); err == nil {
		t.trace.Msg(9, "found cached OCSP response for fingerprint '%s': %d sec(s) old", fp, int64(now.Sub(at)/time.Second))
		switch v, nextUpdate := t.judgeCached(der, now.Sub(at), now); v {
		case cachedFresh:
			return der
		case cachedStale:
			stale = der
		case cachedExpired:
			if err := t.ocspCache.Delete(fp); err != nil {
				t.trace.Msg(3, "error deleting OCSP response from '%s' cache for fingerprint '%s': %v", t.ocspName, fp, err)
			}
			t.trace.Msg(5, "cached OCSP response for fingerprint '%s' expired at %s", fp,
				nextUpdate.UTC().Format("Jan _2 15:04:05 2006 GMT"))
		}
	} else if !errors.Is(err, ErrCacheMiss) {
		t.trace.Msg(3, "error retrieving OCSP response from '%s' cache for fingerprint '%s': %v", t.ocspName, fp, err)
	}

	result := t.ocsp.do(fp, func(ctx context.Context) ([]byte, error) { return t.refreshOCSP(ctx, st, sc, stale != nil) })
	if stale != nil {
		t.trace.Msg(5, "using stale cached OCSP response for fingerprint '%s'", fp)
		return stale
	}
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case r := <-result:
		if r.Err == nil {
			return r.Val.([]byte)
		}
	case <-ctx.Done():
		t.trace.Msg(3, "no OCSP response for fingerprint '%s' before the handshake went on: %v", fp, ctx.Err())
	}
	if st.sc.Stapling.NoFakeTryLater && !sc.mustStaple {
		return nil
	}
	t.trace.Msg(5, "returning fake tryLater OCSP response")
	return TryLaterResponse
}

// refreshOCSP asks the responder about sc and caches the answer; when it
// fails and no stale response is cached, it caches a fake tryLater
// response (unless NoFakeTryLater), which holds back requests for five
// minutes, as mod_tls does.
func (t *TLS) refreshOCSP(ctx context.Context, st *serverTLS, sc *stapledCert, hadStale bool) ([]byte, error) {
	fp := sc.fingerprint
	resp, err := t.fetchOCSP(ctx, st, sc)
	now := t.now()
	if err == nil {
		if hadStale && t.ocspCache != nil {
			_ = t.ocspCache.Delete(fp)
		}
		t.cacheOCSP(fp, resp, now)
		return resp, nil
	}
	t.trace.Msg(3, "unable to obtain OCSP response for fingerprint '%s': %v", fp, err)
	if !hadStale && (!st.sc.Stapling.NoFakeTryLater || sc.mustStaple) {
		t.cacheOCSP(fp, TryLaterResponse, now)
	}
	return nil, err
}

func (t *TLS) cacheOCSP(fp string, der []byte, now time.Time) {
	if t.ocspCache == nil {
		return
	}
	if err := t.ocspCache.Add(fp, der, now); err != nil {
		t.trace.Msg(3, "error adding OCSP response to '%s' cache for fingerprint '%s': %v", t.ocspName, fp, err)
		return
	}
	t.trace.Msg(15, "added OCSP response to '%s' cache for fingerprint '%s'", t.ocspName, fp)
}

// judgeCached applies mod_tls's staleness rules to a cached response of
// the given age.
func (t *TLS) judgeCached(der []byte, age time.Duration, now time.Time) (cacheVerdict, time.Time) {
	resp, err := ocsp.ParseResponse(der, nil)
	if err != nil {
		status := "unknown"
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			status = responseStatusName(re.Status)
		}
		if age > ocspFailedMaxAge {
			t.trace.Msg(8, "cached %s OCSP response is stale", status)
			return cachedStale, time.Time{}
		}
		return cachedFresh, time.Time{}
	}
	if resp.NextUpdate.IsZero() {
		if age > ocspNoNextUpdateMaxAge {
			t.trace.Msg(8, "cached successful OCSP response is stale")
			return cachedStale, time.Time{}
		}
		return cachedFresh, time.Time{}
	}
	if now.After(resp.NextUpdate) {
		t.trace.Msg(17, "cached OCSP response has EXPIRED")
		t.trace.Msg(8, "cached successful OCSP response is EXPIRED")
		return cachedExpired, resp.NextUpdate
	}
	half := resp.NextUpdate.Sub(resp.ThisUpdate) / 2
	if now.Add(-half).After(resp.ThisUpdate) {
		t.trace.Msg(17, "cached OCSP response is stale")
		t.trace.Msg(8, "cached successful OCSP response is stale")
		return cachedStale, time.Time{}
	}
	return cachedFresh, time.Time{}
}

// fetchOCSP asks the responder about sc and returns the checked response.
func (t *TLS) fetchOCSP(ctx context.Context, st *serverTLS, sc *stapledCert) ([]byte, error) {
	s := &st.sc.Stapling
	url := s.Responder
	if url != "" {
		t.trace.Msg(8, "using configured OCSP responder URL '%s'", url)
	} else if len(sc.leaf.OCSPServer) > 0 {
		url = sc.leaf.OCSPServer[0]
		t.trace.Msg(8, "found OCSP responder URL '%s' in certificate (fingerprint '%s')", url, sc.fingerprint)
	} else {
		t.trace.Msg(8, "no OCSP responder URL found in certificate (fingerprint '%s')", sc.fingerprint)
		return nil, ErrOCSPNoResponder
	}
	if sc.issuer == nil {
		return nil, ErrOCSPNoIssuer
	}
	var nonceExt []byte
	if !s.NoNonce {
		nonceExt, _ = asn1.Marshal(randomBytes(16))
	}
	req, err := ocspRequest(sc, nonceExt)
	if err != nil {
		return nil, err
	}
	// The request outlives any one handshake (several may wait for it,
	// or none, for a refresh): the stapling timeout and Close bound it.
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("OCSP request to '%s': %w", url, err)
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	hreq.Header.Set("Accept", "application/ocsp-response")
	hresp, err := t.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("OCSP request to '%s': %w", url, err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("OCSP request to '%s': HTTP status %s", url, hresp.Status)
	}
	der, err := io.ReadAll(io.LimitReader(hresp.Body, ocspMaxResponse))
	if err != nil {
		return nil, fmt.Errorf("OCSP response from '%s': %w", url, err)
	}
	if err := t.checkOCSP(st, sc, der, nonceExt); err != nil {
		return nil, fmt.Errorf("OCSP response from '%s': %w", url, err)
	}
	return der, nil
}

// checkOCSP applies mod_tls's checks to a fresh response: nonce, signature
// (unless NoVerify), successful status, a status for this certificate,
// and validity with five minutes of clock skew.
func (t *TLS) checkOCSP(st *serverTLS, sc *stapledCert, der, nonceExt []byte) error {
	issuer := sc.issuer
	if st.sc.Stapling.NoVerify {
		issuer = nil
	}
	resp, err := ocsp.ParseResponseForCert(der, sc.leaf, issuer)
	if err != nil {
		return err
	}
	if nonceExt != nil {
		got, found, err := responseNonce(der)
		if err != nil {
			return err
		}
		switch {
		case !found:
			t.trace.Msg(1, "WARNING: OCSP response is missing request nonce")
		case !bytes.Equal(got, nonceExt):
			return ErrOCSPNonceMismatch
		}
	}
	now := t.now()
	if resp.ThisUpdate.After(now.Add(ocspClockSkew)) ||
		(!resp.NextUpdate.IsZero() && resp.NextUpdate.Before(now.Add(-ocspClockSkew))) {
		return ErrOCSPInvalid
	}
	return nil
}

// ocspRequest builds an OCSPRequest for sc, with a nonce extension when
// nonceExt (the DER extension value) is set. x/crypto/ocsp builds the
// CertID; the request is re-encoded here because it cannot carry
// extensions.
func ocspRequest(sc *stapledCert, nonceExt []byte) ([]byte, error) {
	plain, err := ocsp.CreateRequest(sc.leaf, sc.issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, fmt.Errorf("create OCSP request: %w", err)
	}
	if nonceExt == nil {
		return plain, nil
	}
	var r ocspRequestASN1
	if _, err := asn1.Unmarshal(plain, &r); err != nil {
		return nil, fmt.Errorf("re-encode OCSP request: %w", err)
	}
	r.TBSRequest.Extensions = []pkix.Extension{{Id: oidOCSPNonce, Value: nonceExt}}
	return asn1.Marshal(r)
}

// RFC 6960 section 4.1.1, as much as a single unsigned request needs.
type ocspRequestASN1 struct {
	TBSRequest tbsRequestASN1
}

type tbsRequestASN1 struct {
	Version     int `asn1:"explicit,tag:0,default:0,optional"`
	RequestList []singleRequestASN1
	Extensions  []pkix.Extension `asn1:"explicit,tag:2,optional"`
}

type singleRequestASN1 struct {
	Cert certIDASN1
}

type certIDASN1 struct {
	HashAlgorithm  pkix.AlgorithmIdentifier
	IssuerNameHash []byte
	IssuerKeyHash  []byte
	SerialNumber   *big.Int
}

// responseNonce returns the nonce extension value of a basic response's
// responseExtensions, which x/crypto/ocsp does not expose.
func responseNonce(der []byte) (value []byte, found bool, err error) {
	var r struct {
		Status   asn1.Enumerated
		Response struct {
			Type     asn1.ObjectIdentifier
			Response []byte
		} `asn1:"explicit,tag:0,optional"`
	}
	if _, err := asn1.Unmarshal(der, &r); err != nil {
		return nil, false, fmt.Errorf("parse OCSP response: %w", err)
	}
	var basic struct {
		TBSResponseData struct {
			Version     int `asn1:"optional,default:0,explicit,tag:0"`
			ResponderID asn1.RawValue
			ProducedAt  time.Time `asn1:"generalized"`
			Responses   []asn1.RawValue
			Extensions  []pkix.Extension `asn1:"explicit,tag:1,optional"`
		}
	}
	if _, err := asn1.Unmarshal(r.Response.Response, &basic); err != nil {
		return nil, false, fmt.Errorf("parse OCSP basic response: %w", err)
	}
	for _, e := range basic.TBSResponseData.Extensions {
		if e.Id.Equal(oidOCSPNonce) {
			return e.Value, true, nil
		}
	}
	return nil, false, nil
}

// responseStatusName is OpenSSL's OCSP_response_status_str.
func responseStatusName(s ocsp.ResponseStatus) string {
	switch s {
	case ocsp.Success:
		return "successful"
	case ocsp.Malformed:
		return "malformedrequest"
	case ocsp.InternalError:
		return "internalerror"
	case ocsp.TryLater:
		return "trylater"
	case ocsp.SignatureRequired:
		return "sigrequired"
	case ocsp.Unauthorized:
		return "unauthorized"
	}
	return "(UNKNOWN)"
}
