package pds

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// The NHS API platform's application-restricted "signed JWT" pattern: the
// application signs a short-lived JWT with its private key (RS512, the key
// id it registered in the header) and sends it as the client assertion of a
// client_credentials grant (RFC 7523 client authentication); the platform
// answers with an access token for the API.
const (
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLifetime: "exp ... must be no more than 5 minutes after the
	// time the JWT is created".
	assertionLifetime = 4 * time.Minute
	// refreshBefore: a token within this long of its expiry is replaced
	// before use, so a request never goes out with a token that lapses on
	// the way.
	refreshBefore = time.Minute
)

// assertionSource exchanges a freshly signed client assertion for an access
// token each time it is asked; tokens() wraps it in oauth2's reuse cache.
type assertionSource struct {
	tokenURL, apiKey, keyID string
	key                     *rsa.PrivateKey
	http                    *http.Client
	timeout                 time.Duration
	now                     func() time.Time
}

// tokens returns a TokenSource that reuses the access token until it is
// within refreshBefore of its expiry.
func (a *assertionSource) tokens() oauth2.TokenSource {
	return oauth2.ReuseTokenSourceWithExpiry(nil, a, refreshBefore)
}

// Token signs a new client assertion and exchanges it for an access token.
func (a *assertionSource) Token() (*oauth2.Token, error) {
	assertion, err := a.assertion()
	if err != nil {
		return nil, err
	}
	cc := clientcredentials.Config{
		TokenURL:  a.tokenURL,
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {assertionType},
			"client_assertion":      {assertion},
		},
	}
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), oauth2.HTTPClient, a.http), a.timeout)
	defer cancel()
	return cc.Token(ctx)
}

// assertion is the signed JWT: iss and sub the application's API key, aud
// the token endpoint, a unique jti, exp within five minutes.
func (a *assertionSource) assertion() (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS512, Key: a.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), a.keyID))
	if err != nil {
		return "", fmt.Errorf("pds: client assertion signer: %w", err)
	}
	now := a.now()
	claims := jwt.Claims{
		Issuer:   a.apiKey,
		Subject:  a.apiKey,
		Audience: jwt.Audience{a.tokenURL},
		ID:       randomID(),
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("pds: client assertion: %w", err)
	}
	return s, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// requestID is a version 4 UUID, as PDS requires in X-Request-ID.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
