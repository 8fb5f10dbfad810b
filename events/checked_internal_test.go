package events

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// However many events are read, the cache holds at most its number of
// them and its bytes, the oldest going first; bytes it does not hold are
// checked in full, and what is not an event is never kept.
func TestTheCheckedEventsAreBoundedInNumberAndBytes(t *testing.T) {
	fact := func(age int) []byte {
		e, err := New(Police, "0b9f1c1e-4f5a-4c59-9a51-0d4c2f7d8e11", &S136Detained{DetainedAt: time.Date(2026, 11, 20, 1, 30, 0, 0, time.UTC),
			LocationType: "public_place", AgeYears: age, Consulted: true})
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	facts := map[int][]byte{}
	for age := 20; age < 40; age++ {
		facts[age] = fact(age)
	}
	size := len(facts[30])
	c := newCheckedCache(8, 5*size)
	keep := func(raw []byte) {
		t.Helper()
		e, err := parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		c.put(raw, e)
	}
	for age := 20; age < 40; age++ {
		keep(facts[age])
		if n, b := c.held(); n > 8 || b > 5*size {
			t.Fatalf("after %d facts the cache holds %d of them, %d bytes: want at most 8 and %d", age-19, n, b, 5*size)
		}
	}
	// The newest are held; the oldest went first.
	if _, ok := c.get(facts[39]); !ok {
		t.Error("the newest fact is not held")
	}
	if _, ok := c.get(facts[20]); ok {
		t.Error("the oldest fact is still held past the bounds")
	}
	// Bytes like those held, but not the same, are not taken from it.
	held := facts[39]
	if _, ok := c.get(bytes.Replace(held, []byte(`"ageYears":39`), []byte(`"ageYears":93`), 1)); ok {
		t.Error("other bytes were taken for a fact held")
	}
	// An event bigger than the whole budget is not kept.
	small := newCheckedCache(8, size-1)
	e, _ := parse(held)
	small.put(held, e)
	if n, _ := small.held(); n != 0 {
		t.Errorf("a fact of %d bytes was kept in a cache of %d", size, size-1)
	}
}

// held is how many events, and how many bytes, the cache holds.
func (c *checkedCache) held() (n, size int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.bytes
}
