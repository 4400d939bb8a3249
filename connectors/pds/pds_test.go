package pds_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/pds"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

// clock is an adjustable clock for the synthetic PDS's token checks.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func startPDS(t *testing.T, o synthetic.PDSOptions) *synthetic.PDS {
	t.Helper()
	p, err := synthetic.StartPDS(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newClient(t *testing.T, cfg pds.Config) *pds.Client {
	t.Helper()
	c, err := pds.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestRead(t *testing.T) {
	srv := startPDS(t, synthetic.PDSOptions{})
	c := newClient(t, srv.Config())
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		r, err := c.Read(ctx, synthetic.RichNHSNumber)
		if err != nil {
			t.Fatal(err)
		}
		p := r.Patient
		if r.Superseded() || p.NHSNumber != synthetic.RichNHSNumber {
			t.Errorf("NHS number %s (superseded %v), want %s", p.NHSNumber, r.Superseded(), synthetic.RichNHSNumber)
		}
		if got := p.DisplayName(); got != "SMITH, Jane (Mrs)" {
			t.Errorf("name %q", got)
		}
		if p.BirthDate != connectors.NewDate(1965, time.March, 12) || p.Gender != connectors.GenderFemale {
			t.Errorf("born %v gender %q", p.BirthDate, p.Gender)
		}
		if p.Postcode != "SE5 9ZZ" || len(p.AddressLines) == 0 || p.Phone == "" {
			t.Errorf("address %v %q phone %q", p.AddressLines, p.Postcode, p.Phone)
		}
		if p.RegisteredGP.ODS != synthetic.PeckhamGPODS {
			t.Errorf("GP %+v, want ODS %s", p.RegisteredGP, synthetic.PeckhamGPODS)
		}
		if p.Restricted || p.Deceased || p.Source != pds.Source {
			t.Errorf("restricted %v deceased %v source %v", p.Restricted, p.Deceased, p.Source)
		}
	})
	t.Run("RestrictedHasNoAddressPhoneOrGP", func(t *testing.T) {
		r, err := c.Read(ctx, synthetic.RestrictedNHSNumber)
		if err != nil {
			t.Fatal(err)
		}
		p := r.Patient
		if !p.Restricted || len(p.AddressLines) > 0 || p.Postcode != "" || p.Phone != "" || p.RegisteredGP != (connectors.Organisation{}) {
			t.Errorf("restricted %v, address %v %q, phone %q, GP %+v", p.Restricted, p.AddressLines, p.Postcode, p.Phone, p.RegisteredGP)
		}
	})
	t.Run("Deceased", func(t *testing.T) {
		r, err := c.Read(ctx, synthetic.DeceasedNHSNumber)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Patient.Deceased || r.Patient.DeathDate == nil || *r.Patient.DeathDate != connectors.NewDate(2025, time.January, 14) {
			t.Errorf("deceased %v date %v", r.Patient.Deceased, r.Patient.DeathDate)
		}
	})
	t.Run("SupersededNumberGivesTheCurrentOne", func(t *testing.T) {
		r, err := c.Read(ctx, synthetic.SupersededNHSNumber)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Superseded() || r.Requested != synthetic.SupersededNHSNumber || r.Patient.NHSNumber != synthetic.RichNHSNumber {
			t.Errorf("superseded %v requested %s current %s", r.Superseded(), r.Requested, r.Patient.NHSNumber)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := c.Read(ctx, "9990000603")
		if !errors.Is(err, pds.ErrNotFound) || !errors.Is(err, connectors.ErrNoRecord) {
			t.Errorf("err %v, want ErrNotFound wrapping ErrNoRecord", err)
		}
	})
	t.Run("ErrInvalidated", func(t *testing.T) {
		srv.Invalidate("9990000638")
		_, err := c.Read(ctx, "9990000638")
		if !errors.Is(err, pds.ErrInvalidated) {
			t.Errorf("err %v, want ErrInvalidated", err)
		}
	})
	t.Run("InvalidNHSNumberRefused", func(t *testing.T) {
		_, err := c.Read(ctx, "9990000019")
		if se, ok := errors.AsType[*connectors.SourceError](err); !ok || se.Status != 400 || se.Detail != "OperationOutcome INVALID_RESOURCE_ID" {
			t.Errorf("err %#v, want HTTP 400 INVALID_RESOURCE_ID", err)
		}
	})
}

func TestAccessToken(t *testing.T) {
	ctx := context.Background()
	t.Run("ReusedWhileValid", func(t *testing.T) {
		srv := startPDS(t, synthetic.PDSOptions{})
		c := newClient(t, srv.Config())
		for range 3 {
			if _, err := c.Read(ctx, synthetic.RichNHSNumber); err != nil {
				t.Fatal(err)
			}
		}
		if n := srv.Exchanges(); n != 1 {
			t.Errorf("%d token exchanges for three reads, want 1", n)
		}
	})
	t.Run("RefreshedBeforeExpiry", func(t *testing.T) {
		// A token that lapses within the refresh margin is replaced
		// before it is used again.
		srv := startPDS(t, synthetic.PDSOptions{TokenLifetime: 30 * time.Second})
		c := newClient(t, srv.Config())
		for range 2 {
			if _, err := c.Read(ctx, synthetic.RichNHSNumber); err != nil {
				t.Fatal(err)
			}
		}
		if n := srv.Exchanges(); n != 2 {
			t.Errorf("%d token exchanges, want 2 (one per read)", n)
		}
	})
	t.Run("ExpiredTokenRefused", func(t *testing.T) {
		clk := &clock{}
		srv := startPDS(t, synthetic.PDSOptions{Now: clk.now})
		c := newClient(t, srv.Config())
		if _, err := c.Read(ctx, synthetic.RichNHSNumber); err != nil {
			t.Fatal(err)
		}
		clk.advance(time.Hour) // the server's clock says the token lapsed
		_, err := c.Read(ctx, synthetic.RichNHSNumber)
		if se, ok := errors.AsType[*connectors.SourceError](err); !ok || se.Status != 401 || se.Detail != "OperationOutcome ACCESS_DENIED" {
			t.Errorf("err %#v, want HTTP 401 ACCESS_DENIED", err)
		}
	})

	refused := []struct {
		name string
		edit func(cfg *pds.Config)
	}{
		{"WrongKey", func(cfg *pds.Config) {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				t.Fatal(err)
			}
			cfg.Key = k
		}},
		{"WrongKeyID", func(cfg *pds.Config) { cfg.KeyID = "another-key" }},
		{"WrongAPIKey", func(cfg *pds.Config) { cfg.APIKey = "someone-else" }},
		// The same server under another name: the assertion's audience
		// is not the token endpoint the platform knows itself as.
		{"WrongAudience", func(cfg *pds.Config) { cfg.TokenURL = strings.Replace(cfg.TokenURL, "127.0.0.1", "localhost", 1) }},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			srv := startPDS(t, synthetic.PDSOptions{})
			cfg := srv.Config()
			tc.edit(&cfg)
			c := newClient(t, cfg)
			_, err := c.Read(ctx, synthetic.RichNHSNumber)
			se, ok := errors.AsType[*connectors.SourceError](err)
			if !ok || se.Status != 401 || !strings.HasPrefix(se.Detail, "token exchange refused") {
				t.Fatalf("err %#v, want the token exchange refused with 401", err)
			}
			if strings.Contains(se.Error(), synthetic.RichNHSNumber) {
				t.Errorf("error names the patient: %q", se.Error())
			}
		})
	}
	t.Run("Down", func(t *testing.T) {
		srv := startPDS(t, synthetic.PDSOptions{})
		c := newClient(t, srv.Config())
		srv.SetDown(true)
		_, err := c.Read(ctx, synthetic.RichNHSNumber)
		if se, ok := errors.AsType[*connectors.SourceError](err); !ok || se.Status != 503 {
			t.Errorf("err %#v, want HTTP 503", err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		srv := startPDS(t, synthetic.PDSOptions{})
		c := newClient(t, srv.Config())
		srv.Close()
		_, err := c.Read(ctx, synthetic.RichNHSNumber)
		if connectors.KindOf(err) != connectors.ErrUnavailable {
			t.Errorf("err %v, want unavailable", err)
		}
	})
}

func TestFindPatients(t *testing.T) {
	srv := startPDS(t, synthetic.PDSOptions{})
	c := newClient(t, srv.Config())
	ctx := context.Background()
	cases := []struct {
		name string
		q    connectors.Query
		want []string
	}{
		{"UniqueMatch", connectors.Query{Family: "smith", BirthDate: connectors.NewDate(1965, time.March, 12)}, []string{synthetic.RichNHSNumber}},
		{"WildcardGivenAndPostcode", connectors.Query{Family: "Smith", Given: "Jan*", Postcode: "SE5*", BirthDate: connectors.NewDate(1965, time.March, 12)}, []string{synthetic.RichNHSNumber}},
		{"NoMatch", connectors.Query{Family: "Smith", BirthDate: connectors.NewDate(1966, time.March, 12)}, nil},
		{"RestrictedNotFoundByPostcode", connectors.Query{Family: "Ashdown", Postcode: "SE22 1ZZ", BirthDate: connectors.NewDate(1991, time.December, 4)}, nil},
		{"RestrictedFoundWithoutPostcode", connectors.Query{Family: "Ashdown", BirthDate: connectors.NewDate(1991, time.December, 4)}, []string{synthetic.RestrictedNHSNumber}},
		{"ByNHSNumber", connectors.Query{NHSNumber: synthetic.DeceasedNHSNumber}, []string{synthetic.DeceasedNHSNumber}},
		{"BySupersededNHSNumberFindsCurrent", connectors.Query{NHSNumber: synthetic.SupersededNHSNumber}, []string{synthetic.RichNHSNumber}},
		{"ByUnknownNHSNumber", connectors.Query{NHSNumber: "9990000603"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.FindPatients(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var nhs []string
			for _, p := range got {
				nhs = append(nhs, p.NHSNumber)
				if p.Restricted && (p.Postcode != "" || len(p.AddressLines) > 0) {
					t.Errorf("restricted patient with an address")
				}
			}
			if strings.Join(nhs, ",") != strings.Join(tc.want, ",") {
				t.Errorf("found %v, want %v", nhs, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := pds.Config{BaseURL: "https://api.service.nhs.uk/personal-demographics/FHIR/R4",
		TokenURL: "https://api.service.nhs.uk/oauth2/token", APIKeyEnv: "K", KeyFile: "/k.pem", KeyID: "k1"}
	cases := []struct {
		name string
		edit func(*pds.Config)
		want string
	}{
		{"OK", func(*pds.Config) {}, ""},
		{"PlainHTTPRefused", func(c *pds.Config) { c.BaseURL = "http://pds.example.nhs.uk/FHIR/R4" }, "pds.base_url"},
		{"NoKey", func(c *pds.Config) { c.KeyFile = "" }, "pds.key_file"},
		{"NoKeyID", func(c *pds.Config) { c.KeyID = "" }, "pds.key_id"},
		{"NoAPIKey", func(c *pds.Config) { c.APIKeyEnv = "" }, "pds.api_key_env"},
		{"NoTokenURL", func(c *pds.Config) { c.TokenURL = "" }, "pds.token_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			errs := errors.Join(cfg.Validate()...)
			switch {
			case tc.want == "" && errs != nil:
				t.Errorf("unexpected %v", errs)
			case tc.want != "" && (errs == nil || !strings.Contains(errs.Error(), tc.want)):
				t.Errorf("errors %v, want one naming %s", errs, tc.want)
			}
		})
	}
}

// TestDemoPatientPDSSpellsDifferently: the demo's patient whose given name
// PDS spells differently from the sources is still generated, and differs.
func TestDemoPatientPDSSpellsDifferently(t *testing.T) {
	srv := startPDS(t, synthetic.PDSOptions{})
	c := newClient(t, srv.Config())
	r, err := c.Read(context.Background(), synthetic.PDSDisagreesNHSNumber)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range synthetic.Patients() {
		if p.NHSNumber == synthetic.PDSDisagreesNHSNumber {
			if strings.Join(p.Given, " ") == strings.Join(r.Patient.Given, " ") {
				t.Errorf("PDS and the sources both hold %v", p.Given)
			}
			return
		}
	}
	t.Fatal("the patient is no longer generated")
}
