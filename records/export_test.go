package records

// Settle waits until no fetch for the patient is in flight, its answer
// written to the cache. Tests use it instead of sleeping.
func (r *Records) Settle(nhs string) {
	for {
		var waits []chan struct{}
		r.mu.Lock()
		for k, f := range r.flights {
			if k.nhs == nhs {
				waits = append(waits, f.done)
			}
		}
		r.mu.Unlock()
		if len(waits) == 0 {
			return
		}
		for _, w := range waits {
			<-w
		}
	}
}
