package system

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/micro"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/services/rpc"
)

const schemasDir = "../../schemas"

// The command schemas integrators read are the ones generated from the Go
// types the services decode: a Go type changed without regenerating fails
// here.
func TestCommandSchemasAreUpToDate(t *testing.T) {
	want, err := CommandSchemas()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(schemasDir, events.CommandsDir)
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var got []string
	for _, f := range files {
		got = append(got, filepath.Base(f))
		raw, _ := os.ReadFile(f)
		if w, ok := want[filepath.Base(f)]; !ok {
			t.Errorf("schemas/commands/%s describes no command's request or reply", filepath.Base(f))
		} else if !bytes.Equal(raw, w) {
			t.Errorf("schemas/commands/%s is stale", filepath.Base(f))
		}
	}
	for name := range want {
		if !slices.Contains(got, name) {
			t.Errorf("schemas/commands/%s is missing", name)
		}
	}
	if t.Failed() {
		t.Log("regenerate: go run ./cmd/crisisbus schema commands schemas/commands")
	}
}

// standardValidator compiles the published schemas as an integrator's
// standard JSON Schema 2020-12 validator would: only the files, "format"
// an annotation.
func standardValidator(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	var files []string
	for _, g := range []string{"cloudevent.json", "v1/*.json", events.CommandsDir + "/*.json"} {
		m, _ := filepath.Glob(filepath.Join(schemasDir, g))
		files = append(files, m...)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		rel, _ := filepath.Rel(schemasDir, f)
		if err := c.AddResource("https://crisisbus.local/schemas/"+filepath.ToSlash(rel), doc); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func commandSchema(t *testing.T, c *jsonschema.Compiler, typ reflect.Type) *jsonschema.Schema {
	t.Helper()
	s, err := c.Compile("https://crisisbus.local/schemas/" + events.CommandsDir + "/" + events.SchemaName(typ) + ".json")
	if err != nil {
		t.Fatalf("%s: %v", events.SchemaName(typ), err)
	}
	return s
}

// example makes a value the schema s describes, every optional property
// included, as an integrator reading only the schema would write it.
func example(s *jsonschema.Schema, name string) any {
	if s.Ref != nil {
		if s.Minimum != nil { // the request asks more than what it refers to
			return json.Number(new(big.Int).Quo(s.Minimum.Num(), s.Minimum.Denom()).String())
		}
		return example(s.Ref, name)
	}
	switch {
	case s.Const != nil:
		return *s.Const
	case s.Enum != nil:
		return s.Enum.Values[0]
	case s.Types == nil && s.Properties == nil && len(s.AnyOf) > 0:
		return example(s.AnyOf[0], name)
	case s.Types == nil && s.Properties == nil:
		return "any " + name
	}
	typ := "object"
	if s.Types != nil {
		typ = s.Types.ToStrings()[0]
	}
	switch typ {
	case "object":
		m := map[string]any{}
		for p, ps := range s.Properties {
			m[p] = example(ps, p)
		}
		return m
	case "array":
		return []any{example(s.Items2020, name)}
	case "integer", "number":
		if s.Minimum != nil {
			return json.Number(new(big.Int).Quo(s.Minimum.Num(), s.Minimum.Denom()).String())
		}
		return json.Number("1")
	case "boolean":
		return true
	}
	pattern := ""
	if s.Pattern != nil {
		pattern = s.Pattern.String()
	}
	switch {
	case s.Format != nil && s.Format.Name == "date-time", pattern == events.PlausibleTime:
		return time.Now().UTC().Format(time.RFC3339)
	case s.Format != nil && s.Format.Name == "date":
		return "1990-04-01"
	case pattern == `^[0-9]{10}$`:
		return "9434765919" // the NHS's published example, with its check digit
	case pattern != "":
		return uuid.NewString() // an id or a UUID
	}
	v := "example " + name
	if s.MaxLength != nil && len(v) > *s.MaxLength {
		v = v[:*s.MaxLength]
	}
	return v
}

// eventFields are the properties of a request that are the data of an
// event it embeds: the event's schema says which are required, and the
// service checks them when it publishes the event, not as it decodes.
func eventFields(t reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.Anonymous {
			continue
		}
		if _, err := events.SpecOf(reflect.New(f.Type).Interface()); err == nil {
			for j := range f.Type.NumField() {
				name, _, _ := strings.Cut(f.Type.Field(j).Tag.Get("json"), ",")
				out[name] = true
			}
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			maps.Copy(out, eventFields(f.Type))
		}
	}
	return out
}

func validates(t *testing.T, s *jsonschema.Schema, v any) error {
	t.Helper()
	raw, _ := json.Marshal(v)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

func without(m map[string]any, key string) map[string]any {
	out := maps.Clone(m)
	delete(out, key)
	return out
}

// An integrator who writes a request from its published schema alone, with
// a standard validator, sends what the service decodes: an example with
// every property the schema names is accepted by both; a property the
// schema does not name is refused by both; and a property is required by
// the schema exactly when the service refuses the request without it (for
// the data of an event a request carries, when the event's schema requires
// it: the service refuses it as it publishes).
func TestARequestWrittenFromItsSchemaIsWhatTheServiceDecodes(t *testing.T) {
	c := standardValidator(t)
	seen := map[reflect.Type]bool{}
	for _, cmd := range commands() {
		if seen[cmd.Request] {
			continue
		}
		seen[cmd.Request] = true
		name := events.SchemaName(cmd.Request)
		s := commandSchema(t, c, cmd.Request)
		ex, ok := example(s, "").(map[string]any)
		if !ok {
			t.Fatalf("%s: the schema is not of an object", name)
		}
		body, _ := json.Marshal(ex)
		if err := cmd.Decode(body); err != nil {
			t.Errorf("%s: the service refuses a request written from the schema: %v\n%s", name, err, body)
			continue
		}
		if err := validates(t, s, ex); err != nil {
			t.Errorf("%s: the schema refuses its own example: %v", name, err)
			continue
		}
		odd := maps.Clone(ex)
		odd["unknownField"] = "x"
		body, _ = json.Marshal(odd)
		if err := cmd.Decode(body); err == nil || !strings.Contains(err.Error(), `unknown field "unknownField"`) {
			t.Errorf("%s: the service does not refuse an unknown field: %v", name, err)
		}
		if validates(t, s, odd) == nil {
			t.Errorf("%s: the schema accepts an unknown field", name)
		}
		fromEvent := eventFields(cmd.Request)
		for _, p := range slices.Sorted(maps.Keys(ex)) {
			required := slices.Contains(s.Required, p)
			less := without(ex, p)
			if (validates(t, s, less) != nil) != required {
				t.Errorf("%s: the schema says %s required %v, yet does not hold to it", name, p, required)
			}
			body, _ := json.Marshal(less)
			refused := cmd.Decode(body) != nil
			switch {
			case fromEvent[p]:
				// The event's own schema is the rule: the request's schema
				// refers to it for the property and its being required.
			case required && !refused:
				t.Errorf("%s: the schema requires %s, yet the service accepts a request without it", name, p)
			case !required && refused:
				t.Errorf("%s: the schema says %s is optional, yet the service refuses a request without it", name, p)
			}
		}
	}
	if len(seen) < 30 {
		t.Fatalf("only %d request types", len(seen))
	}
}

// The two traps integrators fell into: a worklist request carries no
// actor (the viewer is who reads it), and an s136 extension carries no
// extendedAt (the service stamps it). Both the schema and the service
// refuse them, naming the field.
func TestTheSchemasAnswerTheIntegratorsTraps(t *testing.T) {
	c := standardValidator(t)
	byName := map[string]rpc.Command{}
	for _, cmd := range commands() {
		byName[cmd.Subject] = cmd
	}
	for _, trap := range []struct{ subject, field string }{
		{"crisisbus.record.police.worklist", "actor"},
		{"crisisbus.amhp.s136.extend", "extendedAt"},
	} {
		cmd, ok := byName[trap.subject]
		if !ok {
			t.Fatalf("no command %s", trap.subject)
		}
		s := commandSchema(t, c, cmd.Request)
		ex := example(s, "").(map[string]any)
		if _, named := s.Properties[trap.field]; named {
			t.Errorf("%s: the schema names %s", trap.subject, trap.field)
		}
		ex[trap.field] = time.Now().UTC().Format(time.RFC3339)
		if err := validates(t, s, ex); err == nil || !strings.Contains(err.Error(), trap.field) {
			t.Errorf("%s with %s: the schema says %v", trap.subject, trap.field, err)
		}
		body, _ := json.Marshal(ex)
		if err := cmd.Decode(body); err == nil || !strings.Contains(err.Error(), `unknown field "`+trap.field+`"`) {
			t.Errorf("%s with %s: the service says %v", trap.subject, trap.field, err)
		}
	}
}

// asyncAPIDocument reads schemas/asyncapi.yaml as JSON values.
func asyncAPIDocument(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(schemasDir, "asyncapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("schemas/asyncapi.yaml: %v", err)
	}
	j, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return v.(map[string]any)
}

// pointer resolves a local JSON pointer ("#/channels/x/messages/y") in doc.
func pointer(doc any, ref string) (any, bool) {
	cur := doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// refs calls f with every $ref in v.
func refs(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && k == "$ref" {
				f(s)
			}
			refs(e, f)
		}
	case []any:
		for _, e := range v {
			refs(e, f)
		}
	}
}

// The AsyncAPI document is AsyncAPI 3.0.0 by the official JSON Schema
// (vendored from @asyncapi/specs), every $ref in it resolves (in the
// document, or to a published schema file), and it names every command
// the running services answer, with the request and reply the service
// decodes and sends, and nothing they do not answer.
func TestTheAsyncAPIDocumentIsAsyncAPI3AndNamesEveryCommandServed(t *testing.T) {
	doc := asyncAPIDocument(t)

	c := jsonschema.NewCompiler()
	raw, err := os.ReadFile("testdata/asyncapi/3.0.0.json")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	const specID = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
	if err := c.AddResource(specID, spec); err != nil {
		t.Fatal(err)
	}
	asyncapi, err := c.Compile(specID)
	if err != nil {
		t.Fatal(err)
	}
	if err := asyncapi.Validate(any(doc)); err != nil {
		t.Fatalf("schemas/asyncapi.yaml is not AsyncAPI 3.0.0: %v", err)
	}

	refs(doc, func(ref string) {
		if strings.HasPrefix(ref, "#/") {
			if _, ok := pointer(doc, ref); !ok {
				t.Errorf("$ref %s does not resolve in the document", ref)
			}
			return
		}
		file, _, _ := strings.Cut(ref, "#")
		if _, err := os.Stat(filepath.Join(schemasDir, file)); err != nil {
			t.Errorf("$ref %s: %v", ref, err)
		}
	})

	// Every channel address, its {agency} parameter expanded, with the
	// schemas of its request and reply.
	type described struct{ request, reply string }
	documented := map[string]described{}
	schemaOf := func(ref string) string {
		m, ok := pointer(doc, ref)
		if !ok {
			return ""
		}
		s, _ := pointer(m, "#/payload/schema/$ref")
		str, _ := s.(string)
		return strings.TrimSuffix(strings.TrimPrefix(str, events.CommandsDir+"/"), ".json")
	}
	for id, ch := range doc["channels"].(map[string]any) {
		addr, _ := ch.(map[string]any)["address"].(string)
		if !strings.HasPrefix(addr, "crisisbus.") {
			continue
		}
		req, _ := pointer(ch, "#/messages/request/$ref")
		reply, _ := pointer(doc, "#/channels/"+id+".reply/messages/reply/$ref")
		refStr := func(v any) string { s, _ := v.(string); return s }
		d := described{schemaOf(refStr(req)), schemaOf(refStr(reply))}
		agencies := []any{""}
		if enum, ok := pointer(ch, "#/parameters/agency/enum"); ok {
			agencies = enum.([]any)
		}
		for _, a := range agencies {
			documented[strings.ReplaceAll(addr, "{agency}", a.(string))] = d
		}
	}

	sys, err := Start(t.Context(), Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	admin, err := sys.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	declared := map[string]described{}
	for _, cmd := range Commands() {
		declared[cmd.Subject] = described{events.SchemaName(cmd.Request), events.SchemaName(cmd.Response)}
	}
	served := map[string]bool{}
	services := []string{"crisisbus-record"}
	for _, a := range events.Agencies {
		services = append(services, "crisisbus-"+string(a))
	}
	for _, name := range services {
		m, err := admin.Conn().RequestWithContext(t.Context(), "$SRV.INFO."+name, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var info micro.Info
		if err := json.Unmarshal(m.Data, &info); err != nil {
			t.Fatal(err)
		}
		for _, e := range info.Endpoints {
			served[e.Subject] = true
			d, ok := documented[e.Subject]
			switch {
			case !ok:
				t.Errorf("%s answers %s, which the AsyncAPI document does not name", name, e.Subject)
			case d != declared[e.Subject]:
				t.Errorf("%s: the document says request %s, reply %s; the service decodes %s and replies %s",
					e.Subject, d.request, d.reply, declared[e.Subject].request, declared[e.Subject].reply)
			}
		}
	}
	for subject := range documented {
		if !served[subject] {
			t.Errorf("the AsyncAPI document names %s, which no service answers", subject)
		}
	}
	if len(served) < 90 {
		t.Errorf("only %d commands served", len(served))
	}
	t.Logf("%d commands served, each named in the AsyncAPI document", len(served))
}

// What the running services answer matches the reply schemas an
// integrator reads: an episode opened, identified and offered to SPoA by
// police, then the record's worklist, view, state, disclosures and
// matches of it, each reply checked by a standard validator against the
// schema of its command's reply.
func TestTheRunningServicesRepliesMatchTheirSchemas(t *testing.T) {
	c := standardValidator(t)
	reply := map[string]*jsonschema.Schema{}
	for _, cmd := range commands() {
		reply[cmd.Subject] = commandSchema(t, c, cmd.Response)
	}
	sys, err := Start(t.Context(), Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	admin, err := sys.Connect("")
	if err != nil {
		t.Fatal(err)
	}
	call := func(subject string, req map[string]any) map[string]any {
		t.Helper()
		raw, err := rpc.Call[map[string]any, json.RawMessage](t.Context(), admin.Conn(), subject, req)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		if err := reply[subject].Validate(inst); err != nil {
			t.Errorf("%s: the reply does not match its schema: %v\n%s", subject, err, raw)
		}
		m, _ := inst.(map[string]any)
		return m
	}
	opened := call("crisisbus.police.open", map[string]any{"actor": "PC 4417 Hale", "channel": "999",
		"summary": "Man on the bridge parapet, says he wants to end it"})
	ep, _ := opened["episode"].(string)
	call("crisisbus.police.identify", map[string]any{"episode": ep, "actor": "PC 4417 Hale", "givenName": "Dan", "familyName": "Mercer"})
	call("crisisbus.police.handoff.offer", map[string]any{"episode": ep, "actor": "PC 4417 Hale", "kind": "spoa_referral", "to": "spoa",
		"reason": "urgent mental health assessment", "urgency": "urgent"})
	call("crisisbus.record.police.state", map[string]any{"episode": ep, "actor": "PC 4417 Hale"})
	call("crisisbus.record.police.view", map[string]any{"episode": ep, "viewer": "PC 4417 Hale", "purpose": "direct care: the detention decision"})
	var worklist map[string]any
	bustest.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		worklist = call("crisisbus.record.spoa.worklist", map[string]any{"viewer": "SPoA clinician Lee", "purpose": "direct care: choosing what to work on"})
		if items, _ := worklist["items"].([]any); len(items) == 0 {
			return errors.New("the offer is not on SPoA's worklist yet")
		}
		return nil
	})
	call("crisisbus.record.disclosures", map[string]any{"episode": ep})
	call("crisisbus.record.match", map[string]any{"episode": ep})
}
