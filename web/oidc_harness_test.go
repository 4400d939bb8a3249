package web_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
)

// oidcTransport carries carerecord's requests to the OpenID provider.
// When the test has set a tamper function, it rewrites the ID token in
// the token endpoint's answer and signs it again (with the provider's key,
// or the one the function returns): the tokens a provider must never send
// reach the real relying party code over a real HTTP exchange.
type oidcTransport struct{ e *env }

func (t oidcTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	// The development OP's token endpoint, or the synthetic EPR's.
	if err != nil || !(strings.HasSuffix(r.URL.Path, "/oauth/token") || strings.HasSuffix(r.URL.Path, "/auth/token")) {
		return resp, err
	}
	t.e.tamperMu.Lock()
	fn := t.e.tamperFn
	t.e.tamperMu.Unlock()
	if fn == nil || resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var tr map[string]any
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, err
	}
	raw, _ := tr["id_token"].(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, io.ErrUnexpectedEOF
	}
	var header struct {
		KID string `json:"kid"`
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(hb, &header)
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	claims := map[string]any{}
	if err := json.Unmarshal(pb, &claims); err != nil {
		return nil, err
	}
	key := fn(claims)
	if key == nil {
		key = idpKey
	}
	if claims[dropIDToken] != nil {
		delete(tr, "id_token")
	} else {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), header.KID))
		if err != nil {
			return nil, err
		}
		payload, _ := json.Marshal(claims)
		jws, err := signer.Sign(payload)
		if err != nil {
			return nil, err
		}
		tr["id_token"], _ = jws.CompactSerialize()
	}
	out, _ := json.Marshal(tr)
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return resp, nil
}

// dropIDToken, set as a claim by a tamper function, takes the id_token
// out of the token response altogether.
const dropIDToken = "test-drop-id-token"

// tamper sets (or, with nil, clears) the ID token rewrite.
func (e *env) tamper(fn func(claims map[string]any) *rsa.PrivateKey) {
	e.tamperMu.Lock()
	e.tamperFn = fn
	e.tamperMu.Unlock()
}
