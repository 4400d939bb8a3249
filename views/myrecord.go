package views

import "time"

// The patients' own pages (/my-record), written for the public: who has
// looked at their shared record, concerns about an access, and their
// objection to sharing.

// AccessRow is one access to the patient's record as the patient sees it.
type AccessRow struct {
	Seq          int64
	When         time.Time
	What         string // "Opened your record", "Emergency access"
	Organisation string // name, or the ODS code when no name is known
	ODS          string
	Role         string // "Not Known" when the role is not mapped
	Person       string // "" unless the configuration shows names
	Reason       string // the reason category given
	Emergency    bool
	Concern      *ConcernState // nil when the patient raised none about it
}

// ConcernState is where a concern has got to, in the patient's words.
type ConcernState struct {
	Status  string // Received, Passed on for investigation, Closed
	Message string // the privacy officer's answer, once closed
	At      time.Time
}

// MyRecordData is the patient's access page.
type MyRecordData struct {
	Name      string
	NHSNumber string
	Accesses  []AccessRow
	// Next is the BeforeSeq of the next (older) page; 0 on the last.
	Next     int64
	Earlier  bool // this is not the first page
	Concerns []ConcernRow
	// Objection says whether an objection is in force.
	ObjectionInForce bool
	// Raised is the access a concern was just raised about (0: none).
	Raised int64
}

// ConcernRow is one concern on the patient's list.
type ConcernRow struct {
	AccessSeq int64
	Raised    time.Time
	State     ConcernState
}

// MyObjectionData is the patient's objection page.
type MyObjectionData struct {
	Name             string
	NHSNumber        string
	InForce          bool
	Pending          bool // a case of theirs waits for a decision
	Cases            []MyCase
	Done             string // the reference of the case just made
	Verified         bool   // identity verified at P9: no manual check needed
	Error            string
	Reason           string // the reason text, kept on an error
	AutoUphold       bool
	PaperFormAddress string
}

// MyCase is one of the patient's cases, with its steps in their words.
type MyCase struct {
	Ref   string
	Kind  string // "Objection to sharing", "Withdrawal of an objection"
	State string
	Steps []MyStep
}

// MyStep is one step of a case.
type MyStep struct {
	At   time.Time
	What string
	Note string // shown only for decisions
}

// PatientViewData is the IG officer's view of what one patient sees, with
// the accesses hidden from them and why.
type PatientViewData struct {
	NHSNumber string
	Accesses  []AccessRow
	Hidden    []HiddenRow
	Error     string
	Done      int64 // the access just hidden
	Undone    int64 // the access just shown again
	Unhidden  []UnhiddenRow
}

// UnhiddenRow is an access shown to the patient again after it was hidden.
type UnhiddenRow struct {
	Hidden HiddenRow
	By     string
	At     time.Time
	Reason string
}

// HiddenRow is one access hidden from the patient.
type HiddenRow struct {
	Seq       int64
	NHSNumber string
	By        string
	At        time.Time
	Reason    string
}
