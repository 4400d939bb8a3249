package web

import (
	"context"

	"github.com/carerecord/carerecord/store"
)

// User is the signed-in person for one request.
type User struct {
	ID          string
	Name        string
	Profiles    []store.RoleProfile
	Role        *store.RoleProfile // nil until a profile is chosen
	RoleDef     RoleDef            // the chosen profile's definition
	Assurance   int
	NHSNumber   string // the user's own NHS number, if the IdP asserts it
	SessionHash string // the hashed session id, safe for logs and audit
	// Patient: a member of the public signed in with NHS login, whose
	// NHSNumber is verified. A patient session is a separate kind: it has
	// PermPatient and nothing else, and never a role profile.
	Patient bool
	// ProofingLevel is the patient's NHS login identity level ("P9").
	ProofingLevel string
}

// Can reports whether the user may do p.
func (u *User) Can(p Permission) bool {
	if p == PermPublic {
		return true
	}
	if u != nil && u.Patient {
		return p == PermPatient
	}
	switch p {
	case PermPatient:
		return false
	case PermSignedIn:
		return u != nil
	case PermAnyRole:
		return u != nil && u.Role != nil
	}
	return u != nil && u.Role != nil && u.RoleDef.Group.Has(p)
}

// Home is where the user lands: their group's home, or role choice.
func (u *User) Home() string {
	if u.Patient {
		return myRecordPath
	}
	if u.Role == nil {
		return "/roles"
	}
	return u.RoleDef.Group.Home()
}

type userKey struct{}

// WithUser returns a context carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the signed-in user, or nil for an anonymous request.
func UserFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}
