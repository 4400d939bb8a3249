package records

// MemoryCacheBytes returns the estimated bytes of decoded records held in
// memory, for the tests of the in-memory cache.
func (r *Records) MemoryCacheBytes() int64 { return r.memo.bytes() }
