// Command vulnallow reads govulncheck's JSON output and fails when a
// vulnerability the code reaches is not in the allow-list, where each
// entry names its reason. CI runs it after govulncheck (.ci/run):
//
//	govulncheck -format json ./... | vulnallow -allow .ci/vuln-allow.txt
//
// It is a gate, not a report: govulncheck's text output says more.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	allowPath := flag.String("allow", ".ci/vuln-allow.txt", "allow-list: one vulnerability ID and its reason per line")
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *allowPath); err != nil {
		fmt.Fprintln(os.Stderr, "vulnallow:", err)
		os.Exit(1)
	}
}

func run(report io.Reader, out io.Writer, allowPath string) error {
	f, err := os.Open(allowPath)
	if err != nil {
		return err
	}
	defer f.Close()
	allow, err := parseAllowList(f)
	if err != nil {
		return fmt.Errorf("%s: %w", allowPath, err)
	}
	found, err := reachable(report)
	if err != nil {
		return err
	}
	return judge(out, found, allow)
}

// parseAllowList reads lines "ID reason...": blank lines and lines
// starting with # are comments. An entry without a reason, or listed
// twice, is an error: the list is read by people deciding whether a
// risk is still acceptable.
func parseAllowList(r io.Reader) (map[string]string, error) {
	allow := map[string]string{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		id, reason = strings.TrimSpace(id), strings.TrimSpace(reason)
		switch {
		case !strings.HasPrefix(id, "GO-"):
			return nil, fmt.Errorf("line %d: %q is not a Go vulnerability ID (GO-YYYY-NNNN)", n, id)
		case reason == "":
			return nil, fmt.Errorf("line %d: %s has no reason", n, id)
		case allow[id] != "":
			return nil, fmt.Errorf("line %d: %s is listed twice", n, id)
		}
		allow[id] = reason
	}
	return allow, sc.Err()
}

// finding is the part of govulncheck's JSON finding message read here.
type finding struct {
	OSV          string `json:"osv"`
	FixedVersion string `json:"fixed_version"`
	Trace        []struct {
		Module   string `json:"module"`
		Version  string `json:"version"`
		Package  string `json:"package"`
		Function string `json:"function"`
	} `json:"trace"`
}

// vuln is one reachable vulnerability and where it was found.
type vuln struct {
	ID, Module, Version, Fixed string
}

// reachable returns the vulnerabilities whose code the program calls:
// govulncheck reports a finding at symbol level (its first frame names a
// function) only then; module- and package-level findings are code that
// is required or imported but never called.
func reachable(r io.Reader) ([]vuln, error) {
	dec := json.NewDecoder(r)
	seen := map[string]bool{}
	var out []vuln
	messages := 0
	for {
		var msg struct {
			Finding *finding `json:"finding"`
		}
		err := dec.Decode(&msg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading govulncheck JSON: %w", err)
		}
		messages++
		fd := msg.Finding
		if fd == nil || len(fd.Trace) == 0 || fd.Trace[0].Function == "" {
			continue
		}
		key := fd.OSV + " " + fd.Trace[0].Module
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, vuln{ID: fd.OSV, Module: fd.Trace[0].Module, Version: fd.Trace[0].Version, Fixed: fd.FixedVersion})
	}
	if messages == 0 {
		// An empty report is a govulncheck that did not run, not a clean bill.
		return nil, errors.New("govulncheck's report is empty")
	}
	slices.SortFunc(out, func(a, b vuln) int { return strings.Compare(a.ID+a.Module, b.ID+b.Module) })
	return out, nil
}

// judge lists every reachable vulnerability, allowed or not, and fails
// on those not allowed. An allowed ID no longer found is reported so the
// list can be pruned, but does not fail.
func judge(w io.Writer, found []vuln, allow map[string]string) error {
	var refused []string
	ids := map[string]bool{}
	for _, v := range found {
		ids[v.ID] = true
		fixed := "no fixed version"
		if v.Fixed != "" {
			fixed = "fixed in " + v.Fixed
		}
		if reason, ok := allow[v.ID]; ok {
			fmt.Fprintf(w, "allowed  %s in %s@%s (%s): %s\n", v.ID, v.Module, v.Version, fixed, reason)
			continue
		}
		fmt.Fprintf(w, "REACHED  %s in %s@%s (%s): not in the allow-list\n", v.ID, v.Module, v.Version, fixed)
		refused = append(refused, v.ID)
	}
	for id := range allow {
		if !ids[id] {
			fmt.Fprintf(w, "stale    %s is allowed but no longer reached: remove it from the allow-list\n", id)
		}
	}
	if len(refused) > 0 {
		slices.Sort(refused)
		refused = slices.Compact(refused)
		return fmt.Errorf("%d reachable vulnerabilities not allowed: %s (update the module, or add the ID with a reason to the allow-list)",
			len(refused), strings.Join(refused, ", "))
	}
	fmt.Fprintf(w, "%d reachable vulnerabilities, all allowed with a reason\n", len(found))
	return nil
}
