package console

import (
	"fmt"
	"strings"

	"github.com/crisisbus/crisisbus/events"
)

// formField is what the "field" template renders: a labelled input with its
// hint and, when the last submit failed, its inline error.
type formField struct {
	ID, Name, Label, Hint, Type, Value, Error, Autocomplete, Width, Rows string
	Options                                                              []option
}

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
func (p page) Field(action, name, label, typ, hint string) formField {
	f := formField{ID: action + "-" + name, Name: name, Label: label, Type: typ, Hint: hint}
	if p.Action == action {
		f.Value = p.Form.Get(name)
		f.Error = p.ErrorFor(f.ID)
	}
	return f
}

// Select is a select field; each option is "value|Label".
func (p page) Select(action, name, label, hint string, opts ...string) formField {
	f := p.Field(action, name, label, "select", hint)
	for _, o := range opts {
		v, l, ok := strings.Cut(o, "|")
		if !ok {
			l = strings.ReplaceAll(v, "_", " ")
		}
		f.Options = append(f.Options, option{Value: v, Label: l})
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

// Choice is a select field whose options are built by the page, with the
// value it holds until the form is posted.
func (p page) Choice(action, name, label, hint, byDefault string, opts []option) formField {
	f := p.Field(action, name, label, "select", hint)
	f.Options = opts
	if p.Action != action {
		f.Value = byDefault
	}
	return f
}
