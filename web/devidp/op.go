package devidp

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/carerecord/carerecord/views"
)

// The development OpenID provider: the same users as the SAML IdP, with
// the claims NHS CIS2 releases, served by zitadel/oidc's op package so
// that carerecord's relying party meets real token issuance (discovery,
// PKCE, private_key_jwt, codes used once, signed ID tokens, userinfo,
// end_session). This file holds only what the library asks of its
// storage, the sign-in form, and the back-channel logout it lacks.

// OPOptions configure NewOP.
type OPOptions struct {
	// Issuer is where the provider is mounted, e.g.
	// http://127.0.0.1:8080/devidp/oidc; it serves under that path.
	Issuer   *url.URL
	Key      *rsa.PrivateKey // signs ID tokens and logout tokens
	Users    []User
	Password string
	Logger   *slog.Logger
	// HTTPClient posts back-channel logout tokens; http.DefaultClient when nil.
	HTTPClient *http.Client
	// IDTokenLifetime; an hour when zero.
	IDTokenLifetime time.Duration
	// NHSLogin makes the provider NHS login-shaped, for patients: its
	// users are Users with Patient set, its claims NHS login's (vot,
	// identity_proofing_level, nhs_number, birthdate, family_name,
	// given_name), and clients authenticate with RS512 client assertions.
	NHSLogin bool
}

// OIDCClient is a relying party the provider trusts.
type OIDCClient struct {
	ID                     string
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	// BackChannelLogoutURI receives a logout token when the user's
	// session here ends.
	BackChannelLogoutURI string
	// Keys verify private_key_jwt client assertions; Secret is used when
	// no key is given.
	Keys   jose.JSONWebKeySet
	Secret string
}

// OP is the development OpenID provider.
type OP struct {
	opts     OPOptions
	provider *op.Provider
	handler  http.Handler
	keyID    string
	users    map[string]User // by username
	bySub    map[string]User // by user id (the subject)

	mu       sync.Mutex
	clients  map[string]OIDCClient
	requests map[string]*authRequest // by id
	codes    map[string]string       // code -> request id
	tokens   map[string]*accessToken // by id
	sessions map[string]*opSession   // by browser cookie

	// With NHSLogin: each client's assertion keys (RS512) and the secret
	// the verified assertion is exchanged for on its way to the library,
	// and the assertion ids seen (used once).
	rs512Keys     map[string]jose.JSONWebKeySet
	rs512Secrets  map[string]string
	assertionJTIs map[string]time.Time
}

type opSession struct {
	ID      string
	Subject string
	AuthAt  time.Time
	Clients map[string]bool
	// Role is the person_roleid the user chose here, as at CIS2, when
	// they hold several role profiles ("" until chosen).
	Role string
}

type accessToken struct {
	subject, clientID, sessionID string
	scopes                       []string
	expires                      time.Time
}

const opSessionCookie = "devidp_oidc_session"

// NewOP builds the provider.
func NewOP(o OPOptions) (*OP, error) {
	if o.Issuer == nil || o.Key == nil || o.Password == "" {
		return nil, errors.New("devidp: OP needs an issuer, a key and a password")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.IDTokenLifetime == 0 {
		o.IDTokenLifetime = time.Hour
	}
	iss := *o.Issuer
	iss.Path = "/" + strings.Trim(iss.Path, "/")
	o.Issuer = &iss
	d := &OP{opts: o, users: map[string]User{}, bySub: map[string]User{}, clients: map[string]OIDCClient{},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]*accessToken{},
		sessions: map[string]*opSession{}, keyID: "devidp-" + randomID()[3:15],
		rs512Keys: map[string]jose.JSONWebKeySet{}, rs512Secrets: map[string]string{}, assertionJTIs: map[string]time.Time{}}
	for _, u := range o.Users {
		d.users[u.Username] = u
		d.bySub[u.UserID] = u
	}
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, err
	}
	cfg := &op.Config{
		CryptoKey:                         cryptoKey,
		CodeMethodS256:                    true,
		AuthMethodPost:                    true,
		AuthMethodPrivateKeyJWT:           true,
		SupportedScopes:                   []string{"openid", "profile", "nationalrbacaccess", "selectedrole"},
		BackChannelLogoutSupported:        true,
		BackChannelLogoutSessionSupported: true,
	}
	var opOpts []op.Option
	if iss.Scheme == "http" {
		opOpts = append(opOpts, op.WithAllowInsecure())
	}
	p, err := op.NewProvider(cfg, d, op.StaticIssuer(iss.String()), opOpts...)
	if err != nil {
		return nil, fmt.Errorf("devidp: OpenID provider: %w", err)
	}
	d.provider = p
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", d.showLogin)
	mux.HandleFunc("POST /login", d.submitLogin)
	mux.HandleFunc("POST /role", d.chooseRole)
	mux.Handle("/", p)
	if o.NHSLogin {
		mux.HandleFunc("POST /oauth/token", d.exchangeRS512Assertion(p))
	}
	d.handler = http.StripPrefix(iss.Path, mux)
	return d, nil
}

// Issuer is the provider's issuer identifier.
func (d *OP) Issuer() string { return d.opts.Issuer.String() }

// AddClient trusts a relying party.
func (d *OP) AddClient(c OIDCClient) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opts.NHSLogin && len(c.Keys.Keys) > 0 {
		// zitadel/oidc verifies client assertions signed RS256, ES256 or
		// PS256 only; NHS login's are RS512, verified here in front of it
		// (exchangeRS512Assertion).
		d.rs512Keys[c.ID], d.rs512Secrets[c.ID] = c.Keys, randomID()
		c.Keys, c.Secret = jose.JSONWebKeySet{}, d.rs512Secrets[c.ID]
	}
	d.clients[c.ID] = c
}

// exchangeRS512Assertion verifies an RS512 client assertion (RFC 7523:
// signed by a key of the client, iss and sub the client id, aud the token
// endpoint, not expired, its jti used once) and hands the request on to
// the library authenticated by the client's secret instead. Anything
// else is refused as invalid_client, as NHS login refuses it.
func (d *OP) exchangeRS512Assertion(next http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		refuse := func(why string) {
			d.opts.Logger.Info("development NHS login: client assertion refused", "why", why)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": why})
		}
		if err := r.ParseForm(); err != nil {
			refuse("unreadable form")
			return
		}
		if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			refuse("client_assertion_type must be jwt-bearer")
			return
		}
		jws, err := jose.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS512})
		if err != nil || len(jws.Signatures) != 1 {
			refuse("the client assertion is not a JWT signed RS512")
			return
		}
		var claims struct {
			Iss, Sub, Jti string
			Aud           any
			Exp           int64
		}
		if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
			refuse("unreadable claims")
			return
		}
		d.mu.Lock()
		keys, secret := d.rs512Keys[claims.Iss], d.rs512Secrets[claims.Iss]
		d.mu.Unlock()
		verified := false
		for _, k := range keys.Key(jws.Signatures[0].Header.KeyID) {
			if _, err := jws.Verify(k.Key); err == nil {
				verified = true
			}
		}
		now := time.Now()
		aud, _ := claims.Aud.(string)
		switch {
		case !verified:
			refuse("the client assertion is not signed by the client's key")
			return
		case claims.Sub != claims.Iss || (r.PostForm.Get("client_id") != "" && r.PostForm.Get("client_id") != claims.Iss):
			refuse("iss and sub must be the client id")
			return
		case aud != d.Issuer()+"/oauth/token":
			refuse("aud must be the token endpoint")
			return
		case claims.Exp < now.Unix() || claims.Exp > now.Add(10*time.Minute).Unix() || claims.Jti == "":
			refuse("expired, too long-lived, or without a jti")
			return
		}
		d.mu.Lock()
		_, replayed := d.assertionJTIs[claims.Iss+" "+claims.Jti]
		d.assertionJTIs[claims.Iss+" "+claims.Jti] = time.Unix(claims.Exp, 0)
		d.mu.Unlock()
		if replayed {
			refuse("the client assertion was used before")
			return
		}
		f := r.PostForm
		f.Del("client_assertion")
		f.Del("client_assertion_type")
		f.Set("client_id", claims.Iss)
		f.Set("client_secret", secret)
		body := f.Encode()
		r2 := r.Clone(r.Context())
		r2.Body = io.NopCloser(strings.NewReader(body))
		r2.ContentLength = int64(len(body))
		r2.PostForm, r2.Form = nil, nil
		next.ServeHTTP(w, r2)
	}
}

// ServeHTTP serves the provider under its issuer path.
func (d *OP) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.handler.ServeHTTP(w, r) }

// Routes are the paths (under the issuer's) the provider answers, by
// method, for a route table.
func (d *OP) Routes() [][2]string {
	p := d.opts.Issuer.Path
	return [][2]string{
		{http.MethodGet, p + "/.well-known/openid-configuration"},
		{http.MethodGet, p + "/authorize"},
		{http.MethodGet, p + "/authorize/callback"},
		{http.MethodGet, p + "/login"},
		{http.MethodPost, p + "/login"},
		{http.MethodPost, p + "/role"},
		{http.MethodPost, p + "/oauth/token"},
		{http.MethodGet, p + "/userinfo"},
		{http.MethodGet, p + "/keys"},
		{http.MethodGet, p + "/end_session"},
	}
}

// showLogin is where the library sends the browser to authenticate: a
// live session here (unless the relying party asked for a fresh sign-in)
// completes the request at once, else the form.
func (d *OP) showLogin(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	d.mu.Lock()
	req := d.requests[id]
	d.mu.Unlock()
	if req == nil {
		http.Error(w, "unknown or expired sign-in request", http.StatusBadRequest)
		return
	}
	if !req.fresh() {
		if ck, err := r.Cookie(opSessionCookie); err == nil {
			d.mu.Lock()
			s := d.sessions[ck.Value]
			d.mu.Unlock()
			if s != nil {
				d.completeOrAskRole(w, r, req, s)
				return
			}
		}
	}
	d.renderLogin(w, r, id, "", "")
}

func (d *OP) renderLogin(w http.ResponseWriter, r *http.Request, id, username, errMsg string) {
	form := views.DevLoginForm{Action: d.opts.Issuer.Path + "/login", AuthRequestID: id, Username: username, Error: errMsg}
	for _, u := range d.opts.Users {
		form.Users = append(form.Users, u.Username)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status := http.StatusOK
	if errMsg != "" {
		status = http.StatusUnauthorized
	}
	w.WriteHeader(status)
	_ = views.DevLogin(views.Page{Title: "Development sign-in", DevSignIn: true}, form).Render(r.Context(), w)
}

func (d *OP) submitLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("authRequestID")
	d.mu.Lock()
	req := d.requests[id]
	d.mu.Unlock()
	if req == nil {
		http.Error(w, "unknown or expired sign-in request", http.StatusBadRequest)
		return
	}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	u, known := d.users[username]
	pwOK := subtle.ConstantTimeCompare([]byte(r.PostForm.Get("password")), []byte(d.opts.Password)) == 1
	if !known || !pwOK {
		d.opts.Logger.Info("development OIDC sign-in failed", "username_known", known)
		d.renderLogin(w, r, id, username, "Enter a correct username and password")
		return
	}
	s := &opSession{ID: randomID(), Subject: u.UserID, AuthAt: time.Now().UTC().Truncate(time.Second), Clients: map[string]bool{}}
	d.mu.Lock()
	d.sessions[s.ID] = s
	d.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: opSessionCookie, Value: s.ID, Path: d.opts.Issuer.Path, HttpOnly: true,
		Secure: d.opts.Issuer.Scheme == "https", SameSite: http.SameSiteLaxMode})
	d.completeOrAskRole(w, r, req, s)
}

// needsRole reports whether the user must choose a role profile here, as
// CIS2 asks a user with several after authentication.
func (d *OP) needsRole(u User, s *opSession) bool {
	return !d.opts.NHSLogin && len(u.Profiles) > 1 && u.SelectedRoleID == "" && s.Role == ""
}

// completeOrAskRole completes the request, after the role choice when the
// user holds several role profiles and has not chosen one in this session.
func (d *OP) completeOrAskRole(w http.ResponseWriter, r *http.Request, req *authRequest, s *opSession) {
	u := d.bySub[s.Subject]
	if d.needsRole(u, s) {
		d.renderRoleChoice(w, r, req.id, u, "")
		return
	}
	d.complete(w, r, req, s)
}

func (d *OP) renderRoleChoice(w http.ResponseWriter, r *http.Request, id string, u User, errMsg string) {
	f := views.DevRoleForm{Action: d.opts.Issuer.Path + "/role", AuthRequestID: id, Name: u.DisplayName, Error: errMsg}
	for i, p := range u.Profiles {
		f.Options = append(f.Options, views.DevRoleOption{Index: i, Code: p.Code, ODS: p.ODS, OrgName: p.OrgName})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	status := http.StatusOK
	if errMsg != "" {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_ = views.DevRoleChoice(views.Page{Title: "Choose your role", DevSignIn: true}, f).Render(r.Context(), w)
}

// chooseRole records the role profile chosen for this session here and
// completes the request; selected_roleid then names it.
func (d *OP) chooseRole(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id := r.PostForm.Get("authRequestID")
	d.mu.Lock()
	req := d.requests[id]
	var s *opSession
	if ck, err := r.Cookie(opSessionCookie); err == nil {
		s = d.sessions[ck.Value]
	}
	d.mu.Unlock()
	if req == nil || s == nil {
		http.Error(w, "unknown or expired sign-in request", http.StatusBadRequest)
		return
	}
	u := d.bySub[s.Subject]
	i, err := strconv.Atoi(r.PostForm.Get("role"))
	if err != nil || i < 0 || i >= len(u.Profiles) {
		d.renderRoleChoice(w, r, id, u, "Select the role you are working in")
		return
	}
	d.mu.Lock()
	s.Role = roleID(u, i)
	d.mu.Unlock()
	d.complete(w, r, req, s)
}

// selectedRoleIn is the role the user chose in the session, or else the
// one selectedRole gives.
func (d *OP) selectedRoleIn(u User, sessionID string) string {
	d.mu.Lock()
	s := d.sessions[sessionID]
	d.mu.Unlock()
	if s != nil && s.Role != "" && u.SelectedRoleID == "" {
		return s.Role
	}
	return selectedRole(u)
}

// complete marks the request authenticated and returns to the library,
// which issues the code.
func (d *OP) complete(w http.ResponseWriter, r *http.Request, req *authRequest, s *opSession) {
	d.mu.Lock()
	req.subject, req.sessionID, req.authTime, req.done = s.Subject, s.ID, s.AuthAt, true
	s.Clients[req.ClientID] = true
	d.mu.Unlock()
	http.Redirect(w, r, d.Issuer()+"/authorize/callback?id="+url.QueryEscape(req.id), http.StatusFound)
}

// LogoutTokenOptions change what LogoutToken signs, so that tests can
// make tokens a provider must never send (another audience, expired, ...).
type LogoutTokenOptions struct {
	Audience  string // the client id; required
	Subject   string
	SessionID string
	Issuer    string        // the provider's when empty
	Expires   time.Duration // from now; two minutes when zero
	Nonce     string        // a logout token must carry none
	Key       *rsa.PrivateKey
}

// LogoutToken signs a back-channel logout token (OpenID Connect
// Back-Channel Logout 1.0, section 2.4). zitadel/oidc's provider does not
// send these, so the development provider builds them itself.
func (d *OP) LogoutToken(o LogoutTokenOptions) (string, error) {
	iss, key, kid := o.Issuer, o.Key, d.keyID
	if iss == "" {
		iss = d.Issuer()
	}
	if key == nil {
		key = d.opts.Key
	} else {
		kid = "other-key"
	}
	exp := o.Expires
	if exp == 0 {
		exp = 2 * time.Minute
	}
	now := time.Now()
	claims := map[string]any{
		"iss": iss, "aud": o.Audience, "iat": now.Unix(), "exp": now.Add(exp).Unix(), "jti": randomID(),
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	if o.Subject != "" {
		claims["sub"] = o.Subject
	}
	if o.SessionID != "" {
		claims["sid"] = o.SessionID
	}
	if o.Nonce != "" {
		claims["nonce"] = o.Nonce
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("logout+jwt").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return "", err
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// sendBackChannelLogout tells every client the session signed in to that
// it has ended.
func (d *OP) sendBackChannelLogout(ctx context.Context, s *opSession) {
	d.mu.Lock()
	var targets []OIDCClient
	for id := range s.Clients {
		if c, ok := d.clients[id]; ok && c.BackChannelLogoutURI != "" {
			targets = append(targets, c)
		}
	}
	d.mu.Unlock()
	for _, c := range targets {
		tok, err := d.LogoutToken(LogoutTokenOptions{Audience: c.ID, Subject: s.Subject, SessionID: s.ID})
		if err != nil {
			continue
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.BackChannelLogoutURI,
			strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := d.opts.HTTPClient.Do(req)
		if err != nil {
			d.opts.Logger.Warn("devidp: back-channel logout failed", "client", c.ID, "error", err.Error())
			continue
		}
		resp.Body.Close()
		d.opts.Logger.Info("devidp: back-channel logout sent", "client", c.ID, "status", resp.StatusCode)
	}
}

// The storage the op package needs.

type authRequest struct {
	oidc.AuthRequest
	id        string
	created   time.Time
	subject   string
	sessionID string
	authTime  time.Time
	done      bool
}

func (a *authRequest) fresh() bool {
	return slices.Contains([]string(a.Prompt), "login") || (a.MaxAge != nil && *a.MaxAge == 0)
}

func (a *authRequest) GetID() string                      { return a.id }
func (a *authRequest) GetACR() string                     { return "" }
func (a *authRequest) GetAMR() []string                   { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string              { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.authTime }
func (a *authRequest) GetClientID() string                { return a.ClientID }
func (a *authRequest) GetNonce() string                   { return a.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.Scopes }
func (a *authRequest) GetState() string                   { return a.State }
func (a *authRequest) GetSubject() string                 { return a.subject }
func (a *authRequest) Done() bool                         { return a.done }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if a.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: a.CodeChallenge, Method: a.CodeChallengeMethod}
}

var errNotFound = errors.New("devidp: not found")

func (d *OP) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	a := &authRequest{AuthRequest: *r, id: randomID(), created: time.Now()}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.requests[a.id] = a
	return a, nil
}

func (d *OP) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.requests[id]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (d *OP) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if a, ok := d.requests[d.codes[code]]; ok {
		return a, nil
	}
	return nil, errNotFound
}

func (d *OP) SaveAuthCode(_ context.Context, id, code string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.codes[code] = id
	return nil
}

// DeleteAuthRequest is called once the code is exchanged: the code can
// never be used again.
func (d *OP) DeleteAuthRequest(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.requests, id)
	for c, rid := range d.codes {
		if rid == id {
			delete(d.codes, c)
		}
	}
	return nil
}

func (d *OP) CreateAccessToken(_ context.Context, req op.TokenRequest) (string, time.Time, error) {
	t := &accessToken{subject: req.GetSubject(), scopes: req.GetScopes(), expires: time.Now().Add(5 * time.Minute)}
	if a, ok := req.(*authRequest); ok {
		t.clientID, t.sessionID = a.ClientID, a.sessionID
	}
	id := randomID()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tokens[id] = t
	return id, t.expires, nil
}

func (d *OP) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("devidp: no refresh tokens")
}

func (d *OP) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, errors.New("devidp: no refresh tokens")
}

// TerminateSessionFromRequest ends the user's session here (RP-initiated
// logout) and tells the relying parties it had signed in to.
func (d *OP) TerminateSessionFromRequest(ctx context.Context, req *op.EndSessionRequest) (string, error) {
	d.mu.Lock()
	var ended []*opSession
	for id, s := range d.sessions {
		if s.Subject == req.UserID {
			ended = append(ended, s)
			delete(d.sessions, id)
		}
	}
	d.mu.Unlock()
	for _, s := range ended {
		d.sendBackChannelLogout(ctx, s)
	}
	return req.RedirectURI, nil
}

func (d *OP) TerminateSession(context.Context, string, string) error { return nil }

func (d *OP) RevokeToken(_ context.Context, token, _, _ string) *oidc.Error {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.tokens, token)
	return nil
}

func (d *OP) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

func (d *OP) SigningKey(context.Context) (op.SigningKey, error) {
	return signingKey{d.keyID, d.opts.Key}, nil
}

func (d *OP) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (d *OP) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{signingKey{d.keyID, d.opts.Key}}}, nil
}

type opClient struct {
	c      OIDCClient
	loginP string
}

func (c opClient) GetID() string                    { return c.c.ID }
func (c opClient) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c opClient) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }
func (c opClient) ApplicationType() op.ApplicationType {
	return op.ApplicationTypeWeb
}
func (c opClient) AuthMethod() oidc.AuthMethod {
	if len(c.c.Keys.Keys) > 0 {
		return oidc.AuthMethodPrivateKeyJWT
	}
	return oidc.AuthMethodPost
}
func (c opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c opClient) GrantTypes() []oidc.GrantType { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c opClient) LoginURL(id string) string {
	return c.loginP + "?authRequestID=" + url.QueryEscape(id)
}
func (c opClient) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (c opClient) IDTokenLifetime() time.Duration { return time.Hour }
func (c opClient) DevMode() bool                  { return false }
func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c opClient) IsScopeAllowed(s string) bool {
	return s == "nationalrbacaccess" || s == "selectedrole"
}
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c opClient) ClockSkew() time.Duration             { return 0 }

func (d *OP) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.clients[id]
	if !ok {
		return nil, errNotFound
	}
	return opClient{c: c, loginP: d.opts.Issuer.Path + "/login"}, nil
}

func (d *OP) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.clients[id]
	if !ok || c.Secret == "" || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		return errors.New("devidp: wrong client credentials")
	}
	return nil
}

func (d *OP) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token: as CIS2, the assurance
// level and the selected role, and the session id for back-channel logout.
func (d *OP) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	u, ok := d.bySub[req.GetSubject()]
	if !ok {
		return errNotFound
	}
	ui.Subject = u.UserID
	if u.Patient != nil {
		// NHS login's ID token: the vector of trust granted, and the
		// patient's NHS number and proofing level.
		lvl := cmp.Or(u.Patient.ProofingLevel, "P9")
		ui.AppendClaims("vot", lvl+".Cp.Cd")
		ui.AppendClaims("vtm", "https://auth.sandpit.signin.nhs.uk/trustmark/auth.sandpit.signin.nhs.uk")
		ui.AppendClaims("identity_proofing_level", lvl)
		ui.AppendClaims("nhs_number", u.Patient.NHSNumber)
		return nil
	}
	ui.AppendClaims("authentication_assurance_level", strings.TrimPrefix(u.Assurance, "AAL"))
	if a, ok := req.(*authRequest); ok && a.sessionID != "" {
		ui.AppendClaims("sid", a.sessionID)
	}
	if slices.Contains(scopes, "selectedrole") {
		sid := ""
		if a, ok := req.(*authRequest); ok {
			sid = a.sessionID
		}
		if sel := d.selectedRoleIn(u, sid); sel != "" {
			ui.AppendClaims("selected_roleid", sel)
		}
	}
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint with CIS2's claims.
func (d *OP) SetUserinfoFromToken(_ context.Context, ui *oidc.UserInfo, tokenID, _, _ string) error {
	d.mu.Lock()
	t, ok := d.tokens[tokenID]
	d.mu.Unlock()
	if !ok || time.Now().After(t.expires) {
		return errors.New("devidp: unknown or expired access token")
	}
	u, ok := d.bySub[t.subject]
	if !ok {
		return errNotFound
	}
	ui.Subject = u.UserID
	if u.Patient != nil {
		// NHS login's userinfo for the profile scope.
		p := u.Patient
		ui.AppendClaims("nhs_number", p.NHSNumber)
		ui.AppendClaims("identity_proofing_level", cmp.Or(p.ProofingLevel, "P9"))
		ui.AppendClaims("birthdate", p.BirthDate)
		ui.AppendClaims("family_name", p.FamilyName)
		ui.AppendClaims("given_name", p.GivenName)
		return nil
	}
	ui.AppendClaims("nhsid_useruid", u.UserID)
	ui.AppendClaims("authentication_assurance_level", strings.TrimPrefix(u.Assurance, "AAL"))
	if slices.Contains(t.scopes, "profile") {
		ui.Name = u.DisplayName
		if given, family, ok := strings.Cut(u.DisplayName, " "); ok {
			ui.GivenName, ui.FamilyName = given, family
		}
	}
	if slices.Contains(t.scopes, "nationalrbacaccess") {
		roles := []map[string]string{}
		orgs := []map[string]string{}
		seen := map[string]bool{}
		for i, p := range u.Profiles {
			roles = append(roles, map[string]string{
				"person_roleid": roleID(u, i), "role_code": "S0000:G0000:" + p.Code, "org_code": p.ODS,
				"role_name": `"Clinical":"Clinical Provision":"` + p.Code + `"`, "person_orgid": u.UserID + p.ODS,
			})
			if !seen[p.ODS] {
				seen[p.ODS] = true
				orgs = append(orgs, map[string]string{"org_code": p.ODS, "org_name": p.OrgName})
			}
		}
		ui.AppendClaims("nhsid_nrbac_roles", roles)
		ui.AppendClaims("nhsid_user_orgs", orgs)
	}
	if slices.Contains(t.scopes, "selectedrole") {
		if sel := d.selectedRoleIn(u, t.sessionID); sel != "" {
			ui.AppendClaims("selected_roleid", sel)
		}
	}
	return nil
}

// roleID is a role profile's person_roleid.
func roleID(u User, i int) string { return fmt.Sprintf("%s%02d", u.UserID, i+1) }

// selectedRole is the role the user "picked" at sign-in: the first, as
// CIS2 does for a user with one role, unless the user names another.
func selectedRole(u User) string {
	if u.SelectedRoleID != "" {
		return u.SelectedRoleID
	}
	if len(u.Profiles) == 0 {
		return ""
	}
	return roleID(u, 0)
}

func (d *OP) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("devidp: no introspection")
}

func (d *OP) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID finds a client's key for private_key_jwt.
func (d *OP) GetKeyByIDAndClientID(_ context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.clients[clientID]
	if !ok {
		return nil, errNotFound
	}
	for _, k := range c.Keys.Keys {
		if k.KeyID == keyID || keyID == "" {
			k := k
			return &k, nil
		}
	}
	return nil, errNotFound
}

func (d *OP) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("devidp: no JWT profile grant")
}

func (d *OP) Health(context.Context) error { return nil }
