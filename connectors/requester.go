package connectors

import "context"

// Requester is the signed-in user on whose behalf a source is asked, for
// sources that must be told (GP Connect's JWT names the practitioner, their
// role and organisation). Identifiers only: never patient content.
type Requester struct {
	// UserID is the user's SDS user id (the smartcard's UUID), or the
	// identity provider's user id where there is none.
	UserID string
	// Name is the user's display name.
	Name string
	// RoleCode is the national RBAC role code of the session's role
	// ("R8000"); RoleProfileID the SDS role profile id when sign-in gave
	// one.
	RoleCode      string
	RoleProfileID string
	// OrgODS and OrgName are the organisation the user works for in this
	// session.
	OrgODS  string
	OrgName string
}

type requesterKey struct{}

// WithRequester returns ctx carrying r.
func WithRequester(ctx context.Context, r Requester) context.Context {
	return context.WithValue(ctx, requesterKey{}, r)
}

// RequesterFrom returns the requester ctx carries, if any.
func RequesterFrom(ctx context.Context) (Requester, bool) {
	r, ok := ctx.Value(requesterKey{}).(Requester)
	return r, ok
}
