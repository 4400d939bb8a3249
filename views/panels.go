package views

import (
	"regexp"
	"strings"

	"github.com/carerecord/carerecord/connectors"
)

// The panels of the cumulative results table. A result goes in the panel
// its report or panel names by code (LOINC 58410-2 is a full blood count
// whatever the laboratory calls it); failing that, the panel its own test
// belongs to; failing that, its report's own title; and otherwise "Other
// results". Codes are LOINC's published concepts.

const loincSystem = "http://loinc.org"

// panelDef is one panel of the table: its anchor, its name, the LOINC
// codes of the report or panel that is it, and its tests in the order a
// laboratory prints them.
type panelDef struct {
	id, title string
	reports   []string
	tests     []string
}

var panelDefs = []panelDef{
	{"fbc", "Full blood count (FBC)", []string{"58410-2", "57021-8", "57782-5", "24317-0", "55429-5"},
		[]string{"718-7", "789-8", "4544-3", "787-2", "785-6", "786-4", "788-0", "6690-2", "751-8", "731-0", "742-7", "711-2", "704-7", "777-3", "32623-1"}},
	{"ue", "Urea and electrolytes (U&E)", []string{"24362-6", "24321-2", "51990-0"},
		[]string{"2951-2", "2823-3", "22664-7", "3094-0", "14682-9", "2160-0", "62238-1", "33914-3", "98979-8", "48642-3", "48643-1", "1963-8", "2075-0"}},
	{"lft", "Liver function tests (LFT)", []string{"24325-3"},
		[]string{"1742-6", "1920-8", "6768-6", "2324-2", "14631-6", "1975-2", "1751-7", "2885-2"}},
	{"bone", "Bone profile", []string{"24326-1"},
		[]string{"17861-6", "2000-8", "29265-6", "14879-1", "2777-1", "19123-9"}},
	{"lipids", "Lipids", []string{"57698-3", "24331-1"},
		[]string{"2093-3", "14647-2", "2085-9", "14646-4", "13457-7", "22748-8", "2571-8", "14927-8", "9830-1"}},
	{"diabetes", "Diabetes", []string{"4548-4"},
		[]string{"59261-8", "4548-4", "17856-6", "2345-7", "15074-8", "2339-0"}},
	{"thyroid", "Thyroid function", []string{"24348-5"},
		[]string{"11580-8", "3016-3", "3024-7", "14920-3", "3051-0", "14928-6"}},
	{"inflammation", "Inflammatory markers", nil,
		[]string{"1988-5", "30522-7", "30341-2", "4537-7", "33959-8"}},
	{"coagulation", "Clotting", []string{"34714-6"},
		[]string{"6301-6", "5902-2", "3173-2", "14979-9", "3255-7", "48065-7"}},
	{"bloodgas", "Blood gas", []string{"24336-0", "24338-6"},
		[]string{"2744-1", "11558-4", "2019-8", "11557-6", "2703-7", "11556-8", "1960-4", "1925-7", "11555-0", "2524-7", "32693-4", "6298-4", "2947-0", "2708-6"}},
	{"vitals", "Vital signs", []string{"85353-1", "85354-9"},
		[]string{"85354-9", "8480-6", "8462-4", "8867-4", "9279-1", "59408-5", "8310-5", "29463-7", "8302-2", "39156-5"}},
}

// otherPanel holds results no panel claims.
const otherPanel = "Other results"

var (
	panelByReport = map[string]*panelDef{}
	panelByTest   = map[string]*panelDef{}
	testOrder     = map[string]int{}
)

func init() {
	for i := range panelDefs {
		p := &panelDefs[i]
		for _, c := range p.reports {
			panelByReport[c] = p
		}
		for j, c := range p.tests {
			if _, ok := panelByTest[c]; !ok {
				panelByTest[c] = p
			}
			testOrder[p.id+"|"+c] = j + 1
		}
	}
}

// loincOf returns the first LOINC code among codes, or "".
func loincOf(codes []connectors.Code) string {
	for _, c := range codes {
		if c.System == loincSystem {
			return c.Code
		}
	}
	return ""
}

// PanelOf names the panel of the cumulative table a result belongs to:
// its anchor ("panel-fbc") and title.
func PanelOf(e *connectors.Entry) (id, title string) {
	r := e.Result
	if r == nil {
		return "", ""
	}
	if p := panelByReport[loincOf(r.GroupCodes)]; p != nil {
		return "panel-" + p.id, p.title
	}
	if p := panelByTest[loincOf(e.Codes)]; p != nil {
		return "panel-" + p.id, p.title
	}
	if t := strings.TrimSpace(r.GroupTitle); t != "" {
		return "panel-" + slug(t), t
	}
	return "panel-other", otherPanel
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slug makes an anchor of a title: "Blood culture" is "blood-culture".
func slug(s string) string {
	return "x-" + strings.Trim(notSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
}

// TestKey identifies a test across sources: its LOINC code, else its
// first code, else its name whatever the case.
func TestKey(e *connectors.Entry) string {
	if c := loincOf(e.Codes); c != "" {
		return loincSystem + "|" + c
	}
	if len(e.Codes) > 0 {
		return e.Codes[0].System + "|" + e.Codes[0].Code
	}
	return "title|" + strings.ToLower(strings.TrimSpace(e.Title))
}

// unitPower matches a power of ten however a laboratory writes it:
// "10^9", "10*9", "10E9", "x10^9", "×10⁹".
var unitPower = regexp.MustCompile(`[xX×]?10(?:[\^*eE~]([0-9]+)|([⁰¹²³⁴⁵⁶⁷⁸⁹]+))`)

var superscripts = strings.NewReplacer("⁰", "0", "¹", "1", "²", "2", "³", "3", "⁴", "4", "⁵", "5", "⁶", "6", "⁷", "7", "⁸", "8", "⁹", "9")

// unitTokens are the spellings of one unit that mean the same, each to
// its UCUM form: litres in either case, micro as µ, μ, u or mc, the
// international unit with or without brackets, degrees Celsius.
var unitTokens = map[string]string{
	"l": "L", "L": "L", "ml": "mL", "dl": "dL", "ul": "uL", "nl": "nL",
	"mcg": "ug", "mcmol": "umol", "mcl": "uL",
	"iu": "[IU]", "IU": "[IU]", "[iU]": "[IU]", "[IU]": "[IU]",
	"miu": "m[IU]", "mIU": "m[IU]", "m[iU]": "m[IU]", "m[IU]": "m[IU]",
	"kiu": "k[IU]", "kIU": "k[IU]", "k[iU]": "k[IU]", "uIU": "u[IU]", "u[iU]": "u[IU]", "u[IU]": "u[IU]",
	"mmHg": "mm[Hg]", "mm[Hg]": "mm[Hg]", "Cel": "Cel", "°C": "Cel", "degC": "Cel", "℃": "Cel",
}

// UnitKey is a unit's identity for comparing and charting: two units with
// the same key are one unit written two ways ("µmol/L", "umol/L" and
// "umol/l"; "10^9/L", "10*9/L" and "×10⁹/L"; "[iU]/L" and "IU/L"). Units
// that only look alike keep different keys: "U/L" (enzyme units) is not
// "IU/L", and "mL/min" is not "mL/min/{1.73_m2}". Annotations are kept
// (without braces, spaces or underscores) because they carry meaning.
func UnitKey(u string) string {
	u = strings.TrimSpace(u)
	if u == "" || u == "1" {
		return ""
	}
	u = strings.NewReplacer("µ", "u", "μ", "u").Replace(u)
	u = unitPower.ReplaceAllStringFunc(u, func(m string) string {
		sm := unitPower.FindStringSubmatch(m)
		return "10*" + sm[1] + superscripts.Replace(sm[2])
	})
	var b strings.Builder
	tok := func(s string) {
		s = strings.NewReplacer("{", "", "}", "", "_", "", " ", "", "²", "2", "³", "3").Replace(s)
		if v, ok := unitTokens[s]; ok {
			s = v
		}
		b.WriteString(s)
	}
	start := 0
	for i, r := range u {
		if r == '/' || r == '.' && !(i > 0 && i+1 < len(u) && isDigit(u[i-1]) && isDigit(u[i+1])) {
			tok(u[start:i])
			b.WriteRune(r)
			start = i + 1
		}
	}
	tok(u[start:])
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
