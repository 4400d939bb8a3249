package synthetic_test

import (
	"context"
	"fmt"
	"os"

	"github.com/carerecord/carerecord/connectors"
	"github.com/carerecord/carerecord/connectors/fhir"
	"github.com/carerecord/carerecord/connectors/synthetic"
)

// The demo command starts the synthetic organisations and wires one FHIR
// connector per organisation, exactly as production wires real sources.
func ExampleStart() {
	cluster, err := synthetic.Start(synthetic.Orgs(), nil) // or synthetic.DemoFaults()
	if err != nil {
		panic(err)
	}
	defer cluster.Close()

	var sources []connectors.Connector
	for _, cfg := range cluster.Configs() {
		c, err := fhir.New(cfg, os.Getenv)
		if err != nil {
			panic(err)
		}
		sources = append(sources, c)
	}
	rec, err := sources[0].FetchRecord(context.Background(), synthetic.RichNHSNumber)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(sources), "sources")
	fmt.Println(rec.Patient.DisplayName(), "at", rec.Patient.Source.Name)
	// Output:
	// 8 sources
	// SMITH, Jane (Mrs) at King's College Hospital NHS Foundation Trust
}
