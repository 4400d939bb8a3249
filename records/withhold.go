package records

import "context"

// StateWithheld marks a source whose data is not shown because the patient
// has objected to sharing: it is neither asked, nor read from the cache.
const StateWithheld SourceState = "withheld"

type allowKey struct{}

// OnlySources returns a context under which Records.Open and Status ask,
// read from cache and show only the sources allow accepts (by ODS code);
// the others are reported as StateWithheld with no data. It is how an
// upheld objection is enforced: another organisation's data for the
// patient is never fetched, cached or returned.
func OnlySources(ctx context.Context, allow func(ods string) bool) context.Context {
	return context.WithValue(ctx, allowKey{}, allow)
}

// sourceAllowed reports whether ctx lets the source be used.
func sourceAllowed(ctx context.Context, ods string) bool {
	allow, ok := ctx.Value(allowKey{}).(func(string) bool)
	return !ok || allow(ods)
}

// withhold marks st as withheld.
func withhold(st *SourceStatus) {
	st.State = StateWithheld
	st.Error = st.Source.Name + ": not shown, because the patient has objected to sharing"
}
