package notification

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrBadToken is returned for an unsubscribe token that is malformed or
// not signed by this deployment.
var ErrBadToken = errors.New("notification: invalid unsubscribe token")

// Unsubscriber signs and checks the tokens of one-click unsubscribe links
// (RFC 8058): a token names a user, a channel and a type, and turns that
// channel off for that type. Tokens do not expire: a link in an old email
// keeps working.
type Unsubscriber struct {
	key  []byte
	base string
}

// NewUnsubscriber derives its key from secret (the deployment's JWT
// secret, under a label of its own, so a token is never a valid JWT
// signature or the reverse) and builds links under publicURL.
func NewUnsubscriber(secret, publicURL string) *Unsubscriber {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("tipbox unsubscribe links v1"))
	return &Unsubscriber{key: m.Sum(nil), base: strings.TrimRight(publicURL, "/")}
}

// UnsubscribePath is the route of the links, with the token as :token.
const UnsubscribePath = "/api/v1/unsubscribe/"

// Token returns the signed token for (user, channel, type).
func (u *Unsubscriber) Token(userID int64, channel, typ string) string {
	msg := strconv.FormatInt(userID, 10) + "." + channel + "." + typ
	return base64.RawURLEncoding.EncodeToString([]byte(msg)) + "." + base64.RawURLEncoding.EncodeToString(u.mac(msg))
}

// URL returns the link for (user, channel, type).
func (u *Unsubscriber) URL(userID int64, channel, typ string) string {
	return u.base + UnsubscribePath + u.Token(userID, channel, typ)
}

func (u *Unsubscriber) mac(msg string) []byte {
	m := hmac.New(sha256.New, u.key)
	m.Write([]byte(msg))
	return m.Sum(nil)[:20]
}

// Parse checks a token's signature and returns what it names.
func (u *Unsubscriber) Parse(token string) (userID int64, channel, typ string, err error) {
	b64, sig, ok := strings.Cut(token, ".")
	if !ok {
		return 0, "", "", ErrBadToken
	}
	raw, err1 := base64.RawURLEncoding.DecodeString(b64)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, u.mac(string(raw))) {
		return 0, "", "", ErrBadToken
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 {
		return 0, "", "", ErrBadToken
	}
	userID, err = strconv.ParseInt(parts[0], 10, 64)
	if err != nil || userID <= 0 || !slices.Contains(Channels, parts[1]) {
		return 0, "", "", fmt.Errorf("%w: bad fields", ErrBadToken)
	}
	return userID, parts[1], parts[2], nil
}
