package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hazardLogPath is the clinical safety hazard log, from this package.
const hazardLogPath = "../../docs/clinical-safety/hazard-log.md"

// testPackages maps the package names the hazard log cites to their
// directories, from the repository root.
var testPackages = map[string]string{
	"web":        "web",
	"store":      "store",
	"records":    "records",
	"fhir":       "connectors/fhir",
	"pds":        "connectors/pds",
	"gpconnect":  "connectors/gpconnect",
	"connectors": "connectors",
	"synthetic":  "connectors/synthetic",
	"views":      "views",
	"main":       "cmd/carerecord",
	"devidp":     "web/devidp",
	"vulnallow":  "cmd/vulnallow",
}

// hazardFields are the rows every hazard must have.
var hazardFields = []string{"Hazard", "Causes", "Effect", "Possible harm", "Initial risk", "Controls", "Residual risk", "Tests"}

var (
	hazardHeading = regexp.MustCompile(`(?m)^### (H-\d{3}) \S`)
	testRef       = regexp.MustCompile("`([a-z]+)\\.((?:Test|Fuzz)[A-Za-z0-9_]*)(?:/([^`]+))?`")
)

// TestHazardLog checks the hazard log against the code: every hazard has
// every field, and every test it cites as proof of a control exists, down
// to the subtest; a hazard without tests must say "test: pending".
func TestHazardLog(t *testing.T) {
	log, err := os.ReadFile(hazardLogPath)
	if err != nil {
		t.Fatal(err)
	}
	n, errs := checkHazardLog(string(log), "../..")
	for _, err := range errs {
		t.Error(err)
	}
	if n < 11 {
		t.Errorf("%d hazards in the log, want at least the 11 the product's safety case names", n)
	}
}

// TestHazardLogChecker proves the check fails where it should.
func TestHazardLogChecker(t *testing.T) {
	entry := func(id, tests string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "### %s Something\n\n| | |\n| --- | --- |\n", id)
		for _, f := range hazardFields[:len(hazardFields)-1] {
			fmt.Fprintf(&b, "| %s | x |\n", f)
		}
		fmt.Fprintf(&b, "| Tests | %s |\n\n", tests)
		return b.String()
	}
	cases := []struct {
		name, log, want string
	}{
		{"OK", entry("H-001", "`main.TestHazardLog`, `main.TestHazardLogChecker/MissingSubtest`") + entry("H-002", "test: pending (manual)"), ""},
		{"ErrMissingTest", entry("H-001", "`web.TestNoSuchThing`"), "web.TestNoSuchThing: no func TestNoSuchThing"},
		{"ErrMissingSubtest", entry("H-001", "`main.TestHazardLogChecker/NoSuchCase`"), `no subtest "NoSuchCase"`},
		{"ErrUnknownPackage", entry("H-001", "`nowhere.TestX`"), "unknown package nowhere"},
		{"ErrNoTestNoMarker", entry("H-001", "none yet"), "H-001: no test cited and no"},
		{"ErrMissingField", strings.Replace(entry("H-001", "test: pending"), "| Effect | x |\n", "", 1), "H-001: no Effect row"},
		{"ErrDuplicateID", entry("H-001", "test: pending") + entry("H-001", "test: pending"), "H-001 appears twice"},
		{"MissingSubtest", entry("H-001", "`main.TestHazardLog/Nested`"), `no subtest "Nested"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := checkHazardLog(tc.log, "../..")
			got := fmt.Sprint(errs)
			if tc.want == "" && len(errs) > 0 {
				t.Fatalf("errors for a good log: %v", errs)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("errors %v, want one saying %q", errs, tc.want)
			}
		})
	}
}

// checkHazardLog returns how many hazards the log holds and what is wrong
// with it; root is the repository root.
func checkHazardLog(log, root string) (int, []error) {
	var errs []error
	locs := hazardHeading.FindAllStringSubmatchIndex(log, -1)
	seen := map[string]bool{}
	files := map[string]map[string]string{} // dir -> file name -> content
	for i, loc := range locs {
		id := log[loc[2]:loc[3]]
		end := len(log)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		section := log[loc[0]:end]
		if seen[id] {
			errs = append(errs, fmt.Errorf("%s appears twice", id))
		}
		seen[id] = true
		rows := map[string]string{}
		for _, line := range strings.Split(section, "\n") {
			cells := strings.Split(line, "|")
			if len(cells) >= 3 {
				rows[strings.TrimSpace(cells[1])] = strings.Join(cells[2:], "|")
			}
		}
		for _, f := range hazardFields {
			if strings.TrimSpace(rows[f]) == "" {
				errs = append(errs, fmt.Errorf("%s: no %s row", id, f))
			}
		}
		refs := testRef.FindAllStringSubmatch(rows["Tests"], -1)
		if len(refs) == 0 && !strings.Contains(rows["Tests"], "test: pending") {
			errs = append(errs, fmt.Errorf("%s: no test cited and no \"test: pending\" marker", id))
		}
		for _, r := range refs {
			if err := checkTestRef(root, files, r[1], r[2], r[3]); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", id, strings.Trim(r[0], "`"), err))
			}
		}
	}
	return len(locs), errs
}

// checkTestRef finds func name in the package's test files, and each
// level of sub as a t.Run name or a table case name in the same file.
func checkTestRef(root string, cache map[string]map[string]string, pkg, name, sub string) error {
	dir, ok := testPackages[pkg]
	if !ok {
		return fmt.Errorf("unknown package %s", pkg)
	}
	if cache[dir] == nil {
		paths, err := filepath.Glob(filepath.Join(root, dir, "*_test.go"))
		if err != nil {
			return err
		}
		cache[dir] = map[string]string{}
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			cache[dir][filepath.Base(p)] = string(b)
		}
	}
	fn := regexp.MustCompile(`(?m)^func ` + regexp.QuoteMeta(name) + `\((t|f) \*testing\.(T|F)\) \{`)
	for file, src := range cache[dir] {
		if !fn.MatchString(src) {
			continue
		}
		if sub == "" {
			return nil
		}
		for _, part := range strings.Split(sub, "/") {
			q := `"` + part + `"`
			if !strings.Contains(src, "t.Run("+q) && !strings.Contains(src, "{"+q+",") && !strings.Contains(src, "name: "+q) {
				return fmt.Errorf("no subtest %q (as t.Run or a table case name) in %s/%s", part, dir, file)
			}
		}
		return nil
	}
	return fmt.Errorf("no func %s in %s/*_test.go", name, dir)
}
