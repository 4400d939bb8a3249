package records

import (
	"testing"

	"github.com/carerecord/carerecord/connectors"
)

func TestMergeMemo(t *testing.T) {
	m := newMergeMemo(5)
	a, b := &connectors.Record{}, &connectors.Record{}
	es := make([]connectors.Entry, 3)
	k := mergeKey("9990000018", []*connectors.Record{a, b})
	if k == mergeKey("9990000018", []*connectors.Record{a}) || k == mergeKey("9990000026", []*connectors.Record{a, b}) {
		t.Fatal("keys of different answers collide")
	}
	m.put(k, "9990000018", []*connectors.Record{a, b}, es)
	if got, ok := m.get(k); !ok || &got[0] != &es[0] {
		t.Fatal("not cached")
	}
	m.put(mergeKey("9990000026", []*connectors.Record{a}), "9990000026", []*connectors.Record{a}, make([]connectors.Entry, 3))
	if m.held > 5 {
		t.Fatalf("%d entries held, bound 5", m.held)
	}
	if _, ok := m.get(k); ok {
		t.Fatal("the least recently used was not evicted")
	}
	m.dropPatient("9990000026")
	if m.held != 0 || len(m.m) != 0 {
		t.Fatal("dropPatient left entries")
	}
	var none *mergeMemo
	if _, ok := none.get(k); ok {
		t.Fatal("a nil memo returned something")
	}
}
