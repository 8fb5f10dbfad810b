package events_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/schemas"
)

// The quick path (schemas.Registry.Quick) is compiled from the same schema
// files as the general validator. These tests hold the two to the same
// verdict, so a schema change the quick path does not follow fails here
// rather than letting through an event the contract refuses.

func registry(t testing.TB) *schemas.Registry {
	t.Helper()
	reg, err := events.Schemas()
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

func versioned(typ string) (string, bool) {
	spec, ok := events.Lookup(typ)
	return spec.Versioned(), ok
}

// quickVerdict is the quick path's: true only when it finds raw valid.
func quickVerdict(reg *schemas.Registry, raw []byte) bool {
	_, ok := reg.Quick(raw, versioned, nil)
	return ok
}

// generalVerdict is the general validator's on the same schemas: strict
// JSON, the envelope, and the data with its type's schema.
func generalVerdict(reg *schemas.Registry, raw []byte) error {
	inst, err := schemas.Decode(raw)
	if err != nil {
		return err
	}
	if err := reg.ValidateEnvelopeValue(inst); err != nil {
		return err
	}
	m := inst.(map[string]any)
	name, ok := versioned(m["type"].(string))
	if !ok {
		return errors.New("type not in the catalogue")
	}
	return reg.ValidateDataValue(name, m["data"])
}

// Every schema compiles for the quick path: none uses a keyword it does not
// know (which would send every such event to the slow general validator).
func TestEverySchemaIsCompiledForTheQuickPath(t *testing.T) {
	if gaps := registry(t).QuickGaps(); len(gaps) > 0 {
		t.Fatalf("the quick path cannot compile:\n%s", strings.Join(gaps, "\n"))
	}
}

// variants returns the valid examples and, for each, systematic changes of
// every value: removed, replaced by values of every JSON type and of the
// edges the schemas draw (lengths, bounds, times, ids), and an unknown
// member added to every object.
func variants(t testing.TB) map[string][]byte {
	t.Helper()
	replacements := []any{
		"", "x", strings.Repeat("é", 201), strings.Repeat("a", 4001), strings.Repeat("a", 4000),
		json.Number("0"), json.Number("-1"), json.Number("1.5"), json.Number("34.0"), json.Number("3.4e1"),
		json.Number("130"), json.Number("131"), json.Number("12"), json.Number("13"), true, false, nil,
		[]any{}, []any{"x"}, []any{json.Number("1")}, map[string]any{},
		"2026-11-20T02:15:00Z", "2026-11-20T02:15:00.5+01:00", "0001-01-01T00:00:00Z", "2100-01-01T00:00:00Z",
		"2026-11-20", "1991-02-30", "2026-11-20T25:15:00Z",
		"0d6c5d7e-3f0a-4b8e-9c61-7a2e4b1f9c82", "0D6C5D7E-3F0A-4B8E-9C61-7A2E4B1F9C82", "not-a-uuid",
		"9434765919", "943476591", "police", "amhp", "spoa", "clock", "triage_advice", "public_place", "private_dwelling",
		"https://crisisbus.local/schemas/v1/s136.detained.json", "::not a uri", "crisisbus.s136.detained.v1", "1.0",
	}
	out := map[string][]byte{}
	files, _ := filepath.Glob("../schemas/testdata/valid/*.json")
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(f)
		out[name] = raw
		var doc any
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		var walk func(at string, v any, set func(any))
		walk = func(at string, v any, set func(any)) {
			add := func(what string) {
				b, err := json.Marshal(doc)
				if err != nil {
					t.Fatal(err)
				}
				out[name+" "+at+" "+what] = b
			}
			if set != nil {
				for _, r := range replacements {
					set(r)
					add(fmt.Sprintf("= %.40v", r))
				}
				set(v)
			}
			switch x := v.(type) {
			case map[string]any:
				x["zzUnknown"] = "x"
				add("+ an unknown member")
				delete(x, "zzUnknown")
				for k, e := range x {
					delete(x, k)
					add("- " + k)
					x[k] = e
					walk(at+"/"+k, e, func(r any) { x[k] = r })
				}
			case []any:
				for i, e := range x {
					walk(fmt.Sprintf("%s/%d", at, i), e, func(r any) { x[i] = r })
				}
			}
		}
		walk("", doc, nil)
	}
	return out
}

// On every example and every systematic variation of them, the quick path
// and the general validator give the same verdict.
func TestTheQuickPathAgreesWithTheSchemas(t *testing.T) {
	reg := registry(t)
	vs := variants(t)
	invalid, _ := filepath.Glob("../schemas/testdata/invalid/*-*.json")
	for _, f := range invalid {
		raw, _ := os.ReadFile(f)
		vs[filepath.Base(f)] = raw
	}
	accepted, refused := 0, 0
	names := make([]string, 0, len(vs))
	for n := range vs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		raw := vs[name]
		quick, general := quickVerdict(reg, raw), generalVerdict(reg, raw)
		switch {
		case quick && general != nil:
			t.Errorf("%s: the quick path accepts what the schemas refuse (%v)", name, general)
		case !quick && general == nil:
			t.Errorf("%s: the quick path refuses what the schemas accept", name)
		case quick:
			accepted++
		default:
			refused++
		}
	}
	t.Logf("%d variants: %d valid, %d refused", len(vs), accepted, refused)
	if accepted < 1000 || refused < 1000 {
		t.Fatalf("too few variants of each verdict to compare (%d valid, %d refused)", accepted, refused)
	}
}

// An event read on the quick path is the event encoding/json reads from the
// same bytes, escapes and all.
func TestTheQuickPathReadsTheEventAsJSONDoes(t *testing.T) {
	reg := registry(t)
	vs := variants(t)
	vs["escapes"] = withValue(t, `"actor": "staff-1042"`, `"actor": "st\u0061ff-\"1042\" \\ \/ \n\ud83d\ude00"`)
	read := 0
	for name, raw := range vs {
		if !quickVerdict(reg, raw) {
			continue
		}
		got, err := events.Parse(raw)
		if err != nil {
			continue // refused by the catalogue or the Go checks, as before
		}
		var want events.Event
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: read as\n%+v\nencoding/json reads\n%+v", name, got, want)
		}
		read++
	}
	if read < 1000 {
		t.Fatalf("only %d events read on the quick path", read)
	}
}

// A sample of each refusal the contract makes still happens, with the
// place and the rule named, whichever path first looks at the event.
func TestEachKindOfRefusalStillHappens(t *testing.T) {
	example := func(name string) string {
		raw, err := os.ReadFile("../schemas/testdata/valid/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	detained, offered, person := example("s136.detained"), example("handoff.offered"), example("person.identified")
	support := example("haven.support_given")
	for _, c := range []struct {
		rule, doc, from, to, says string
		sentinel                  error
	}{
		{"type", detained, `"ageYears": 34`, `"ageYears": "34"`, "/data/ageYears: got string, want integer", events.ErrInvalid},
		{"uniqueItems", support, `"plan_made"`, `"de_escalation"`, "/data/support: items at 0 and 1 are equal", events.ErrInvalid},
		{"uniqueItems, escaped", support, `"plan_made"`, `"de\u005fescalation"`, "/data/support: items at 0 and 1 are equal", events.ErrInvalid},
		{"integer", detained, `"ageYears": 34`, `"ageYears": 34.5`, "/data/ageYears: got number, want integer", events.ErrInvalid},
		{"minimum", detained, `"ageYears": 34`, `"ageYears": -1`, "/data/ageYears: minimum: got -1, want 0", events.ErrInvalid},
		{"maximum", detained, `"ageYears": 34`, `"ageYears": 131`, "/data/ageYears: maximum: got 131, want 130", events.ErrInvalid},
		{"enum", detained, `"public_place"`, `"private_dwelling"`, "/data/locationType: value must be one of", events.ErrInvalid},
		{"const", detained, `"specversion": "1.0"`, `"specversion": "0.3"`, "/specversion: value must be '1.0'", events.ErrInvalid},
		{"pattern", detained, `"subject": "5b0f9d4e`, `"subject": "5B0F9D4E`, "/subject: does not match the pattern", events.ErrInvalid},
		{"minLength", detained, `"actor": "staff-1042"`, `"actor": ""`, "/actor: minLength: got 0, want 1", events.ErrInvalid},
		{"maxLength", offered, `"reason": "Assessment needed under s136"`, `"reason": "` + strings.Repeat("é", 4001) + `"`, "/data/reason: maxLength: got 4,001, want 4,000", events.ErrInvalid},
		{"required, envelope", detained, `"time": "2026-11-20T02:15:00Z",`, ``, "missing property 'time'", events.ErrInvalid},
		{"required, data", detained, `"consulted": true`, `"keptWhereTheyAre2": true`, "missing property 'consulted'", events.ErrInvalid},
		{"additionalProperties, envelope", detained, `"actor": "staff-1042"`, `"actor": "staff-1042", "diagnosis": "x"`, "additional properties 'diagnosis'", events.ErrInvalid},
		{"additionalProperties, nested", offered, `"text": "Detained under s136 on the bridge"`, `"text": "x", "nhs": "9434765919"`, "/data/summary/facts/0: additional properties 'nhs'", events.ErrInvalid},
		{"items", offered, `"bsl"`, `34`, "/data/summary/communicationNeeds/0: got number, want string", events.ErrInvalid},
		{"$ref in an array", offered, `"eventId": "0d6c5d7e-3f0a-4b8e-9c61-7a2e4b1f9c01"`, `"eventId": "fact-1"`, "/data/summary/facts/0/eventId: does not match the pattern", events.ErrInvalid},
		{"anyOf", person, "\"nhsNumber\": \"9434765919\",\n    \"givenName\": \"Recorded by the control room\",\n    \"familyName\": \"Recorded by the control room\",\n    \"dateOfBirth\": \"1991-04-02\",", ``, "/data: missing property 'nhsNumber'", events.ErrInvalid},
		{"format date-time", detained, `"detainedAt": "2026-11-20T02:15:00Z"`, `"detainedAt": "2026-11-20T02:15:00z"`, "/data/detainedAt: is not a valid date-time", events.ErrInvalid},
		{"format date", person, `"1991-04-02"`, `"1991-02-30"`, "/data/dateOfBirth: is not a valid date", events.ErrInvalid},
		{"format uri", detained, `"dataschema": "https://crisisbus.local/schemas/v1/s136.detained.json"`, `"dataschema": "s136 detained"`, "/dataschema: is \"s136 detained\"", events.ErrInvalid},
		{"object type of data", detained, `"data": {`, `"data": [], "x": {`, "/data: got array, want object", events.ErrInvalid},
		{"unknown type", detained, `crisisbus.s136.detained.v1`, `crisisbus.s136.decided.v1`, "not in the catalogue", events.ErrUnknownType},
		{"publisher", detained, `"source": "police"`, `"source": "spoa"`, "spoa may not publish s136.detained", events.ErrNotAuthor},
		{"addressed to no one", offered, `"toagency": "amhp",`, ``, "/toagency: required", events.ErrInvalid},
		{"addressed when not a handoff", detained, `"actor": "staff-1042"`, `"actor": "staff-1042", "toagency": "amhp"`, "/toagency: s136.detained is not addressed", events.ErrInvalid},
		{"addressed to itself", offered, `"source": "police"`, `"source": "amhp"`, "/toagency: an agency cannot hand off to itself", events.ErrInvalid},
		{"offered to another", offered, `"to": "amhp"`, `"to": "spoa"`, "/data/to: spoa differs from toagency amhp", events.ErrInvalid},
		{"NHS number check digit", person, `"9434765919"`, `"9434765910"`, "fails the NHS number check digit", events.ErrInvalid},
		{"duplicate key", detained, `"consulted": true`, `"consulted": true, "consulted": false`, `/data/consulted: duplicate key "consulted"`, events.ErrInvalid},
		{"duplicate escaped key", detained, `"consulted": true`, `"consulted": true, "c\u006fnsulted": false`, `/data/consulted: duplicate key "consulted"`, events.ErrInvalid},
		{"lone surrogate", detained, `"actor": "staff-1042"`, `"actor": "staff-\udc00"`, `/actor: lone surrogate`, events.ErrInvalid},
		{"not UTF-8", detained, `"actor": "staff-1042"`, "\"actor\": \"staff-\xfe\"", `not valid UTF-8`, events.ErrInvalid},
		{"not JSON", detained, `"consulted": true`, `"consulted": tru`, `not valid JSON`, events.ErrInvalid},
		{"trailing value", detained, "}\n}", "}\n}]", `not valid JSON`, events.ErrInvalid},
	} {
		if !strings.Contains(c.doc, c.from) {
			t.Fatalf("%s: the example has no %s", c.rule, c.from)
		}
		_, err := events.Parse([]byte(strings.Replace(c.doc, c.from, c.to, 1)))
		if err == nil || !errors.Is(err, c.sentinel) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v, want a refusal saying %q", c.rule, err, c.says)
		}
	}
}

// Arbitrary bytes: whatever the quick path accepts, the schemas accept,
// and it reads the event as encoding/json does.
func FuzzQuickAgreesWithTheSchemas(f *testing.F) {
	for _, dir := range []string{"../schemas/testdata/valid", "../schemas/testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, p := range files {
			raw, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw)
		}
	}
	reg := registry(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !quickVerdict(reg, raw) {
			return
		}
		if err := generalVerdict(reg, raw); err != nil {
			t.Fatalf("the quick path accepts what the schemas refuse: %v", err)
		}
		got, err := events.Parse(raw)
		if err != nil {
			return
		}
		var want events.Event
		if err := json.Unmarshal(raw, &want); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("read as %+v, encoding/json reads %+v (%v)", got, want, err)
		}
	})
}
