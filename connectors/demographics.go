package connectors

import (
	"context"
	"errors"
)

// Demographics is the national demographic service (PDS): who the patient
// is, whatever the sources hold. When one is configured, the banner takes
// the patient's name, birth date, gender, address, GP and death from it,
// and a restricted record there is restricted everywhere.
type Demographics interface {
	// Source names the service as pages show it.
	Source() Source
	// Demographics returns the service's record of the patient with this
	// NHS number. Its NHSNumber differs from nhs when nhs was superseded
	// (records merged). Errors wrap ErrNoRecord when the service holds no
	// such patient, ErrNHSNumberInvalidated when the number was
	// invalidated, or are *SourceError.
	Demographics(ctx context.Context, nhs string) (*Patient, error)
	// FindPatients finds patients by NHS number or demographics, as
	// Connector.FindPatients.
	FindPatients(ctx context.Context, q Query) ([]Patient, error)
}

// ErrNHSNumberInvalidated means the NHS number was invalidated and not
// superseded by another: it identifies nobody now.
var ErrNHSNumberInvalidated = errors.New("NHS number invalidated")
