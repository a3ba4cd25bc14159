// Package pushtest runs a receiving Web Push service inside a test: an
// HTTPS server that plays both the push service and the browser. It holds
// the subscription's private key, checks each request's VAPID token (RFC
// 8292) and decrypts the payload (RFC 8291, aes128gcm), the way a browser
// would, and records what it got. It answers each push with a status the
// test chooses (201 by default; 410 for a gone subscription).
package pushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tipbox/tipbox/core/push"
)

// Received is one push the service accepted (or refused with Status).
type Received struct {
	Payload []byte
	TTL     string
	Urgency string
	Topic   string
	// Subject is the VAPID token's sub claim.
	Subject string
	Status  int
}

// Service is a running receiver with one subscription.
type Service struct {
	srv  *httptest.Server
	key  *ecdh.PrivateKey
	auth []byte
	// VAPIDPublicKey is the application server key the tokens must carry
	// (base64url); empty accepts any valid signature.
	VAPIDPublicKey string

	mu       sync.Mutex
	status   int
	received []Received
	errs     []string
}

// Start runs a receiver until the test ends, with a fresh subscription.
func Start(t testing.TB, vapidPublicKey string) *Service {
	t.Helper()
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{key: key, auth: make([]byte, 16), VAPIDPublicKey: vapidPublicKey, status: http.StatusCreated}
	_, _ = rand.Read(s.auth)
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// Subscription is the subscription a browser would send the app.
func (s *Service) Subscription() push.Subscription {
	return push.Subscription{
		Endpoint: s.srv.URL + "/push/sub-1",
		P256dh:   base64.RawURLEncoding.EncodeToString(s.key.PublicKey().Bytes()),
		Auth:     base64.RawURLEncoding.EncodeToString(s.auth),
	}
}

// Client is an HTTP client that trusts the service's certificate.
func (s *Service) Client() *http.Client { return s.srv.Client() }

// CertFile writes the service's certificate to a PEM file in dir, for a
// process's SSL_CERT_FILE.
func (s *Service) CertFile(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "push-ca.pem")
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Close stops the service (a push service that went away).
func (s *Service) Close() { s.srv.Close() }

// SetStatus sets the status the next pushes get.
func (s *Service) SetStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

// Received returns the pushes so far.
func (s *Service) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Errors returns what was wrong with requests that failed the checks.
func (s *Service) Errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8192))
	rec, err := s.check(r, body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs = append(s.errs, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec.Status = s.status
	s.received = append(s.received, rec)
	w.WriteHeader(s.status)
}

func (s *Service) check(r *http.Request, body []byte) (Received, error) {
	if r.Method != http.MethodPost {
		return Received{}, fmt.Errorf("method %s", r.Method)
	}
	if ce := r.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		return Received{}, fmt.Errorf("content encoding %q, want aes128gcm", ce)
	}
	if r.Header.Get("TTL") == "" {
		return Received{}, errors.New("no TTL header (RFC 8030 requires it)")
	}
	sub, err := s.checkVAPID(r.Header.Get("Authorization"))
	if err != nil {
		return Received{}, fmt.Errorf("vapid: %w", err)
	}
	plain, err := s.decrypt(body)
	if err != nil {
		return Received{}, fmt.Errorf("decrypt: %w", err)
	}
	return Received{Payload: plain, TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency"),
		Topic: r.Header.Get("Topic"), Subject: sub}, nil
}

// checkVAPID verifies "vapid t=<JWT>, k=<key>" (RFC 8292): an ES256 token
// signed by k, for this origin, not expired, expiring within 24 hours,
// with a mailto: or https: subject.
func (s *Service) checkVAPID(h string) (string, error) {
	rest, ok := strings.CutPrefix(h, "vapid ")
	if !ok {
		return "", fmt.Errorf("header %q is not the vapid scheme", h)
	}
	var tok, k string
	for _, p := range strings.Split(rest, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch name {
		case "t":
			tok = val
		case "k":
			k = val
		}
	}
	if s.VAPIDPublicKey != "" && k != s.VAPIDPublicKey {
		return "", fmt.Errorf("k=%s is not the application server key %s", k, s.VAPIDPublicKey)
	}
	kb, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return "", fmt.Errorf("k: %v", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), kb)
	if err != nil {
		return "", fmt.Errorf("k: %v", err)
	}
	u, _ := url.Parse(s.srv.URL)
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(u.Scheme+"://"+u.Host), jwt.WithExpirationRequired())
	if err != nil {
		return "", err
	}
	exp, _ := claims.GetExpirationTime()
	if exp.After(time.Now().Add(24 * time.Hour)) {
		return "", fmt.Errorf("exp %s is more than 24 hours away", exp)
	}
	sub, _ := claims["sub"].(string)
	if !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return "", fmt.Errorf("sub %q is neither a mailto: nor an https: URI", sub)
	}
	return sub, nil
}

// decrypt undoes RFC 8291 with the user agent's keys: the header (salt,
// record size, the sender's ephemeral key), the shared secret, and the
// single aes128gcm record, whose padding ends at the 0x02 delimiter.
func (s *Service) decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idlen || idlen != 65 {
		return nil, fmt.Errorf("keyid length %d, want a 65-byte P-256 key", idlen)
	}
	asPub, err := ecdh.P256().NewPublicKey(body[21 : 21+idlen])
	if err != nil {
		return nil, err
	}
	record := body[21+idlen:]
	if rs < 18 || len(record) > int(rs) {
		return nil, fmt.Errorf("record of %d bytes with rs %d: more than one record", len(record), rs)
	}
	shared, err := s.key.ECDH(asPub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), s.key.PublicKey().Bytes()...), asPub.Bytes()...)
	ikm, err := hkdf.Key(sha256.New, shared, s.auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	prk, err := hkdf.Extract(sha256.New, ikm, salt)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Expand(sha256.New, prk, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, record, nil)
	if err != nil {
		return nil, err
	}
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 || plain[i] != 2 {
		return nil, errors.New("no last-record delimiter (0x02) before the padding")
	}
	return plain[:i], nil
}
