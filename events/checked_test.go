package events_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/events"
)

// A fact the record, the clock and an agency's inbox all read in one
// process is checked in full once; every other reading of the very same
// bytes is the same event, and a fact that differs by one character is
// checked in full and refused when it is wrong.
func TestAFactFoundValidReadsTheSameEveryTime(t *testing.T) {
	files, err := filepath.Glob("../schemas/testdata/valid/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid examples (%v)", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		full, err := events.ParseInFull(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range 2 { // checked, then found valid before
			got, err := events.Parse(raw)
			if err != nil || !reflect.DeepEqual(got, full) {
				t.Errorf("%s, reading %d: %+v (%v), want %+v", f, i+1, got, err, full)
			}
		}
	}

	// A fact published in this process reads, at its consumers, as it
	// does checked in full.
	e, err := events.New(events.Police, events.NewEpisodeID(), &events.S136Detained{
		DetainedAt: time.Now().UTC(), LocationType: "public_place", AgeYears: 30, Consulted: true}, events.By("PC 4471"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := events.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	full, err := events.ParseInFull(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := events.Parse(raw); err != nil || !reflect.DeepEqual(got, full) {
		t.Errorf("the published fact reads as %+v (%v), want %+v", got, err, full)
	}

	// The buffer a fact was first read from is used again for other
	// bytes: the fact read since from the same bytes elsewhere keeps its
	// data.
	other, err := events.New(events.Police, e.Subject, &events.S136Detained{
		DetainedAt: time.Now().UTC(), LocationType: "public_place", AgeYears: 41, Consulted: true}, events.By("PC 4471"))
	if err != nil {
		t.Fatal(err)
	}
	buf, err := json.Marshal(other) // the bytes Encode writes, not yet found valid
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Parse(buf); err != nil {
		t.Fatal(err)
	}
	read, err := events.Parse(bytes.Clone(buf))
	if err != nil {
		t.Fatal(err)
	}
	want := string(read.Data)
	for i := range buf {
		buf[i] = 'x'
	}
	if string(read.Data) != want {
		t.Errorf("after the first reader's buffer was used again the fact's data reads %q, want %q", read.Data, want)
	}
	if _, err := events.Parse(buf); err == nil {
		t.Errorf("the bytes now in the buffer (%.20s…) were taken as an event", buf)
	}

	// One digit of the NHS number changed: its check digit no longer holds.
	person, err := os.ReadFile("../schemas/testdata/valid/person.identified.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := events.Parse(person); err != nil {
		t.Fatal(err)
	}
	wrong := []byte(strings.Replace(string(person), "9434765919", "9434765918", 1))
	if _, err := events.Parse(wrong); err == nil || !strings.Contains(err.Error(), "nhsNumber") {
		t.Errorf("an NHS number with the wrong check digit, after the right one was read: %v, want refused naming nhsNumber", err)
	}
}
