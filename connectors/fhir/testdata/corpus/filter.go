//go:build ignore

// filter copies the part of HL7's published FHIR examples that the corpus
// test needs into this directory: every Patient, every resource of a type
// the connector reads that belongs to one of them (by `patient` or
// `subject`), and the Medications, Observations and Binaries those refer
// to; and whole the document, collection and transaction Bundles that hold
// a Patient. Files are copied byte for byte under their published names.
//
//	npm pack hl7.fhir.r4.examples@4.0.1 hl7.fhir.uv.ips@2.0.0
//	mkdir r4 ips && tar xzf hl7.fhir.r4.examples-4.0.1.tgz -C r4 && tar xzf hl7.fhir.uv.ips-2.0.0.tgz -C ips
//	go run connectors/fhir/testdata/corpus/filter.go -out connectors/fhir/testdata/corpus \
//	    r4=r4/package ips=ips/package/example
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// clinical are the resource types the connector searches by patient.
var clinical = []string{"Observation", "ImagingStudy", "DiagnosticReport", "MedicationRequest",
	"MedicationStatement", "Encounter", "Procedure", "Condition", "AllergyIntolerance",
	"DocumentReference", "Immunization", "Flag"}

type ref struct {
	Reference string `json:"reference"`
}

type resource struct {
	ResourceType        string `json:"resourceType"`
	ID                  string `json:"id"`
	Type                string `json:"type"`
	Patient             *ref   `json:"patient"`
	Subject             *ref   `json:"subject"`
	MedicationReference *ref   `json:"medicationReference"`
	Result              []ref  `json:"result"`
	HasMember           []ref  `json:"hasMember"`
	Content             []struct {
		Attachment struct {
			URL string `json:"url"`
		} `json:"attachment"`
	} `json:"content"`
	PresentedForm []struct {
		URL string `json:"url"`
	} `json:"presentedForm"`
	Entry []struct {
		Resource *resource `json:"resource"`
	} `json:"entry"`
}

func main() {
	out := flag.String("out", ".", "directory to write NAME/ folders into")
	flag.Parse()
	for _, arg := range flag.Args() {
		name, dir, ok := strings.Cut(arg, "=")
		if !ok {
			log.Fatalf("argument %q: want NAME=DIR", arg)
		}
		n, err := filter(dir, filepath.Join(*out, name))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d files\n", name, n)
	}
}

func filter(dir, out string) (int, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return 0, err
	}
	byKey := map[string]string{} // "Type/id" -> file
	res := map[string]*resource{}
	patients := map[string]bool{}
	var keep []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		var r resource
		// Some elements of this loose shape have other types in some
		// resources (Composition.type is a CodeableConcept): Unmarshal
		// still fills the rest.
		_ = json.Unmarshal(raw, &r)
		if r.ResourceType == "" {
			continue // package.json, .index.json and the like
		}
		if r.ResourceType == "Bundle" {
			if slices.Contains([]string{"document", "collection", "transaction"}, r.Type) &&
				slices.ContainsFunc(r.Entry, func(e struct {
					Resource *resource `json:"resource"`
				}) bool {
					return e.Resource != nil && e.Resource.ResourceType == "Patient"
				}) {
				keep = append(keep, f)
			}
			continue
		}
		key := r.ResourceType + "/" + r.ID
		byKey[key], res[key] = f, &r
		if r.ResourceType == "Patient" {
			patients[r.ID] = true
		}
	}
	wanted := map[string]bool{}
	for key, r := range res {
		if r.ResourceType == "Patient" || slices.Contains(clinical, r.ResourceType) && (ofPatient(r.Patient, patients) || ofPatient(r.Subject, patients)) {
			wanted[key] = true
		}
	}
	// What the kept resources refer to, for the mapping to resolve.
	for key := range wanted {
		r := res[key]
		refs := append(slices.Clone(r.Result), r.HasMember...)
		if r.MedicationReference != nil {
			refs = append(refs, *r.MedicationReference)
		}
		for _, c := range r.Content {
			refs = append(refs, ref{c.Attachment.URL})
		}
		for _, p := range r.PresentedForm {
			refs = append(refs, ref{p.URL})
		}
		for _, rf := range refs {
			if k := localKey(rf.Reference); byKey[k] != "" {
				wanted[k] = true
			}
		}
	}
	for k := range wanted {
		keep = append(keep, byKey[k])
	}
	slices.Sort(keep)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return 0, err
	}
	for _, f := range keep {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(f)), raw, 0o644); err != nil {
			return 0, err
		}
	}
	return len(keep), nil
}

func ofPatient(r *ref, patients map[string]bool) bool {
	if r == nil {
		return false
	}
	typ, id, _ := strings.Cut(localKey(r.Reference), "/")
	return typ == "Patient" && patients[id]
}

// localKey turns "Type/id", a URL ending so, or "Type/id/_history/n" into
// "Type/id".
func localKey(ref string) string {
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return ref
	}
	return parts[len(parts)-2] + "/" + parts[len(parts)-1]
}
