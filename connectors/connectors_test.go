package connectors_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/carerecord/carerecord/connectors"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want connectors.Date
		ok   bool
	}{
		{"1965-03-12", connectors.NewDate(1965, time.March, 12), true},
		// Partial dates keep their precision: no day (or month) is invented.
		{"1965-03", connectors.NewDate(1965, time.March, 0), true},
		{"1965", connectors.NewDate(1965, 0, 0), true},
		{"1965-13", connectors.Date{}, false},
		{"1965-02-30", connectors.Date{}, false},
		{"12/03/1965", connectors.Date{}, false},
		{"", connectors.Date{}, false},
	}
	for _, tt := range tests {
		got, err := connectors.ParseDate(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseDate(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestPartialDate checks that a partial date shows, encodes and orders as
// far as it is known and never as the first of the month or year.
func TestPartialDate(t *testing.T) {
	tests := []struct {
		in, text, screen string
		precision        connectors.Precision
		partial          bool
	}{
		{"1957", "1957", "1957", connectors.PrecisionYear, true},
		{"1957-05", "1957-05", "May-1957", connectors.PrecisionMonth, true},
		{"1957-05-12", "1957-05-12", "12-May-1957", connectors.PrecisionDay, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := connectors.ParseDate(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.String(); got != tt.text {
				t.Errorf("String() = %q, want %q", got, tt.text)
			}
			if got := d.Format("02-Jan-2006"); got != tt.screen {
				t.Errorf("Format() = %q, want %q", got, tt.screen)
			}
			if d.Precision() != tt.precision || d.Partial() != tt.partial {
				t.Errorf("Precision() = %v, Partial() = %v; want %v, %v", d.Precision(), d.Partial(), tt.precision, tt.partial)
			}
			b, _ := d.MarshalText()
			var back connectors.Date
			if err := back.UnmarshalText(b); err != nil || back != d {
				t.Errorf("round trip through text = %v, %v; want %v", back, err, d)
			}
			if y := d.Time().Year(); y != 1957 {
				t.Errorf("Time() in year %d, want 1957 (a zero month must not fall into the year before)", y)
			}
		})
	}
}

// TestParseWhen: every source's dates and dateTimes go through ParseWhen,
// which keeps a partial date partial and reads a dateTime as the instant
// its offset says; When.Date gives the calendar date a banner shows (of an
// instant, in UK time).
func TestParseWhen(t *testing.T) {
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, in string
		want     connectors.When
		date     connectors.Date
	}{
		{"Year", "1957", connectors.When{Time: utc("1957-01-01T00:00:00Z"), Precision: connectors.PrecisionYear}, connectors.NewDate(1957, 0, 0)},
		{"YearMonth", "1957-05", connectors.When{Time: utc("1957-05-01T00:00:00Z"), Precision: connectors.PrecisionMonth}, connectors.NewDate(1957, time.May, 0)},
		{"Date", "1957-05-12", connectors.When{Time: utc("1957-05-12T00:00:00Z"), Precision: connectors.PrecisionDay}, connectors.NewDate(1957, time.May, 12)},
		{"DateTimeUTCLateIsNextDayInSummerTime", "2024-03-31T23:30:00Z", connectors.At(utc("2024-03-31T23:30:00Z")), connectors.NewDate(2024, time.April, 1)},
		{"DateTimeWithOffset", "2024-06-30T23:30:00+01:00", connectors.At(utc("2024-06-30T22:30:00Z")), connectors.NewDate(2024, time.June, 30)},
		{"DateTimeWinterIsUTC", "2024-01-15T23:30:00Z", connectors.At(utc("2024-01-15T23:30:00Z")), connectors.NewDate(2024, time.January, 15)},
		{"InstantWithFraction", "2024-01-15T09:05:01.250-05:00", connectors.At(utc("2024-01-15T14:05:01.25Z")), connectors.NewDate(2024, time.January, 15)},
		{"SpacesAround", " 1957-05 ", connectors.When{Time: utc("1957-05-01T00:00:00Z"), Precision: connectors.PrecisionMonth}, connectors.NewDate(1957, time.May, 0)},
		{"BlankIsNothing", "", connectors.When{}, connectors.Date{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := connectors.ParseWhen(tt.in)
			if err != nil || !got.Time.Equal(tt.want.Time) || got.Time.Location() != time.UTC && !got.Time.IsZero() || got.Precision != tt.want.Precision {
				t.Fatalf("ParseWhen(%q) = %+v, %v; want %+v in UTC", tt.in, got, err, tt.want)
			}
			if d := got.Date(); d != tt.date {
				t.Errorf("Date() = %v, want %v", d, tt.date)
			}
		})
	}
	for _, bad := range []string{"1957-13", "1957-02-30", "12/05/1957", "2024-03-31T23:30", "2024-03-31T23:30:00", "2024-03-31 23:30:00Z", "57"} {
		t.Run("ErrBadDate/"+bad, func(t *testing.T) {
			if got, err := connectors.ParseWhen(bad); !errors.Is(err, connectors.ErrBadDate) || !got.IsZero() {
				t.Fatalf("ParseWhen(%q) = %+v, %v; want ErrBadDate", bad, got, err)
			}
		})
	}
}

func TestDate(t *testing.T) {
	d := connectors.NewDate(1965, time.March, 12)
	if got := d.Format("02-Jan-2006"); got != "12-Mar-1965" {
		t.Errorf("Format = %q", got)
	}
	if got := d.Time(); !got.Equal(time.Date(1965, 3, 12, 0, 0, 0, 0, time.UTC)) || got.Location() != time.UTC {
		t.Errorf("Time = %v", got)
	}
	ages := map[connectors.Date]int{
		connectors.NewDate(2026, time.March, 11):    60,
		connectors.NewDate(2026, time.March, 12):    61,
		connectors.NewDate(2026, time.February, 28): 60,
	}
	for on, want := range ages {
		if got := d.AgeOn(on); got != want {
			t.Errorf("AgeOn(%v) = %d, want %d", on, got, want)
		}
	}
	if (connectors.Date{}).String() != "" || !(connectors.Date{}).IsZero() {
		t.Error("zero Date must print empty and be zero")
	}
}

func TestRecordJSONRoundTrip(t *testing.T) {
	// The store caches records as JSON; nothing may be lost on the way.
	low, high, val := 133.0, 146.0, 151.0
	death := connectors.NewDate(2024, time.May, 2)
	rec := connectors.Record{
		Patient: &connectors.Patient{
			NHSNumber: "9990000018", Given: []string{"Jane"}, Family: "Smith", Title: "Mrs",
			BirthDate: connectors.NewDate(1965, 3, 12), DeathDate: &death, Deceased: true, Gender: "female",
			RegisteredGP: connectors.Organisation{Name: "Surgery", ODS: "G85991"},
			Source:       connectors.Source{Name: "Trust", ODS: "RJZ"},
		},
		Entries: []connectors.Entry{{
			Kind: connectors.KindResult, ID: "Observation/1", Source: connectors.Source{Name: "Trust", ODS: "RJZ"},
			Date:    time.Date(2024, 1, 2, 9, 30, 0, 0, time.UTC),
			Fetched: time.Date(2026, 1, 2, 9, 30, 0, 0, time.UTC),
			Codes:   []connectors.Code{{System: connectors.SystemLOINC, Code: "2951-2", Display: "Sodium"}},
			Title:   "Sodium",
			Result: &connectors.Result{Value: "151", Numeric: &val, Units: "mmol/L",
				Range: connectors.RefRange{Low: &low, High: &high}, Flag: connectors.FlagHigh},
		}, {
			Kind: connectors.KindDocument, ID: "DocumentReference/2", Title: "Letter",
			Document: &connectors.Document{Type: "Clinic letter", ContentType: "application/pdf", Data: []byte("%PDF-1.4")},
		}},
		Unreadable: []connectors.Omission{{Kind: connectors.KindResult, Resource: "Observation/9", Reason: "bad date"}},
		Fetched:    time.Date(2026, 1, 2, 9, 30, 0, 0, time.UTC),
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var got connectors.Record
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Errorf("round trip changed the record:\n got %+v\nwant %+v\njson %s", got, rec, b)
	}
}

func TestSortNewestFirst(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 1, d, 0, 0, 0, 0, time.UTC) }
	src := func(ods string) connectors.Source { return connectors.Source{ODS: ods} }
	entries := []connectors.Entry{
		{ID: "a", Source: src("B"), Date: day(1)},
		{ID: "undated", Source: src("A")},
		{ID: "b", Source: src("B"), Date: day(3)},
		{ID: "c", Source: src("A"), Date: day(3)},
		{ID: "d", Source: src("A"), Date: day(2)},
	}
	connectors.SortNewestFirst(entries)
	var got []string
	for _, e := range entries {
		got = append(got, e.ID)
	}
	if want := "c b d a undated"; strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
}

func TestPatient(t *testing.T) {
	p := connectors.Patient{Title: "Mrs", Given: []string{"Jane", "Ann"}, Family: "Smith",
		AddressLines: []string{"1 Imaginary Road"}, Postcode: "SE5 9ZZ", Phone: "020 7946 0000",
		RegisteredGP: connectors.Organisation{Name: "Surgery", ODS: "G85991"}}
	if got := p.DisplayName(); got != "SMITH, Jane Ann (Mrs)" {
		t.Errorf("DisplayName = %q", got)
	}
	p.Redact()
	if p.Postcode == "" {
		t.Error("Redact blanked an unrestricted record")
	}
	p.Restricted = true
	p.Redact()
	if p.AddressLines != nil || p.Postcode != "" || p.Phone != "" || p.RegisteredGP != (connectors.Organisation{}) {
		t.Errorf("Redact left sensitive fields: %+v", p)
	}
}

func TestQueryValidate(t *testing.T) {
	dob := connectors.NewDate(1965, 3, 12)
	tests := []struct {
		name string
		q    connectors.Query
		ok   bool
	}{
		{"OKNHSNumber", connectors.Query{NHSNumber: "999 000 0018"}, true},
		{"OKDemographics", connectors.Query{Family: "Smith", BirthDate: dob, Gender: "female"}, true},
		{"ErrBadNHSNumber", connectors.Query{NHSNumber: "9990000019"}, false},
		{"ErrNoBirthDate", connectors.Query{Family: "Smith"}, false},
		{"ErrNoFamily", connectors.Query{BirthDate: dob}, false},
		{"ErrGender", connectors.Query{Family: "Smith", BirthDate: dob, Gender: "f"}, false},
		{"ErrEmpty", connectors.Query{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, connectors.ErrInvalidQuery) {
				t.Errorf("error %v does not wrap ErrInvalidQuery", err)
			}
		})
	}
}

func TestSourceError(t *testing.T) {
	src := connectors.Source{Name: "Guy's and St Thomas'", ODS: "RJ1"}
	tests := []struct {
		err      *connectors.SourceError
		want     string
		category string
	}{
		{&connectors.SourceError{Source: src, Kind: connectors.ErrTimeout, Err: context.DeadlineExceeded},
			"Guy's and St Thomas': did not answer in time", "timed out"},
		{&connectors.SourceError{Source: src, Kind: connectors.ErrCanceled}, "Guy's and St Thomas': request was cancelled", "cancelled"},
		{&connectors.SourceError{Source: src, Kind: connectors.ErrUnavailable}, "Guy's and St Thomas': could not be reached", "not reached"},
		{&connectors.SourceError{Source: src, Kind: connectors.ErrStatus, Status: 500, Detail: "OperationOutcome error exception"},
			"Guy's and St Thomas': answered with an error (HTTP 500)", "HTTP 500"},
		{&connectors.SourceError{Source: src, Kind: connectors.ErrMalformed, Detail: "response larger than 4096 bytes"},
			"Guy's and St Thomas': sent an answer that could not be read", "unreadable answer"},
		{&connectors.SourceError{Source: src, Kind: connectors.ErrRefused, Detail: "OperationOutcome error not-supported"},
			"Guy's and St Thomas': declined the request", "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.category, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if got := tt.err.Category(); got != tt.category {
				t.Errorf("Category() = %q, want %q", got, tt.category)
			}
		})
	}
	wrapped := fmt.Errorf("fetch: %w", tests[0].err)
	if !errors.Is(wrapped, context.DeadlineExceeded) {
		t.Error("errors.Is does not reach the cause")
	}
	if se, ok := errors.AsType[*connectors.SourceError](wrapped); !ok || se.Source.ODS != "RJ1" {
		t.Error("errors.As does not find the SourceError")
	}
	if connectors.KindOf(wrapped) != connectors.ErrTimeout || connectors.KindOf(errors.New("x")) != "" {
		t.Error("KindOf")
	}
}

func TestConfigTOML(t *testing.T) {
	const file = `
[[sources]]
name = "King's College Hospital NHS Foundation Trust"
ods = "RJZ"
kind = "fhir"
base_url = "https://fhir.example.nhs.uk/R4"
timeout = "2s"
ca_file = "/etc/ca.pem"
max_pages = 10
max_response_bytes = 1048576
[sources.auth]
type = "mtls"
cert_file = "/etc/client.pem"
key_file = "/etc/client.key"
`
	var cfg struct {
		Sources []connectors.Config `toml:"sources"`
	}
	md, err := toml.Decode(file, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("keys not decoded: %v", und)
	}
	want := connectors.Config{
		Name: "King's College Hospital NHS Foundation Trust", ODS: "RJZ", Kind: "fhir",
		BaseURL: "https://fhir.example.nhs.uk/R4", Timeout: 2 * time.Second, CAFile: "/etc/ca.pem",
		MaxPages: 10, MaxResponseBytes: 1 << 20,
		Auth: connectors.Auth{Type: "mtls", CertFile: "/etc/client.pem", KeyFile: "/etc/client.key"},
	}
	if len(cfg.Sources) != 1 || !reflect.DeepEqual(cfg.Sources[0], want) {
		t.Fatalf("decoded %+v, want %+v", cfg.Sources, want)
	}
	if err := cfg.Sources[0].Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := connectors.Config{Name: "Trust", ODS: "RJZ", Kind: "fhir", BaseURL: "https://fhir.example/R4"}
	tests := []struct {
		name  string
		edit  func(*connectors.Config)
		field string // the field the error must name; "" for valid
	}{
		{"OK", func(*connectors.Config) {}, ""},
		{"OKBearerLoopbackHTTP", func(c *connectors.Config) {
			c.BaseURL = "http://127.0.0.1:8080/fhir"
			c.Auth = connectors.Auth{Type: "bearer", TokenEnv: "T"}
		}, ""},
		{"ErrName", func(c *connectors.Config) { c.Name = "" }, "name"},
		{"ErrODS", func(c *connectors.Config) { c.ODS = "rjz!" }, "ods"},
		{"ErrKind", func(c *connectors.Config) { c.Kind = "hl7v2" }, "kind"},
		{"ErrBaseURLRelative", func(c *connectors.Config) { c.BaseURL = "/fhir" }, "base_url"},
		{"ErrBaseURLScheme", func(c *connectors.Config) { c.BaseURL = "ftp://x/fhir" }, "base_url"},
		{"ErrTimeout", func(c *connectors.Config) { c.Timeout = -time.Second }, "timeout"},
		{"ErrMaxPages", func(c *connectors.Config) { c.MaxPages = -1 }, "max_pages"},
		{"ErrMaxResponseBytes", func(c *connectors.Config) { c.MaxResponseBytes = -1 }, "max_response_bytes"},
		{"ErrAuthType", func(c *connectors.Config) { c.Auth.Type = "basic" }, "auth.type"},
		{"ErrBearerNoEnv", func(c *connectors.Config) { c.Auth.Type = "bearer" }, "auth.token_env"},
		{"ErrBearerPlainHTTP", func(c *connectors.Config) {
			c.BaseURL = "http://fhir.example/R4"
			c.Auth = connectors.Auth{Type: "bearer", TokenEnv: "T"}
		}, "base_url"},
		{"ErrMTLSNoCert", func(c *connectors.Config) { c.Auth = connectors.Auth{Type: "mtls", KeyFile: "k"} }, "auth.cert_file"},
		{"ErrMTLSNoKey", func(c *connectors.Config) { c.Auth = connectors.Auth{Type: "mtls", CertFile: "c"} }, "auth.key_file"},
		{"ErrCAFileHTTP", func(c *connectors.Config) { c.BaseURL = "http://fhir.example/R4"; c.CAFile = "ca.pem" }, "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), " "+tt.field+": ") {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.field)
			}
		})
	}
	d := ok.WithDefaults()
	if d.Timeout != 3*time.Second || d.MaxPages != connectors.DefaultMaxPages ||
		d.MaxResponseBytes != connectors.DefaultMaxResponseBytes || d.Auth.Type != "none" {
		t.Errorf("WithDefaults = %+v", d)
	}
}
