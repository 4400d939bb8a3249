package store

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Identifiers used in the FHIR export. The NHS ones are national; the
// carerecord ones name this product's own codes (actions, reasons, the
// chain extension), so a receiving system can tell them apart.
const (
	FHIRSystemNHSNumber   = "https://fhir.nhs.uk/Id/nhs-number"
	FHIRSystemSDSUserID   = "https://fhir.nhs.uk/Id/sds-user-id"
	FHIRSystemAction      = "https://carerecord.nhs.uk/fhir/CodeSystem/audit-action"
	FHIRSystemReason      = "https://carerecord.nhs.uk/fhir/CodeSystem/access-reason"
	FHIRSystemRole        = "https://carerecord.nhs.uk/fhir/CodeSystem/job-role-code"
	FHIRExtensionChain    = "https://carerecord.nhs.uk/fhir/StructureDefinition/audit-chain"
	fhirAuditEventType    = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	fhirDICOM             = "http://dicom.nema.org/resources/ontology/DCM"
	fhirActReason         = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	fhirEntityType        = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	fhirObjectRole        = "http://terminology.hl7.org/CodeSystem/object-role"
	fhirSecuritySource    = "http://terminology.hl7.org/CodeSystem/security-source-type"
	fhirExtraSecurityRole = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
)

// csvHeader is the export's column order; the columns are the stored
// fields, except that a sealed detail is shown opened (auditseal.go): the
// chain covers the sealed form, so the hash of such an event, and of any
// keyed event without the audit key, cannot be recomputed from the export.
var csvHeader = []string{"seq", "time", "user_id", "user_name", "role_code", "ods", "session_hash",
	"client_addr", "action", "nhs_number", "reason", "detail", "outcome", "outcome_why", "sources",
	"prev_hash", "hash"}

// ExportAuditCSV writes every event f selects (f.Limit is ignored; a
// BeforeSeq starts the export there) as CSV
// with a header row, newest first, and returns how many events it wrote.
// Times are RFC 3339 UTC with milliseconds; sources are joined with ";".
//
// A cell that a spreadsheet would take for a formula (starting = + - @,
// tab or carriage return) is prefixed with a single quote: user names,
// details and search terms are typed by people.
func (db *DB) ExportAuditCSV(ctx context.Context, f AuditFilter, w io.Writer) (int, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return 0, fmt.Errorf("store: export audit csv: %w", err)
	}
	n := 0
	row := make([]string, len(csvHeader))
	err := db.EachAudit(ctx, f, func(ev AuditEvent) error {
		row = append(row[:0], strconv.FormatInt(ev.Seq, 10), ev.Time.UTC().Format(timeMillis),
			ev.UserID, ev.UserName, ev.RoleCode, ev.ODS, ev.SessionHash, ev.ClientAddr, string(ev.Action),
			ev.NHSNumber, ev.Reason, ev.Detail, string(ev.Outcome), ev.OutcomeWhy,
			strings.Join(ev.Sources, ";"), ev.PrevHash, ev.Hash)
		for i := range row {
			row[i] = neutraliseCell(row[i])
		}
		if err := cw.Write(row); err != nil {
			return err
		}
		n++
		return nil
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		return n, fmt.Errorf("store: export audit csv: %w", err)
	}
	return n, nil
}

const timeMillis = "2006-01-02T15:04:05.000Z07:00"

func neutraliseCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// FHIR R4 shapes, only the elements the export fills.
type (
	fhirCoding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	fhirCodeableConcept struct {
		Coding []fhirCoding `json:"coding,omitempty"`
		Text   string       `json:"text,omitempty"`
	}
	fhirIdentifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	fhirReference struct {
		Identifier *fhirIdentifier `json:"identifier,omitempty"`
		Display    string          `json:"display,omitempty"`
	}
	fhirExtension struct {
		URL         string          `json:"url"`
		ValueString string          `json:"valueString,omitempty"`
		Extension   []fhirExtension `json:"extension,omitempty"`
	}
	fhirAgentNetwork struct {
		Address string `json:"address"`
		Type    string `json:"type"`
	}
	fhirAgent struct {
		Type         *fhirCodeableConcept  `json:"type,omitempty"`
		Role         []fhirCodeableConcept `json:"role,omitempty"`
		Who          fhirReference         `json:"who"`
		Requestor    bool                  `json:"requestor"`
		Network      *fhirAgentNetwork     `json:"network,omitempty"`
		PurposeOfUse []fhirCodeableConcept `json:"purposeOfUse,omitempty"`
	}
	fhirSource struct {
		Site     string        `json:"site,omitempty"`
		Observer fhirReference `json:"observer"`
		Type     []fhirCoding  `json:"type,omitempty"`
	}
	fhirEntityDetail struct {
		Type        string `json:"type"`
		ValueString string `json:"valueString"`
	}
	fhirEntity struct {
		What        *fhirReference     `json:"what,omitempty"`
		Type        *fhirCoding        `json:"type,omitempty"`
		Role        *fhirCoding        `json:"role,omitempty"`
		Description string             `json:"description,omitempty"`
		Detail      []fhirEntityDetail `json:"detail,omitempty"`
	}
	fhirAuditEvent struct {
		ResourceType   string                `json:"resourceType"`
		ID             string                `json:"id"`
		Extension      []fhirExtension       `json:"extension,omitempty"`
		Type           fhirCoding            `json:"type"`
		Subtype        []fhirCoding          `json:"subtype,omitempty"`
		Action         string                `json:"action,omitempty"`
		Recorded       string                `json:"recorded"`
		Outcome        string                `json:"outcome"`
		OutcomeDesc    string                `json:"outcomeDesc,omitempty"`
		PurposeOfEvent []fhirCodeableConcept `json:"purposeOfEvent,omitempty"`
		Agent          []fhirAgent           `json:"agent"`
		Source         fhirSource            `json:"source"`
		Entity         []fhirEntity          `json:"entity,omitempty"`
	}
)

// fhirActionCode maps an action to AuditEvent.action: R read, U update,
// E execute (sign-in, search, break-glass and the like).
func fhirActionCode(a Action) string {
	switch a {
	case ActRecordOpen, ActDocumentOpen, ActRefresh, ActRecordPrint, ActAuditView, ActAuditExport, ActAccessRefused:
		return "R"
	case ActAlertReview, ActObjectionStep, ActStaffNHSChange:
		return "U"
	}
	return "E"
}

// fhirPurpose maps the reason codes that have a v3 ActReason equivalent;
// every reason is also given in carerecord's own system.
func fhirPurpose(reason string) []fhirCodeableConcept {
	if reason == "" {
		return nil
	}
	cc := fhirCodeableConcept{Text: reason}
	switch reason {
	case "direct-care":
		cc.Coding = append(cc.Coding, fhirCoding{System: fhirActReason, Code: "TREAT", Display: "treatment"})
	case "break-glass":
		cc.Coding = append(cc.Coding, fhirCoding{System: fhirActReason, Code: "ETREAT", Display: "Emergency Treatment"})
	}
	cc.Coding = append(cc.Coding, fhirCoding{System: FHIRSystemReason, Code: reason})
	return []fhirCodeableConcept{cc}
}

func toFHIRAuditEvent(ev AuditEvent) fhirAuditEvent {
	r := fhirAuditEvent{
		ResourceType: "AuditEvent",
		ID:           strconv.FormatInt(ev.Seq, 10),
		Extension: []fhirExtension{{URL: FHIRExtensionChain, Extension: []fhirExtension{
			{URL: "seq", ValueString: strconv.FormatInt(ev.Seq, 10)},
			{URL: "prevHash", ValueString: ev.PrevHash},
			{URL: "hash", ValueString: ev.Hash},
		}}},
		Type:     fhirCoding{System: fhirAuditEventType, Code: "rest", Display: "RESTful Operation"},
		Subtype:  []fhirCoding{{System: FHIRSystemAction, Code: string(ev.Action)}},
		Action:   fhirActionCode(ev.Action),
		Recorded: ev.Time.UTC().Format(timeMillis),
		Outcome:  "0",
		Source: fhirSource{
			Site:     ev.ODS,
			Observer: fhirReference{Display: "carerecord"},
			Type:     []fhirCoding{{System: fhirSecuritySource, Code: "4", Display: "Application Server"}},
		},
		PurposeOfEvent: fhirPurpose(ev.Reason),
	}
	switch ev.Action {
	case ActSignIn, ActSignInRefused:
		r.Type = fhirCoding{System: fhirDICOM, Code: "110114", Display: "User Authentication"}
		r.Subtype = append([]fhirCoding{{System: fhirDICOM, Code: "110122", Display: "Login"}}, r.Subtype...)
	case ActSignOut, ActSessionLocked:
		r.Type = fhirCoding{System: fhirDICOM, Code: "110114", Display: "User Authentication"}
		r.Subtype = append([]fhirCoding{{System: fhirDICOM, Code: "110123", Display: "Logout"}}, r.Subtype...)
	}
	if ev.Outcome == OutcomeRefused {
		r.Outcome = "4"
		r.OutcomeDesc = "refused"
		if ev.OutcomeWhy != "" {
			r.OutcomeDesc = "refused: " + ev.OutcomeWhy
		}
	}
	agent := fhirAgent{
		Type:         &fhirCodeableConcept{Coding: []fhirCoding{{System: fhirExtraSecurityRole, Code: "humanuser", Display: "human user"}}},
		Who:          fhirReference{Display: ev.UserName},
		Requestor:    true,
		PurposeOfUse: fhirPurpose(ev.Reason),
	}
	if ev.UserID != "" {
		agent.Who.Identifier = &fhirIdentifier{System: FHIRSystemSDSUserID, Value: ev.UserID}
	}
	if ev.RoleCode != "" {
		agent.Role = []fhirCodeableConcept{{Coding: []fhirCoding{{System: FHIRSystemRole, Code: ev.RoleCode}}}}
	}
	if ev.ClientAddr != "" {
		agent.Network = &fhirAgentNetwork{Address: ev.ClientAddr, Type: "2"} // 2 = IP address
	}
	r.Agent = []fhirAgent{agent}

	var details []fhirEntityDetail
	if len(ev.Sources) > 0 {
		details = append(details, fhirEntityDetail{Type: "sources-answered", ValueString: strings.Join(ev.Sources, ",")})
	}
	if ev.Detail != "" {
		details = append(details, fhirEntityDetail{Type: "detail", ValueString: ev.Detail})
	}
	if ev.SessionHash != "" {
		details = append(details, fhirEntityDetail{Type: "session-hash", ValueString: ev.SessionHash})
	}
	if ev.NHSNumber != "" {
		r.Entity = append(r.Entity, fhirEntity{
			What:   &fhirReference{Identifier: &fhirIdentifier{System: FHIRSystemNHSNumber, Value: ev.NHSNumber}},
			Type:   &fhirCoding{System: fhirEntityType, Code: "1", Display: "Person"},
			Role:   &fhirCoding{System: fhirObjectRole, Code: "1", Display: "Patient"},
			Detail: details,
		})
	} else if len(details) > 0 {
		r.Entity = append(r.Entity, fhirEntity{
			Type:   &fhirCoding{System: fhirEntityType, Code: "2", Display: "System Object"},
			Detail: details,
		})
	}
	return r
}

// ExportAuditFHIR writes the events f selects as a FHIR R4 Bundle of type
// "collection" holding one AuditEvent per event, newest first, and returns
// how many it wrote. The Bundle is streamed entry by entry; a failure part
// way leaves invalid JSON, which a recipient cannot mistake for a whole
// export.
func (db *DB) ExportAuditFHIR(ctx context.Context, f AuditFilter, w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	head, err := json.Marshal(struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Timestamp    string `json:"timestamp"`
	}{"Bundle", "collection", db.now().UTC().Format(timeMillis)})
	if err != nil {
		return 0, fmt.Errorf("store: export audit fhir: %w", err)
	}
	// Reopen the object to append the entry array after the fixed fields.
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"entry":[`)
	n := 0
	err = db.EachAudit(ctx, f, func(ev AuditEvent) error {
		b, err := json.Marshal(struct {
			FullURL  string         `json:"fullUrl"`
			Resource fhirAuditEvent `json:"resource"`
		}{"urn:uuid:" + uuidFromHash(ev.Hash), toFHIRAuditEvent(ev)})
		if err != nil {
			return err
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		if _, err := bw.Write(b); err != nil {
			return err
		}
		n++
		return nil
	})
	if err != nil {
		bw.Flush()
		return n, fmt.Errorf("store: export audit fhir: %w", err)
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("store: export audit fhir: %w", err)
	}
	return n, nil
}

// uuidFromHash turns an event's hash into a stable UUID (version 8, the
// custom form), so the same event exported twice has the same fullUrl.
func uuidFromHash(h string) string {
	if len(h) < 32 {
		h += strings.Repeat("0", 32-len(h))
	}
	b := []byte(strings.ToLower(h[:32]))
	b[12] = '8'
	switch b[16] {
	case '0', '1', '2', '3', '4', '5', '6', '7':
		b[16] = '8'
	case 'c', 'd', 'e', 'f':
		b[16] = 'b'
	}
	s := string(b)
	return s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}
