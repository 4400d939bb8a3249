package web

import (
	"fmt"
	"slices"
	"sort"
)

// Permission is what a route needs. Every route in routes.go declares one.
type Permission string

// The permissions. Public, SignedIn and AnyRole describe who may reach a
// route at all; the rest come from the chosen role profile's group.
const (
	PermPublic    Permission = "public"    // no sign-in needed
	PermSignedIn  Permission = "signed-in" // a live session, role not yet chosen is fine
	PermAnyRole   Permission = "any-role"  // a live session with a chosen role profile
	PermSearch    Permission = "search-patients"
	PermDemog     Permission = "view-demographics"
	PermClinical  Permission = "view-clinical-record"
	PermAudit     Permission = "review-audit-log"
	PermObjection Permission = "manage-objections"
	PermStatus    Permission = "view-service-status"
	// PermPatient is a patient's, signed in with NHS login: their own
	// pages and nothing else. No staff group has it, and a patient has
	// no other permission, not even PermSignedIn.
	PermPatient Permission = "patient-own-pages"
)

// Describe is the phrase a 403 page uses for a missing permission.
func (p Permission) Describe() string {
	switch p {
	case PermSearch:
		return "search for patients"
	case PermDemog:
		return "see patient demographics"
	case PermClinical:
		return "see clinical records"
	case PermAudit:
		return "review the access audit log"
	case PermObjection:
		return "manage patients' objections"
	case PermStatus:
		return "see the service status"
	case PermAnyRole:
		return "use carerecord with a chosen role"
	case PermSignedIn:
		return "be signed in"
	case PermPatient:
		return "see a patient's own pages (for patients signed in with NHS login)"
	}
	return string(p)
}

// Group is a family of roles that share permissions. The role mapping in
// the configuration assigns each role code to one group.
type Group string

// The groups.
const (
	GroupClinical Group = "clinical" // doctors, nurses, allied health: search and open records
	GroupClerical Group = "clerical" // clerical and admin staff: search, demographics only
	GroupPrivacy  Group = "privacy"  // IG / privacy officers: audit and objections, no clinical data
	GroupAdmin    Group = "admin"    // system administrators: service status, no clinical data
)

// groupPermissions is the one place where groups turn into permissions.
var groupPermissions = map[Group][]Permission{
	GroupClinical: {PermSearch, PermDemog, PermClinical},
	GroupClerical: {PermSearch, PermDemog},
	GroupPrivacy:  {PermAudit, PermObjection},
	GroupAdmin:    {PermStatus},
}

// Groups lists the known groups in a stable order.
func Groups() []Group {
	gs := make([]Group, 0, len(groupPermissions))
	for g := range groupPermissions {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool { return gs[i] < gs[j] })
	return gs
}

// Valid reports whether g is a known group.
func (g Group) Valid() bool { _, ok := groupPermissions[g]; return ok }

// Has reports whether the group grants p.
func (g Group) Has(p Permission) bool { return slices.Contains(groupPermissions[g], p) }

// Home is the page each group lands on after sign-in.
func (g Group) Home() string {
	switch g {
	case GroupClinical, GroupClerical:
		return "/patients"
	case GroupPrivacy:
		return "/ig"
	case GroupAdmin:
		return "/admin/status"
	}
	return "/"
}

// RoleDef is one configured role code.
type RoleDef struct {
	Code  string
	Name  string // e.g. "Clinical Practitioner"
	Group Group
}

// RoleMap maps a role code (e.g. R8000) to its definition.
type RoleMap map[string]RoleDef

// DefaultRoles is the mapping used when the configuration gives none,
// after the national RBAC role codes.
func DefaultRoles() RoleMap {
	return RoleMap{
		"R8000": {Code: "R8000", Name: "Clinical Practitioner", Group: GroupClinical},
		"R8001": {Code: "R8001", Name: "Nurse", Group: GroupClinical},
		"R8003": {Code: "R8003", Name: "Health Professional", Group: GroupClinical},
		"R8010": {Code: "R8010", Name: "Clerical", Group: GroupClerical},
		"R0001": {Code: "R0001", Name: "Privacy Officer", Group: GroupPrivacy},
		"R8015": {Code: "R8015", Name: "System Administrator", Group: GroupAdmin},
	}
}

// Validate checks every entry, naming the first bad one.
func (m RoleMap) Validate() error {
	if len(m) == 0 {
		return fmt.Errorf("no roles are mapped")
	}
	codes := make([]string, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		d := m[c]
		if d.Name == "" {
			return fmt.Errorf("role %q: name is empty", c)
		}
		if !d.Group.Valid() {
			return fmt.Errorf("role %q: group %q is not one of %v", c, d.Group, Groups())
		}
	}
	return nil
}
