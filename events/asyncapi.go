package events

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"
)

// Consumer is a service that consumes events from the stream, and which:
// the services declare it from the filters they consume with
// (internal/system.Consumers), so the AsyncAPI document says who really
// consumes each event.
type Consumer struct {
	Name     string
	Consumes func(Spec) bool
}

// subscribers names the consumers of events of spec.
func subscribers(s Spec, consumers []Consumer) []string {
	var subs []string
	for _, c := range consumers {
		if c.Consumes(s) {
			subs = append(subs, c.Name)
		}
	}
	return subs
}

var asyncAPITemplate = template.Must(template.New("asyncapi").Funcs(template.FuncMap{
	"quote": func(s string) string { return fmt.Sprintf("%q", s) },
	"join":  strings.Join,
}).Parse(`# The crisisbus contract for integrators: every subject, message, publisher
# and subscriber. Generated from the catalogue (events/) and checked by
# events/catalogue_test.go; regenerate with:
#   go run ./cmd/crisisbus schema asyncapi > schemas/asyncapi.yaml
asyncapi: 3.0.0
info:
  title: crisisbus
  version: 1.0.0
  description: |
    Multi-agency crisis coordination for Kent and Medway. Every message is a
    CloudEvents 1.0 JSON event (schemas/cloudevent.json) whose data matches
    the schema of its type (schemas/v1/). Subjects are
    crisis.<agency>.<episode>.<type>[.<to-agency>]: the publishing agency is a
    subject token, so the server's per-agency permissions enforce authorship.
    The event id is also the Nats-Msg-Id header; publish with it so a repeat
    is dropped, and wait for the JetStream acknowledgement (stored on disk).
defaultContentType: application/cloudevents+json
servers:
  embedded:
    host: 127.0.0.1:4222
    protocol: nats
    description: crisisbus up (embedded NATS with JetStream); one user per agency.
channels:
{{- range .}}
  {{.Token}}:
    address: {{if .Addressed}}crisis.{agency}.{episode}.{{.Token}}.{toAgency}{{else}}crisis.{agency}.{episode}.{{.Token}}{{end}}
    title: {{quote .Type}}
    parameters:
      agency:
        enum: [{{join .Pubs ", "}}]
        description: The publishing agency (the CloudEvents source).
      episode:
        description: The episode id (the CloudEvents subject).
{{- if .Addressed}}
      toAgency:
        enum: [police, ambulance, spoa, amhp, crisisline]
        description: The agency the event is addressed to (toagency).
{{- end}}
    messages:
      {{.Token}}:
        $ref: '#/components/messages/{{.Token}}'
{{- end}}
operations:
{{- range .}}
  publish_{{.Token}}:
    action: send
    channel:
      $ref: '#/channels/{{.Token}}'
    summary: {{quote (printf "Published by %s." (join .Pubs ", "))}}
  receive_{{.Token}}:
    action: receive
    channel:
      $ref: '#/channels/{{.Token}}'
    summary: {{quote (printf "Consumed by %s." (join .Subs "; "))}}
{{- end}}
components:
  messages:
{{- range .}}
    {{.Token}}:
      name: {{quote .Type}}
      title: {{quote .Name}}
      summary: {{quote .Doc}}
      contentType: application/cloudevents+json
      payload:
        schemaFormat: application/schema+json;version=draft-2020-12
        schema:
          allOf:
            - $ref: 'cloudevent.json'
            - properties:
                type:
                  const: {{quote .Type}}
                data:
                  $ref: '{{.Version}}/{{.Name}}.json'
{{- end}}
`))

// AsyncAPI renders the AsyncAPI 3.0 document of the catalogue; doc gives
// each type's description (from its schema), consumers who consumes it.
func AsyncAPI(doc func(Spec) string, consumers []Consumer) ([]byte, error) {
	type row struct {
		Spec
		Type, Token, Versioned, Doc string
		Pubs, Subs                  []string
	}
	var rows []row
	for _, s := range Catalogue() {
		r := row{Spec: s, Type: s.Type(), Token: s.Token(), Versioned: s.Versioned(), Doc: doc(s), Subs: subscribers(s, consumers)}
		for _, p := range s.Publishers {
			r.Pubs = append(r.Pubs, string(p))
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a.Token, b.Token) })
	var buf bytes.Buffer
	if err := asyncAPITemplate.Execute(&buf, rows); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
