package gpconnect_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/gpconnect"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

var clinician = connectors.Requester{UserID: "555000000123", Name: "Dr Test Clinician", RoleCode: "R8000",
	RoleProfileID: "555000000456", OrgODS: "RJZ", OrgName: "King's College Hospital NHS Foundation Trust"}

func asClinician() context.Context { return connectors.WithRequester(context.Background(), clinician) }

func startProviders(t *testing.T, o synthetic.GPConnectOptions) *synthetic.GPConnect {
	t.Helper()
	g, err := synthetic.StartGPConnect(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

func practice(t *testing.T, ods string) synthetic.Org {
	t.Helper()
	o, ok := synthetic.OrgByODS(ods)
	if !ok {
		t.Fatalf("no practice %s", ods)
	}
	return o
}

func newClient(t *testing.T, g *synthetic.GPConnect, ods string, edit func(*connectors.Config, *gpconnect.Settings)) *gpconnect.Client {
	t.Helper()
	cfg, set := g.Config(practice(t, ods)), g.Settings()
	if edit != nil {
		edit(&cfg, &set)
	}
	c, err := gpconnect.New(cfg, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestRequestShape(t *testing.T) {
	g := startProviders(t, synthetic.GPConnectOptions{})
	c := newClient(t, g, synthetic.PeckhamGPODS, nil)
	if _, err := c.FetchRecord(asClinician(), synthetic.RichNHSNumber); err != nil {
		t.Fatal(err)
	}
	got := g.Last()
	t.Run("ThroughTheSSPToThePracticesEndpoint", func(t *testing.T) {
		if !got.ViaSSP || got.Path != "/"+synthetic.PeckhamGPODS+"/STU3/1/gpconnect/structured/fhir/Patient/$gpc.getstructuredrecord" {
			t.Errorf("via SSP %v, path %q", got.ViaSSP, got.Path)
		}
	})
	t.Run("SSPHeaders", func(t *testing.T) {
		h := got.Header
		want := map[string]string{"Ssp-From": synthetic.ConsumerASID, "Ssp-To": g.Config(practice(t, synthetic.PeckhamGPODS)).ASID,
			"Ssp-InteractionID": gpconnect.InteractionID, "Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s = %q, want %q", k, h.Get(k), v)
			}
		}
		if len(h.Get("Ssp-TraceID")) != 36 {
			t.Errorf("Ssp-TraceID %q is not a GUID", h.Get("Ssp-TraceID"))
		}
	})
	t.Run("UnsecuredJWTNamingTheUser", func(t *testing.T) {
		if got.JWTAlg != "none" {
			t.Errorf("alg %q, want none", got.JWTAlg)
		}
		cl := got.Claims
		if cl["sub"] != clinician.UserID || cl["reason_for_request"] != "directcare" || cl["requested_scope"] != "patient/*.read" || cl["aud"] != gpconnect.Audience {
			t.Errorf("claims %v", cl)
		}
		org, _ := cl["requesting_organization"].(map[string]any)
		if org["name"] != clinician.OrgName || !strings.Contains(jsonText(org["identifier"]), `"value":"RJZ"`) {
			t.Errorf("requesting_organization %v", org)
		}
		pr, _ := cl["requesting_practitioner"].(map[string]any)
		ids := jsonText(pr["identifier"])
		for _, want := range []string{gpconnect.SystemSDSUser, clinician.UserID, gpconnect.SystemSDSRole, clinician.RoleProfileID} {
			if !strings.Contains(ids, want) {
				t.Errorf("requesting_practitioner identifiers %s lack %s", ids, want)
			}
		}
	})
	t.Run("ParametersAskForEveryArea", func(t *testing.T) {
		want := []string{"includeAllergies", "includeMedication", "includeConsultations", "includeProblems",
			"includeImmunisations", "includeUncategorisedData", "includeInvestigations", "includeReferrals"}
		if got.NHS != synthetic.RichNHSNumber || !slices.Equal(got.Params, want) {
			t.Errorf("NHS %s params %v", got.NHS, got.Params)
		}
	})
	t.Run("FreshJWTEachRequest", func(t *testing.T) {
		first := got.Header.Get("Ssp-TraceID")
		if _, err := c.FetchRecord(asClinician(), synthetic.RichNHSNumber); err != nil {
			t.Fatal(err)
		}
		if g.Last().Header.Get("Ssp-TraceID") == first {
			t.Error("the trace id was reused")
		}
	})
}

func TestSignedJWT(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	g := startProviders(t, synthetic.GPConnectOptions{JWTKey: &key.PublicKey})
	t.Run("OK", func(t *testing.T) {
		c := newClient(t, g, synthetic.PeckhamGPODS, func(_ *connectors.Config, s *gpconnect.Settings) { s.JWTKey = key })
		if _, err := c.FetchRecord(asClinician(), synthetic.RichNHSNumber); err != nil {
			t.Fatal(err)
		}
		if g.Last().JWTAlg != "RS256" {
			t.Errorf("alg %q", g.Last().JWTAlg)
		}
	})
	for name, k := range map[string]*rsa.PrivateKey{"ErrWrongKey": other, "ErrUnsigned": nil} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, g, synthetic.PeckhamGPODS, func(_ *connectors.Config, s *gpconnect.Settings) { s.JWTKey = k })
			_, err := c.FetchRecord(asClinician(), synthetic.RichNHSNumber)
			if se, ok := errors.AsType[*connectors.SourceError](err); !ok || se.Status != 400 || se.Detail != "OperationOutcome BAD_REQUEST" {
				t.Errorf("err %#v, want the request refused", err)
			}
		})
	}
}

func TestOutcomes(t *testing.T) {
	g := startProviders(t, synthetic.GPConnectOptions{})
	g.SetDissent(synthetic.LongHistoryNHSNumber, true)
	cases := []struct {
		name    string
		ods     string
		nhs     string
		ctx     context.Context
		edit    func(*connectors.Config, *gpconnect.Settings)
		down    bool
		noRec   bool
		outcome string
	}{
		{name: "PatientNotRegisteredHere", ods: synthetic.BrixtonGPODS, nhs: synthetic.RichNHSNumber, noRec: true},
		{name: "PatientNotFound", ods: synthetic.PeckhamGPODS, nhs: "9990000603", noRec: true},
		{name: "SensitivePatientNotShared", ods: synthetic.PeckhamGPODS, nhs: synthetic.RestrictedNHSNumber, noRec: true},
		{name: "PatientDissent", ods: synthetic.BromleyGPODS, nhs: synthetic.LongHistoryNHSNumber,
			outcome: "the patient has dissented from sharing their GP record"},
		{name: "InvalidNHSNumber", ods: synthetic.PeckhamGPODS, nhs: "9990000019", outcome: "refused the NHS number as invalid"},
		{name: "AccessDeniedWrongConsumerASID", ods: synthetic.PeckhamGPODS, nhs: synthetic.RichNHSNumber,
			edit: func(_ *connectors.Config, s *gpconnect.Settings) { s.ConsumerASID = "200000000001" }, outcome: "denied access to the GP record"},
		{name: "AccessDeniedWrongPracticeASID", ods: synthetic.PeckhamGPODS, nhs: synthetic.RichNHSNumber,
			edit: func(c *connectors.Config, _ *gpconnect.Settings) { c.ASID = "200000000002" }, outcome: "denied access to the GP record"},
		{name: "PracticeSystemUnavailable", ods: synthetic.PeckhamGPODS, nhs: synthetic.RichNHSNumber, down: true,
			outcome: "GP system unavailable (HTTP 503)"},
		{name: "NotAskedWithoutASignedInUser", ods: synthetic.PeckhamGPODS, nhs: synthetic.RichNHSNumber, ctx: context.Background(),
			outcome: "not asked: GP Connect needs the signed-in user to name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, g, tc.ods, tc.edit)
			g.SetDown(tc.ods, tc.down)
			defer g.SetDown(tc.ods, false)
			ctx := tc.ctx
			if ctx == nil {
				ctx = asClinician()
			}
			_, err := c.FetchRecord(ctx, tc.nhs)
			if tc.noRec {
				if !errors.Is(err, connectors.ErrNoRecord) || !errors.Is(err, gpconnect.ErrPatientNotFound) {
					t.Errorf("err %v, want gpconnect.ErrPatientNotFound", err)
				}
				return
			}
			se, ok := errors.AsType[*connectors.SourceError](err)
			if !ok || se.Kind != connectors.ErrRefused || se.Error() != c.Source().Name+": "+tc.outcome {
				t.Fatalf("err %v, want %q", err, tc.outcome)
			}
			if strings.Contains(se.Error(), tc.nhs) {
				t.Error("the error names the patient")
			}
		})
	}
}

func TestRecord(t *testing.T) {
	g := startProviders(t, synthetic.GPConnectOptions{})
	// The SSP's address is a recording proxy in front of the providers, so
	// that the test knows every resource the practice sent.
	var sent struct {
		Entry []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			} `json:"resource"`
		} `json:"entry"`
	}
	target, err := url.Parse(g.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		return json.Unmarshal(body, &sent)
	}
	ssp := httptest.NewServer(proxy)
	t.Cleanup(ssp.Close)
	c := newClient(t, g, synthetic.PeckhamGPODS, func(_ *connectors.Config, s *gpconnect.Settings) { s.SSPURL = ssp.URL })
	rec, account, err := c.Fetch(asClinician(), synthetic.RichNHSNumber)
	if err != nil {
		t.Fatal(err)
	}
	byKind := map[connectors.Kind][]connectors.Entry{}
	for _, e := range rec.Entries {
		byKind[e.Kind] = append(byKind[e.Kind], e)
	}
	t.Run("Patient", func(t *testing.T) {
		if rec.Patient == nil || rec.Patient.DisplayName() != "SMITH, Jane (Mrs)" || rec.PatientRecords != 1 ||
			rec.Patient.RegisteredGP.ODS != synthetic.PeckhamGPODS {
			t.Errorf("patient %+v", rec.Patient)
		}
	})
	t.Run("AllergiesActiveAndEnded", func(t *testing.T) {
		var subs []string
		for _, e := range byKind[connectors.KindAllergy] {
			subs = append(subs, e.Allergy.Substance+"/"+e.Allergy.Status)
		}
		slices.Sort(subs)
		if !slices.Equal(subs, []string{"Latex/resolved", "Penicillin/active"}) {
			t.Errorf("allergies %v", subs)
		}
	})
	t.Run("MedicationsWithTheirAuthorisationsAndIssues", func(t *testing.T) {
		meds := byKind[connectors.KindMedication]
		if len(meds) == 0 {
			t.Fatal("no medicines")
		}
		for _, e := range meds {
			if e.Medication.Drug == "" || e.Medication.Dose == "" || e.Medication.Start.IsZero() {
				t.Errorf("medicine %+v", e.Medication)
			}
			parts := 0
			for k, v := range account {
				if strings.HasPrefix(k, "MedicationRequest/") && v == "part of "+e.ID {
					parts++
				}
			}
			if parts != 3 {
				t.Errorf("%s has %d prescriptions as parts, want the authorisation and two issues", e.ID, parts)
			}
		}
	})
	t.Run("ResultsCarryTheirReport", func(t *testing.T) {
		n := 0
		for _, e := range byKind[connectors.KindResult] {
			if e.Result.GroupTitle == "Urea and electrolytes" {
				n++
			}
		}
		if n != 5 {
			t.Errorf("%d results in the U&E report, want 5", n)
		}
	})
	t.Run("ProblemsNameWhatTheyAreLinkedTo", func(t *testing.T) {
		found := false
		for _, e := range byKind[connectors.KindProblem] {
			if e.Title == "Type 2 diabetes mellitus" {
				found = true
				if !slices.Contains(e.Problem.Linked, "Metformin 500mg tablets") {
					t.Errorf("diabetes is linked to %v, want its metformin", e.Problem.Linked)
				}
			}
		}
		if !found {
			t.Fatal("no diabetes problem")
		}
	})
	t.Run("ConsultationsNameWhatWasRecordedInThem", func(t *testing.T) {
		n := 0
		for _, e := range byKind[connectors.KindEncounter] {
			n += len(e.Encounter.Recorded)
		}
		if n == 0 {
			t.Error("no consultation names what was recorded in it")
		}
	})
	t.Run("EveryAreaMapped", func(t *testing.T) {
		for _, k := range []connectors.Kind{connectors.KindProblem, connectors.KindEncounter, connectors.KindImmunization, connectors.KindDocument} {
			if len(byKind[k]) == 0 {
				t.Errorf("no %s", k)
			}
		}
	})
	t.Run("ConfidentialItemsSaidToBeWithheld", func(t *testing.T) {
		want := connectors.Gap{Kind: connectors.KindEncounter, Reason: "confidential items withheld by the practice"}
		if !slices.Contains(rec.Gaps, want) || rec.Complete(connectors.KindEncounter) {
			t.Errorf("gaps %v", rec.Gaps)
		}
	})
	t.Run("EveryResourceAccountedFor", func(t *testing.T) {
		if len(sent.Entry) == 0 {
			t.Fatal("the proxy saw no bundle")
		}
		for _, e := range sent.Entry {
			key := e.Resource.ResourceType + "/" + e.Resource.ID
			if account[key] == "" {
				t.Errorf("%s was sent by the practice but is not accounted for", key)
			}
		}
		for k, v := range account {
			if strings.HasPrefix(v, "unreadable") {
				t.Errorf("%s: %s", k, v)
			}
		}
		if len(rec.Unreadable) != 0 {
			t.Errorf("unreadable %v", rec.Unreadable)
		}
	})
}

func TestFindPatients(t *testing.T) {
	g := startProviders(t, synthetic.GPConnectOptions{})
	c := newClient(t, g, synthetic.PeckhamGPODS, nil)
	got, err := c.FindPatients(asClinician(), connectors.Query{NHSNumber: synthetic.RichNHSNumber})
	if err != nil || len(got) != 1 || got[0].NHSNumber != synthetic.RichNHSNumber {
		t.Fatalf("found %v, %v", got, err)
	}
	if len(g.Last().Params) != 0 {
		t.Errorf("a search asked for clinical areas %v", g.Last().Params)
	}
	none, err := c.FindPatients(asClinician(), connectors.Query{NHSNumber: synthetic.OrdinaryNHSNumber})
	if err != nil || len(none) != 0 {
		t.Errorf("a patient registered elsewhere: %v, %v", none, err)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestEveryDemoPatientAtTheirPractice reads every synthetic patient's
// record from their registered practice: each answers, with every resource
// accounted for and none unreadable; a restricted patient's is not shared.
func TestEveryDemoPatientAtTheirPractice(t *testing.T) {
	g := startProviders(t, synthetic.GPConnectOptions{})
	clients := map[string]*gpconnect.Client{}
	for _, o := range g.Practices() {
		clients[o.ODS] = newClient(t, g, o.ODS, nil)
	}
	for _, p := range synthetic.Patients() {
		rec, account, err := clients[p.GP].Fetch(asClinician(), p.NHSNumber)
		if p.Restricted {
			if !errors.Is(err, gpconnect.ErrPatientNotFound) {
				t.Errorf("%s (restricted): %v, want not shared", p.NHSNumber, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s at %s: %v", p.NHSNumber, p.GP, err)
			continue
		}
		if len(rec.Unreadable) > 0 || len(rec.Entries) == 0 {
			t.Errorf("%s: %d entries, unreadable %v", p.NHSNumber, len(rec.Entries), rec.Unreadable)
		}
		for k, v := range account {
			if v == "" {
				t.Errorf("%s: %s not accounted for", p.NHSNumber, k)
			}
		}
	}
}

// TestEndpointFromSDS: a practice configured by ODS code only is found in
// the Spine Directory Service (its Device's ASID, its Endpoint's address)
// and asked there; a practice SDS does not know, or SDS refusing the API
// key, is said per source.
func TestEndpointFromSDS(t *testing.T) {
	g := startProviders(t, synthetic.GPConnectOptions{})
	byODS := func(ods, key string) *gpconnect.Client {
		return newClient(t, g, synthetic.PeckhamGPODS, func(c *connectors.Config, s *gpconnect.Settings) {
			c.ODS, c.BaseURL, c.ASID = ods, "", ""
			s.SDSURL, s.SDSAPIKey = g.SDSURL(), key
		})
	}
	t.Run("OK", func(t *testing.T) {
		rec, err := byODS(synthetic.PeckhamGPODS, synthetic.SDSAPIKey).FetchRecord(asClinician(), synthetic.RichNHSNumber)
		if err != nil || rec.Patient == nil {
			t.Fatalf("%v", err)
		}
		want := g.Config(practice(t, synthetic.PeckhamGPODS)).ASID
		if got := g.Last().Header.Get("Ssp-To"); got != want || !g.Last().ViaSSP {
			t.Errorf("Ssp-To %q (via SSP %v), want the ASID SDS holds, %q", got, g.Last().ViaSSP, want)
		}
	})
	for name, tc := range map[string]struct{ ods, key, want string }{
		"ErrNotInSDS":   {"A99999", synthetic.SDSAPIKey, "could not be found in the Spine Directory Service"},
		"ErrSDSRefusal": {synthetic.PeckhamGPODS, "wrong-key", "not asked: the Spine Directory Service lookup failed"},
	} {
		t.Run(name, func(t *testing.T) {
			c := byODS(tc.ods, tc.key)
			_, err := c.FetchRecord(asClinician(), synthetic.RichNHSNumber)
			if se, ok := errors.AsType[*connectors.SourceError](err); !ok || se.Error() != c.Source().Name+": "+tc.want {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	t.Run("ErrNoSDSConfigured", func(t *testing.T) {
		cfg := g.Config(practice(t, synthetic.PeckhamGPODS))
		cfg.BaseURL, cfg.ASID = "", ""
		if _, err := gpconnect.New(cfg, g.Settings(), nil); err == nil {
			t.Error("a practice with neither endpoint nor SDS was accepted")
		}
	})
}
