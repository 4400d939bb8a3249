package gpconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/carerecord/carerecord/connectors"
)

// SDS identifier systems.
const (
	systemInteraction = "https://fhir.nhs.uk/Id/nhsServiceInteractionId"
	systemSpineASID   = "https://fhir.nhs.uk/Id/nhsSpineASID"
	// sdsKeep is how long a lookup is kept: "consuming systems SHOULD
	// cache SDS query results".
	sdsKeep = time.Hour
)

// directory finds a practice's GP Connect endpoint and ASID in the Spine
// Directory Service (the SDS FHIR API): the Device registered for the
// practice's ODS code and this interaction holds the ASID, the Endpoint
// the address.
type directory struct {
	base, apiKey string
	http         *http.Client

	mu      sync.Mutex
	address string
	asid    string
	at      time.Time
}

// errNotInSDS: SDS has no GP Connect registration for the practice.
var errNotInSDS = errors.New("no GP Connect endpoint registered in SDS")

// lookup returns the practice's endpoint address and ASID, from the last
// lookup within sdsKeep, else from SDS.
func (d *directory) lookup(ctx context.Context, ods string) (string, string, error) {
	d.mu.Lock()
	if d.address != "" && time.Since(d.at) < sdsKeep {
		a, s := d.address, d.asid
		d.mu.Unlock()
		return a, s, nil
	}
	d.mu.Unlock()
	q := url.Values{"organization": {SystemODS + "|" + ods}, "identifier": {systemInteraction + "|" + InteractionID}}
	var device, endpoint struct {
		Entry []struct {
			Resource struct {
				ResourceType string       `json:"resourceType"`
				Address      string       `json:"address"`
				Identifier   []identifier `json:"identifier"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := d.get(ctx, "/Device?"+q.Encode(), &device); err != nil {
		return "", "", err
	}
	if err := d.get(ctx, "/Endpoint?"+q.Encode(), &endpoint); err != nil {
		return "", "", err
	}
	asid, address := "", ""
	for _, e := range device.Entry {
		for _, id := range e.Resource.Identifier {
			if e.Resource.ResourceType == "Device" && id.System == systemSpineASID && asid == "" {
				asid = id.Value
			}
		}
	}
	for _, e := range endpoint.Entry {
		if e.Resource.ResourceType == "Endpoint" && address == "" {
			address = e.Resource.Address
		}
	}
	if asid == "" || address == "" || strings.Trim(asid, "0123456789") != "" {
		return "", "", errNotInSDS
	}
	u, err := url.Parse(address)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		return "", "", errNotInSDS
	}
	address = strings.TrimRight(address, "/")
	d.mu.Lock()
	d.address, d.asid, d.at = address, asid, time.Now()
	d.mu.Unlock()
	return address, asid, nil
}

func (d *directory) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", mediaType)
	req.Header.Set("apikey", d.apiKey)
	req.Header.Set("X-Correlation-Id", traceID())
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("SDS answered HTTP %d", resp.StatusCode)
	}
	return json.Unmarshal(body, out)
}

// resolve returns the operation's URL and the practice's ASID: as
// configured, or from SDS. A failed lookup is a *connectors.SourceError.
func (c *Client) resolve(ctx context.Context) (string, string, error) {
	if c.sds == nil {
		return c.endpoint, c.cfg.ASID, nil
	}
	address, asid, err := c.sds.lookup(ctx, c.src.ODS)
	if err != nil {
		outcome := "could not be found in the Spine Directory Service"
		if !errors.Is(err, errNotInSDS) {
			outcome = "not asked: the Spine Directory Service lookup failed"
		}
		return "", "", &connectors.SourceError{Source: c.src, Kind: connectors.ErrRefused, Outcome: outcome, Err: err}
	}
	return c.endpointURL(address), asid, nil
}
