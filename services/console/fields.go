package console

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crisisbus/crisisbus/events"
	"github.com/google/uuid"
)

// formField is what the "field" template renders: a labelled input with its
// hint and, when the last submit failed, its inline error.
type formField struct {
	ID, Name, Label, Hint, Type, Value, Error, Autocomplete, Width, Rows string
	Options                                                              []option
	// Values are the options ticked (checkboxes); Parts the day, month,
	// year and time typed (date and datetime, the NHS date input).
	Values []string
	Parts  map[string]string
	// Zones are asked for only when the datetime typed is in the hour the
	// clocks repeat: which of its two times, BST or GMT; Zone is the one
	// chosen (or typed after the time).
	Zones         []option
	Zone, ZoneAsk string
}

// RadiosUpTo is the most options a choice shows as radios, NHS.UK's
// pattern for a short choice; a longer one is a select.
const RadiosUpTo = 5

// Checked reports whether an option of a checkboxes field is ticked.
func (f formField) Checked(value string) bool { return slices.Contains(f.Values, value) }

type option struct{ Value, Label string }

// fieldArgs builds a formField from name/value pairs in a template:
// {{template "field" (dict "Name" "x" "Label" "X")}}.
func fieldArgs(kv ...any) (formField, error) {
	var f formField
	if len(kv)%2 != 0 {
		return f, fmt.Errorf("dict: odd number of arguments")
	}
	for i := 0; i < len(kv); i += 2 {
		k, _ := kv[i].(string)
		if k == "Options" {
			opts, ok := kv[i+1].([]option)
			if !ok {
				return f, fmt.Errorf("dict: Options must be options")
			}
			f.Options = opts
			continue
		}
		v, ok := kv[i+1].(string)
		if !ok {
			return f, fmt.Errorf("dict: %s must be a string, not %T", k, kv[i+1])
		}
		switch k {
		case "Name":
			f.Name = v
			if f.ID == "" {
				f.ID = v
			}
		case "ID":
			f.ID = v
		case "Label":
			f.Label = v
		case "Hint":
			f.Hint = v
		case "Type":
			f.Type = v
		case "Value":
			f.Value = v
		case "Error":
			f.Error = v
		case "Autocomplete":
			f.Autocomplete = v
		case "Width":
			f.Width = v
		case "Rows":
			f.Rows = v
		default:
			return f, fmt.Errorf("dict: unknown field attribute %q", k)
		}
	}
	return f, nil
}

// Field is a field of an action's form: its id is "<action>-<name>", and it
// carries back what was typed and its error when that form was just posted.
// Request is the id a form that opens an episode is sent with
// (agency.OpenRequest.Request): the one it was sent with when it is shown
// again with its errors, else a new one. So a form sent twice, or sent
// again after an error, opens one episode, not two.
func (p page) Request(action string) string {
	if r := p.Form.Get("request"); p.Action == action && events.CheckID("request", r) == nil {
		return r
	}
	return uuid.NewString()
}

func (p page) Field(action, name, label, typ, hint string) formField {
	f := formField{ID: action + "-" + name, Name: name, Label: label, Type: typ, Hint: hint}
	if p.Action == action {
		f.Value = p.Form.Get(name)
		f.Error = p.ErrorFor(f.ID)
		f.Values = p.Form[name]
		if typ == "date" || typ == "datetime" {
			f.Parts = map[string]string{}
			for _, part := range []string{"day", "month", "year", "time"} {
				f.Parts[part] = p.Form.Get(name + "-" + part)
			}
		}
		if typ == "datetime" {
			f.Zones, f.Zone, f.ZoneAsk = zoneChoice(input{form: p.Form, now: p.Now}, name)
		}
	}
	return f
}

// Checkboxes is a field of options of which any may be ticked; each
// option is "value|Label".
func (p page) Checkboxes(action, name, label, hint string, opts ...string) formField {
	f := p.Select(action, name, label, hint, opts...)
	f.Type = "checkboxes"
	return f
}

// Select is a choice of one option, each "value|Label": radios when there
// are at most RadiosUpTo options, a select otherwise.
func (p page) Select(action, name, label, hint string, opts ...string) formField {
	f := p.Field(action, name, label, "select", hint)
	for _, o := range opts {
		v, l, ok := strings.Cut(o, "|")
		if !ok {
			l = strings.ReplaceAll(v, "_", " ")
		}
		f.Options = append(f.Options, option{Value: v, Label: l})
	}
	if len(f.Options) <= RadiosUpTo {
		f.Type = "radios"
	}
	return f
}

// AgencySelect is a select field of the pathway's agencies, named as the
// agency table (events/agency.go) names them: a template that lists them
// with it needs no change when an agency joins.
func (p page) AgencySelect(action, name, label, hint string) formField {
	var opts []string
	for _, a := range events.Agencies {
		opts = append(opts, string(a)+"|"+a.Title())
	}
	return p.Select(action, name, label, hint, opts...)
}

// Checked reports whether a checkbox of the action's form was ticked (or,
// before any post, whether it is ticked by default).
func (p page) Checked(action, name string, byDefault bool) bool {
	if p.Action != action {
		return byDefault
	}
	return p.Form.Get(name) != ""
}

// Choice is a choice of one option built by the page (radios or a select,
// as Select), with the value it holds until the form is posted.
func (p page) Choice(action, name, label, hint, byDefault string, opts []option) formField {
	f := p.Field(action, name, label, "select", hint)
	f.Options = opts
	if len(opts) <= RadiosUpTo {
		f.Type = "radios"
	}
	if p.Action != action {
		f.Value = byDefault
	}
	return f
}

// NoteField is a field of the note's form holding the note's current value.
func (p page) NoteField(name, label, typ, hint, value string) formField {
	f := p.Field("note", name, label, typ, hint)
	f.Value = value
	return f
}

// NoteChoice is a choice of the note's form ("value|Label" options, or
// plain names) holding the note's current value.
func (p page) NoteChoice(name, label, value string, opts []string) formField {
	f := p.Select("note", name, label, "", opts...)
	f.Value = value
	return f
}

// zoneChoice is, for a datetime typed in the hour the clocks repeat, the
// choice of its two times, the one chosen and the question; nothing for
// any other.
func zoneChoice(in input, name string) (opts []option, chosen, ask string) {
	w, err := in.wall(name)
	if err != nil {
		return nil, "", ""
	}
	at := w.instants()
	if len(at) != 2 {
		return nil, "", ""
	}
	chosen = strings.ToUpper(in.get(name + "-zone"))
	if chosen == "" {
		chosen = w.zone
	}
	first, second := zoneOf(at[0]), zoneOf(at[1])
	return []option{
		{first, fmt.Sprintf("%s %s, the first: before the clocks went back", w.clock(), first)},
		{second, fmt.Sprintf("%s %s, the second: an hour later, after the clocks went back", w.clock(), second)},
	}, chosen, "Which " + w.clock() + "?"
}
