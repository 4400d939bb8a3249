package synthetic

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// Cluster is a set of running synthetic organisations, each on its own
// loopback port.
type Cluster struct {
	members []*member
}

type member struct {
	server *Server
	http   *http.Server
	url    string
}

// Start generates each organisation's data and serves it on 127.0.0.1 on a
// port of the system's choosing, with the given faults (keyed by ODS code;
// missing means healthy). Close stops them.
func Start(orgs []Org, faults map[string]Faults) (*Cluster, error) {
	servers := make([]*Server, len(orgs))
	var wg sync.WaitGroup
	for i, o := range orgs {
		wg.Go(func() { servers[i] = NewServer(o) })
	}
	wg.Wait()

	c := &Cluster{}
	for _, s := range servers {
		s.SetFaults(faults[s.org.ODS])
		if err := c.serve(s); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// serve starts s on a loopback port of the system's choosing and adds it
// to the cluster.
func (c *Cluster) serve(s *Server) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("synthetic: listen for %s: %w", s.org.ODS, err)
	}
	hs := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second,
		// Injected faults abort connections on purpose; that is not
		// worth a log line.
		ErrorLog: log.New(io.Discard, "", 0)}
	c.members = append(c.members, &member{server: s, http: hs, url: "http://" + ln.Addr().String() + "/fhir"})
	go hs.Serve(ln)
	return nil
}

// Close stops every server, cutting off requests in flight.
func (c *Cluster) Close() error {
	var errs []error
	for _, m := range c.members {
		if err := m.http.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// URL returns the organisation's FHIR base URL, e.g.
// "http://127.0.0.1:41234/fhir", or "" if it is not in the cluster.
func (c *Cluster) URL(ods string) string {
	if m := c.member(ods); m != nil {
		return m.url
	}
	return ""
}

// SetFaults changes an organisation's faults while it runs.
func (c *Cluster) SetFaults(ods string, f Faults) {
	if m := c.member(ods); m != nil {
		m.server.SetFaults(f)
	}
}

func (c *Cluster) member(ods string) *member {
	for _, m := range c.members {
		if m.server.org.ODS == ods {
			return m
		}
	}
	return nil
}

// Configs returns one FHIR source configuration per organisation, ready for
// fhir.New. MaxPages is raised so that the long-history patient's record
// (over 5,000 entries) is read in full.
func (c *Cluster) Configs() []connectors.Config {
	out := make([]connectors.Config, len(c.members))
	for i, m := range c.members {
		out[i] = connectors.Config{
			Name: m.server.org.Name, ODS: m.server.org.ODS, Kind: connectors.SourceKindFHIR, BaseURL: m.url,
			Timeout: connectors.DefaultTimeout, Auth: connectors.Auth{Type: connectors.AuthNone},
			MaxPages: 200, MaxResponseBytes: connectors.DefaultMaxResponseBytes,
		}
	}
	return out
}

// DemoFaults are the faults the demo runs with: Lewisham and Greenwich is
// slow (each request waits 700 ms; opening a record takes three round trips
// of parallel searches, so about 2 s), and Milton Keynes answers 2% of
// requests with HTTP 500, which fails about one record fetch in five
// (a fetch makes eleven requests or more).
func DemoFaults() map[string]Faults {
	return map[string]Faults{
		LewishamODS:   {Latency: 700 * time.Millisecond},
		MiltonKeynODS: {ErrorRate: 0.02},
	}
}
