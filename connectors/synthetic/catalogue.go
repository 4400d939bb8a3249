package synthetic

// The clinical catalogue the generator draws on. SNOMED CT and LOINC codes
// are the published concepts for what they name; dm+d codes are given in
// the shape of dm+d VMP identifiers for the demo and must not be relied on
// clinically. Reference ranges and units are typical of UK laboratories.

const (
	sysSNOMED = "http://snomed.info/sct"
	sysLOINC  = "http://loinc.org"
	sysDMD    = "https://dmd.nhs.uk"
	sysUCUM   = "http://unitsofmeasure.org"
	sysInterp = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	sysNHS    = "https://fhir.nhs.uk/Id/nhs-number"
	sysODS    = "https://fhir.nhs.uk/Id/ods-organization-code"
)

// labTest is one analyte.
type labTest struct {
	key      string
	name     string // as UK reports print it
	loinc    string
	display  string // LOINC display
	unit     string // as printed
	ucum     string
	low      float64
	high     float64
	decimals int
	mean     float64 // typical value in health
	sd       float64
	// critLow and critHigh mark values flagged LL/HH (0 for none).
	critLow  float64
	critHigh float64
}

var labTests = map[string]labTest{
	"hb":      {"hb", "Haemoglobin", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/L", "g/L", 115, 165, 0, 135, 9, 70, 200},
	"wbc":     {"wbc", "White cell count", "6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10^9/L", "10*9/L", 4.0, 11.0, 1, 7, 1.6, 1.0, 30},
	"plt":     {"plt", "Platelets", "777-3", "Platelets [#/volume] in Blood by Automated count", "10^9/L", "10*9/L", 150, 400, 0, 260, 50, 30, 1000},
	"na":      {"na", "Sodium", "2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 133, 146, 0, 139, 2, 120, 160},
	"k":       {"k", "Potassium", "2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 3.5, 5.3, 1, 4.3, 0.35, 2.5, 6.5},
	"urea":    {"urea", "Urea", "22664-7", "Urea [Moles/volume] in Serum or Plasma", "mmol/L", "mmol/L", 2.5, 7.8, 1, 5.2, 1.2, 0, 30},
	"creat":   {"creat", "Creatinine", "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", "umol/L", 45, 84, 0, 70, 9, 0, 500},
	"egfr":    {"egfr", "eGFR (CKD-EPI)", "62238-1", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI)", "mL/min/1.73m2", "mL/min/{1.73_m2}", 60, 0, 0, 95, 6, 15, 0},
	"alt":     {"alt", "ALT", "1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", "U/L", 0, 41, 0, 22, 7, 0, 500},
	"alp":     {"alp", "Alkaline phosphatase", "6768-6", "Alkaline phosphatase [Enzymatic activity/volume] in Serum or Plasma", "U/L", "U/L", 30, 130, 0, 80, 18, 0, 0},
	"bili":    {"bili", "Bilirubin", "14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma", "umol/L", "umol/L", 0, 21, 0, 9, 3, 0, 0},
	"alb":     {"alb", "Albumin", "1751-7", "Albumin [Mass/volume] in Serum or Plasma", "g/L", "g/L", 35, 50, 0, 42, 3, 0, 0},
	"hba1c":   {"hba1c", "HbA1c (IFCC)", "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol", "mmol/mol", "mmol/mol", 20, 41, 0, 36, 3, 0, 0},
	"crp":     {"crp", "C-reactive protein", "1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L", "mg/L", 0, 5, 0, 2, 1.2, 0, 0},
	"tsh":     {"tsh", "TSH", "11580-8", "Thyrotropin [Units/volume] in Serum or Plasma", "mU/L", "m[IU]/L", 0.27, 4.2, 2, 1.8, 0.6, 0, 0},
	"hb-male": {"hb", "Haemoglobin", "718-7", "Hemoglobin [Mass/volume] in Blood", "g/L", "g/L", 130, 170, 0, 148, 9, 70, 200},
	"creat-m": {"creat", "Creatinine", "14682-9", "Creatinine [Moles/volume] in Serum or Plasma", "umol/L", "umol/L", 59, 104, 0, 85, 10, 0, 500},
}

// labStyles holds how one laboratory differs from the catalogue: units as
// printed and reference ranges. Guy's and St Thomas' prints µmol/L and uses
// slightly different ranges from King's, as real laboratories do, which is
// what a trend across Trusts has to cope with.
var labStyles = map[string]map[string]func(labTest) labTest{
	GSTTODS: {
		"creat": func(t labTest) labTest { t.unit = "µmol/L"; t.low += 4; t.high += 6; return t },
		"hba1c": func(t labTest) labTest { t.high = 42; t.name = "Haemoglobin A1c"; return t },
		"bili":  func(t labTest) labTest { t.unit = "µmol/L"; t.high = 20; return t },
	},
	LewishamODS: {
		"alt": func(t labTest) labTest { t.unit = "IU/L"; t.high = 40; return t },
	},
	MiltonKeynODS: {
		"k": func(t labTest) labTest { t.low = 3.5; t.high = 5.1; return t },
	},
}

type panel struct {
	key   string
	name  string
	loinc string
	tests []string
}

var panels = map[string]panel{
	"fbc":   {"fbc", "Full blood count", "58410-2", []string{"hb", "wbc", "plt"}},
	"ue":    {"ue", "Urea and electrolytes", "24362-6", []string{"na", "k", "urea", "creat", "egfr"}},
	"lft":   {"lft", "Liver function tests", "24325-3", []string{"alt", "alp", "bili", "alb"}},
	"hba1c": {"hba1c", "HbA1c", "59261-8", []string{"hba1c"}},
	"crp":   {"crp", "C-reactive protein", "1988-5", []string{"crp"}},
	"tft":   {"tft", "Thyroid function", "11580-8", []string{"tsh"}},
}

type med struct {
	key    string
	name   string
	dmd    string
	dose   string // e.g. "500 mg"
	doseV  string
	doseU  string
	route  string
	freq   int // times a day; 0 for "as required"
	acute  bool
	course int // days, for acute medicines
}

var meds = map[string]med{
	"metformin":      {"metformin", "Metformin 500mg tablets", "42109611000001109", "500 mg", "500", "mg", "Oral", 2, false, 0},
	"gliclazide":     {"gliclazide", "Gliclazide 80mg tablets", "42108711000001102", "80 mg", "80", "mg", "Oral", 2, false, 0},
	"amlodipine":     {"amlodipine", "Amlodipine 5mg tablets", "319283006", "5 mg", "5", "mg", "Oral", 1, false, 0},
	"ramipril":       {"ramipril", "Ramipril 5mg capsules", "318906001", "5 mg", "5", "mg", "Oral", 1, false, 0},
	"atorvastatin":   {"atorvastatin", "Atorvastatin 20mg tablets", "320000009", "20 mg", "20", "mg", "Oral", 1, false, 0},
	"aspirin":        {"aspirin", "Aspirin 75mg dispersible tablets", "319770009", "75 mg", "75", "mg", "Oral", 1, false, 0},
	"apixaban":       {"apixaban", "Apixaban 5mg tablets", "703907009", "5 mg", "5", "mg", "Oral", 2, false, 0},
	"bisoprolol":     {"bisoprolol", "Bisoprolol 2.5mg tablets", "318590006", "2.5 mg", "2.5", "mg", "Oral", 1, false, 0},
	"salbutamol":     {"salbutamol", "Salbutamol 100micrograms/dose inhaler CFC free", "320176004", "2 puffs", "2", "puff", "Inhalation", 0, false, 0},
	"beclometasone":  {"beclometasone", "Clenil Modulite 100micrograms/dose inhaler", "3480411000001101", "2 puffs", "2", "puff", "Inhalation", 2, false, 0},
	"levothyroxine":  {"levothyroxine", "Levothyroxine sodium 50microgram tablets", "319740004", "50 micrograms", "50", "microgram", "Oral", 1, false, 0},
	"sertraline":     {"sertraline", "Sertraline 50mg tablets", "321949006", "50 mg", "50", "mg", "Oral", 1, false, 0},
	"olanzapine":     {"olanzapine", "Olanzapine 10mg tablets", "320877008", "10 mg", "10", "mg", "Oral", 1, false, 0},
	"paracetamol":    {"paracetamol", "Paracetamol 500mg tablets", "322236009", "1 g", "1", "g", "Oral", 4, false, 0},
	"omeprazole":     {"omeprazole", "Omeprazole 20mg gastro-resistant capsules", "317335000", "20 mg", "20", "mg", "Oral", 1, false, 0},
	"amoxicillin":    {"amoxicillin", "Amoxicillin 500mg capsules", "323509004", "500 mg", "500", "mg", "Oral", 3, true, 7},
	"clarithro":      {"clarithro", "Clarithromycin 500mg tablets", "324086007", "500 mg", "500", "mg", "Oral", 2, true, 7},
	"nitrofurantoin": {"nitrofurantoin", "Nitrofurantoin 100mg modified-release capsules", "376945007", "100 mg", "100", "mg", "Oral", 2, true, 3},
	"prednisolone":   {"prednisolone", "Prednisolone 5mg tablets", "325427009", "30 mg", "30", "mg", "Oral", 1, true, 5},
	"codeine":        {"codeine", "Codeine 30mg tablets", "322524002", "30 mg", "30", "mg", "Oral", 4, true, 5},
	"epoetin":        {"epoetin", "Epoetin beta 4,000units/0.3ml solution for injection pre-filled syringes", "4134111000001106", "4000 units", "4000", "[iU]", "Subcutaneous", 0, false, 0},
	"sevelamer":      {"sevelamer", "Sevelamer carbonate 800mg tablets", "418969001", "800 mg", "800", "mg", "Oral", 3, false, 0},
}

type problem struct {
	key     string
	code    string
	display string
	chronic bool
	meds    []string
	panels  []string
	clinic  string
	imaging []string
	procs   []string
	mental  bool
}

var problems = map[string]problem{
	"t2dm":        {"t2dm", "44054006", "Type 2 diabetes mellitus", true, []string{"metformin", "gliclazide"}, []string{"hba1c", "ue"}, "Diabetes and endocrinology", nil, nil, false},
	"htn":         {"htn", "38341003", "Hypertensive disorder", true, []string{"amlodipine", "ramipril"}, []string{"ue"}, "Cardiology", nil, []string{"ecg"}, false},
	"ckd":         {"ckd", "709044004", "Chronic kidney disease", true, nil, []string{"ue", "fbc"}, "Renal medicine", []string{"us_kidney"}, nil, false},
	"af":          {"af", "49436004", "Atrial fibrillation", true, []string{"apixaban", "bisoprolol"}, []string{"fbc", "ue"}, "Cardiology", nil, []string{"echo", "ecg"}, false},
	"asthma":      {"asthma", "195967001", "Asthma", true, []string{"salbutamol", "beclometasone"}, nil, "Respiratory medicine", []string{"cxr"}, nil, false},
	"hypothyroid": {"hypothyroid", "40930008", "Hypothyroidism", true, []string{"levothyroxine"}, []string{"tft"}, "Diabetes and endocrinology", nil, nil, false},
	"depression":  {"depression", "35489007", "Depressive disorder", true, []string{"sertraline"}, nil, "Adult mental health", nil, nil, true},
	"psychosis":   {"psychosis", "58214004", "Schizophrenia", true, []string{"olanzapine"}, []string{"fbc", "lft"}, "Early intervention in psychosis", nil, nil, true},
	"oa":          {"oa", "396275006", "Osteoarthritis", true, []string{"paracetamol"}, []string{"crp"}, "Trauma and orthopaedics", []string{"xr_knee", "mri_knee"}, []string{"tkr"}, false},
	"ihd":         {"ihd", "414545008", "Ischaemic heart disease", true, []string{"atorvastatin", "aspirin"}, []string{"lft"}, "Cardiology", []string{"cxr"}, []string{"pci", "echo"}, false},
	"gallstones":  {"gallstones", "235919008", "Gallstones", false, []string{"codeine"}, []string{"lft", "crp"}, "General surgery", []string{"us_abdo"}, []string{"chole"}, false},
	"pneumonia":   {"pneumonia", "233604007", "Pneumonia", false, []string{"amoxicillin", "clarithro"}, []string{"fbc", "crp", "ue"}, "Acute medicine", []string{"cxr"}, nil, false},
	"uti":         {"uti", "68566005", "Urinary tract infection", false, []string{"nitrofurantoin"}, []string{"ue"}, "Acute medicine", nil, nil, false},
	"headache":    {"headache", "25064002", "Headache", false, []string{"paracetamol"}, []string{"fbc", "crp"}, "Neurology", []string{"ct_head"}, nil, false},
	"gord":        {"gord", "235595009", "Gastro-oesophageal reflux disease", true, []string{"omeprazole"}, nil, "Gastroenterology", nil, []string{"ogd"}, false},
	"eskd":        {"eskd", "46177005", "End-stage renal disease", true, []string{"epoetin", "sevelamer"}, []string{"ue", "fbc"}, "Renal medicine", []string{"us_kidney"}, []string{"dialysis"}, false},
}

// chronicProblems and acuteProblems are what generated patients are given.
var (
	chronicProblems = []string{"t2dm", "htn", "asthma", "hypothyroid", "depression", "oa", "ihd", "af", "gord", "ckd"}
	acuteProblems   = []string{"pneumonia", "uti", "headache", "gallstones"}
)

type exam struct {
	key      string
	name     string
	code     string // SNOMED CT procedure
	modality string
	bodyCode string
	body     string
	normal   string
	abnormal string
}

var exams = map[string]exam{
	"cxr": {"cxr", "Plain chest X-ray", "399208008", "DX", "51185008", "Thoracic structure",
		"The heart is not enlarged. The lungs and pleural spaces are clear. No bony abnormality.",
		"Consolidation in the right lower zone in keeping with infection. Small right pleural effusion. Recommend follow-up film in 6 weeks."},
	"ct_head": {"ct_head", "CT head", "303653007", "CT", "69536005", "Head structure",
		"No intracranial haemorrhage, mass effect or territorial infarct. Ventricles and sulci are normal for age.",
		"Small area of established low attenuation in the left parietal lobe, likely an old infarct. No acute haemorrhage."},
	"mri_knee": {"mri_knee", "MRI left knee", "113091000", "MR", "72696002", "Knee region structure",
		"Menisci and cruciate ligaments intact. No joint effusion.",
		"Degenerate tear of the posterior horn of the medial meniscus. Moderate medial compartment osteoarthritis with joint effusion."},
	"xr_knee": {"xr_knee", "X-ray left knee", "363680008", "DX", "72696002", "Knee region structure",
		"Joint spaces preserved. No fracture.",
		"Marked loss of medial joint space with osteophytes and subchondral sclerosis, in keeping with osteoarthritis."},
	"us_abdo": {"us_abdo", "Ultrasound abdomen", "16310003", "US", "818983003", "Abdomen",
		"Liver, gallbladder, pancreas, spleen and kidneys appear normal.",
		"Multiple mobile calculi in a thick-walled gallbladder. Common bile duct 5 mm. Appearances of cholecystitis."},
	"us_kidney": {"us_kidney", "Ultrasound kidneys", "16310003", "US", "64033007", "Kidney structure",
		"Both kidneys normal in size and echotexture. No hydronephrosis.",
		"Both kidneys small (right 8.9 cm, left 9.1 cm) with increased cortical echogenicity, consistent with chronic kidney disease. No hydronephrosis."},
}

type proc struct {
	key  string
	code string
	name string
	body string
}

var procs = map[string]proc{
	"chole":    {"chole", "45595009", "Laparoscopic cholecystectomy", "Gallbladder"},
	"tkr":      {"tkr", "609588000", "Total knee replacement", "Left knee"},
	"pci":      {"pci", "415070008", "Percutaneous coronary intervention", "Coronary artery"},
	"echo":     {"echo", "40701008", "Echocardiography", "Heart"},
	"ecg":      {"ecg", "29303009", "Electrocardiographic procedure", ""},
	"ogd":      {"ogd", "1919006", "Oesophagogastroduodenoscopy", "Upper gastrointestinal tract"},
	"dialysis": {"dialysis", "302497006", "Haemodialysis", ""},
	"flu":      {"flu", "86198006", "Influenza vaccination", ""},
	"colono":   {"colono", "73761001", "Colonoscopy", "Colon"},
}

type allergen struct {
	code      string
	name      string
	category  string
	reaction  string
	reactCode string
	severity  string
	crit      string
}

var allergens = []allergen{
	{"764146007", "Penicillin", "medication", "Urticaria", "126485001", "moderate", "high"},
	{"387458008", "Aspirin", "medication", "Angioedema", "41291007", "severe", "high"},
	{"387494007", "Codeine", "medication", "Nausea", "422587007", "mild", "low"},
	{"111088007", "Latex", "environment", "Contact dermatitis", "40275004", "mild", "low"},
	{"762952008", "Peanut", "food", "Anaphylaxis", "39579001", "severe", "high"},
}

// Names and places. Streets are plainly invented; phone numbers come from
// Ofcom's ranges reserved for drama (020 7946 0xxx, 07700 900xxx).
var (
	femaleGiven = []string{"Amelia", "Olivia", "Grace", "Aisha", "Chloe", "Funmilayo", "Priya", "Sophie", "Margaret",
		"Joan", "Hannah", "Zainab", "Ewa", "Mei", "Rosa", "Bethany", "Niamh", "Fatima", "Abena", "Imogen"}
	maleGiven = []string{"Oliver", "George", "Kwame", "Mohammed", "Harry", "Jack", "Arjun", "Daniel", "Thomas", "Samuel",
		"Chidi", "Patrick", "Tomasz", "Wei", "Luis", "Callum", "Idris", "Reginald", "Dennis", "Kofi"}
	families = []string{"Whitlow", "Brackenbury", "Oyelaran", "Farthingale", "Mensah-Hale", "Quilliam", "Ravensworth",
		"Adebayo-Pike", "Holloway-Stern", "Castellane", "Nakamura-Bell", "Pennington", "Achterberg", "Greenhalgh",
		"Okonkwo", "Ashdown", "Featherstone", "Kowalczyk", "Lindqvist", "Montague", "Rahman-Cole", "Sutherby",
		"Thistlewood", "Underhill", "Varga", "Winterbourne", "Yardley", "Zielinski", "Blackwood", "Chaudhry-Lane",
		"Dunmore", "Ellerby", "Fairweather", "Gallagher-Soto", "Hargreaves", "Ilori", "Jessop", "Kingsley-Obi",
		"Larkspur", "Merriweather", "Northcott", "Oduya", "Pemberton-Vale", "Quince", "Rowntree", "Stanhope",
		"Tremlett", "Umeh", "Vickery", "Wrexham"}
	streets = []string{"Imaginary Road", "Example Street", "Fictional Avenue", "Sample Lane", "Placeholder Close",
		"Notional Gardens", "Pretend Terrace", "Invented Row", "Makebelieve Mews", "Synthetic Way"}
)

type area struct {
	town      string
	districts []string
}

var practiceAreas = map[string]area{
	PeckhamGPODS: {"London", []string{"SE15", "SE5", "SE22"}},
	BrixtonGPODS: {"London", []string{"SW9", "SE24", "SW2"}},
	BromleyGPODS: {"Orpington", []string{"BR6", "BR5", "BR1"}},
}
