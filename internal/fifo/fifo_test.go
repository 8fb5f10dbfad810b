package fifo_test

import (
	"testing"

	"github.com/crisisbus/crisisbus/internal/fifo"
)

// A full map lets go of the key added first; a key set again keeps its
// place and takes no second one.
func TestAFullMapLetsGoOfTheOldestKey(t *testing.T) {
	m := fifo.New[int, string](3)
	for k := 1; k <= 3; k++ {
		m.Put(k, "first")
	}
	m.Put(1, "again") // held already: no new place
	m.Put(4, "new")   // full: 1, the oldest, goes
	if _, ok := m.Get(1); ok {
		t.Fatal("key 1, the oldest, is still held after a fourth key was added to a map of 3")
	}
	for _, k := range []int{2, 3, 4} {
		if _, ok := m.Get(k); !ok {
			t.Fatalf("key %d was dropped", k)
		}
	}
	if m.Len() != 3 {
		t.Fatalf("the map holds %d keys, want 3", m.Len())
	}
	if v := m.GetOrAdd(2, func() string { return "made" }); v != "first" {
		t.Fatalf("GetOrAdd of a held key gave %q, want its value", v)
	}
	if v := m.GetOrAdd(5, func() string { return "made" }); v != "made" {
		t.Fatalf("GetOrAdd of a new key gave %q", v)
	}
	if _, ok := m.Get(2); ok {
		t.Fatal("key 2 is held after key 5 was added: the oldest must go")
	}
}
