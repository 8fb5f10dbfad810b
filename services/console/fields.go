package console

import "fmt"

// formField is what the "field" template renders: a labelled input with its
// hint and, when the last submit failed, its inline error.
type formField struct {
	Name, Label, Hint, Type, Value, Error, Autocomplete, Width, Rows string
	Options                                                          []option
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
