package events

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/crisisbus/crisisbus/schemas"
)

// TypePrefix starts every event type; the version ends it.
const TypePrefix = "crisisbus."

// Spec describes one event type of the catalogue.
type Spec struct {
	Name       string     // "s136.detained"
	Version    string     // "v1"
	Data       func() any // a new pointer to the Go type of data
	Publishers []Agency   // who may publish it
	Addressed  bool       // whether it is addressed to an agency (toagency, last subject token)
}

// Type is the CloudEvents type, e.g. "crisisbus.s136.detained.v1".
func (s Spec) Type() string { return TypePrefix + s.Name + "." + s.Version }

// Versioned is the name with its version, e.g. "s136.detained.v1".
func (s Spec) Versioned() string { return s.Name + "." + s.Version }

// Token is the event type as one subject token, e.g. "s136_detained_v1".
func (s Spec) Token() string { return strings.ReplaceAll(s.Versioned(), ".", "_") }

// MayPublish reports whether agency a may publish this type.
func (s Spec) MayPublish(a Agency) bool { return slices.Contains(s.Publishers, a) }

var (
	byType   = map[string]Spec{}
	byGoType = map[reflect.Type]Spec{}
	// tokenOf is each type's subject token, made once: Subject is asked
	// for every event published, imported or read back.
	tokenOf = map[string]string{}
	// versionedOf and dataSchemaOf are each type's data schema name and
	// URL, made once for the same reason: Parse reads them for every event.
	versionedOf  = map[string]string{}
	dataSchemaOf = map[string]string{}
)

func init() {
	for i := range catalogue {
		if catalogue[i].Version == "" {
			catalogue[i].Version = "v1"
		}
		s := catalogue[i]
		byType[s.Type()] = s
		tokenOf[s.Type()] = s.Token()
		versionedOf[s.Type()] = s.Versioned()
		dataSchemaOf[s.Type()] = schemas.DataSchemaURL(s.Name, s.Version)
		byGoType[reflect.TypeOf(s.Data()).Elem()] = s
	}
}

// Catalogue returns every event type, in catalogue order.
func Catalogue() []Spec { return slices.Clone(catalogue) }

// Lookup returns the spec of a CloudEvents type.
func Lookup(eventType string) (Spec, bool) {
	s, ok := byType[eventType]
	return s, ok
}

// SpecOf returns the spec whose Go data type is that of data (a value or pointer).
func SpecOf(data any) (Spec, error) {
	t := reflect.TypeOf(data)
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s, ok := byGoType[t]
	if !ok {
		return Spec{}, fmt.Errorf("%T is not event data of the catalogue", data)
	}
	return s, nil
}
