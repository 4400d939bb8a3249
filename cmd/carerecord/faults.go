package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/carerecord/carerecord/connectors/synthetic"
)

// parseFaults reads the demo's --faults flag: "default", "none", or a
// comma-separated list of ODS=fault[;fault...] where a fault is
// latency:DURATION, errors:FRACTION, down, unavailable or drip:DURATION.
// For example: RJ2=latency:2s,RD8=errors:0.1,RV5=down.
func parseFaults(s string) (map[string]synthetic.Faults, error) {
	switch strings.TrimSpace(s) {
	case "", "default":
		return synthetic.DemoFaults(), nil
	case "none":
		return nil, nil
	}
	known := map[string]bool{}
	for _, o := range synthetic.Orgs() {
		known[o.ODS] = true
	}
	out := map[string]synthetic.Faults{}
	for _, part := range strings.Split(s, ",") {
		ods, spec, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || !known[ods] {
			return nil, fmt.Errorf("--faults: %q: want ODS=fault with one of the demo's ODS codes", part)
		}
		f := out[ods]
		for _, one := range strings.Split(spec, ";") {
			name, val, _ := strings.Cut(one, ":")
			var err error
			switch name {
			case "latency":
				f.Latency, err = time.ParseDuration(val)
			case "drip":
				f.DripInterval, err = time.ParseDuration(val)
			case "errors":
				f.ErrorRate, err = strconv.ParseFloat(val, 64)
				if err == nil && (f.ErrorRate < 0 || f.ErrorRate > 1) {
					err = fmt.Errorf("must be between 0 and 1")
				}
			case "down":
				f.Down = true
			case "unavailable":
				f.Unavailable = true
			default:
				err = fmt.Errorf("unknown fault (latency, errors, down, unavailable, drip)")
			}
			if err != nil {
				return nil, fmt.Errorf("--faults: %s %q: %v", ods, one, err)
			}
		}
		out[ods] = f
	}
	return out, nil
}
