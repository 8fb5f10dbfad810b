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
# and subscriber, and every command with its request and reply. Generated
# from the catalogue (events/) and the commands the services serve
# (internal/system.Commands), and checked by events/catalogue_test.go;
# regenerate with:
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

    People act through commands: NATS request-reply on
    crisisbus.<agency>.<command> (and the record's queries on
    crisisbus.record.<command>), a JSON body whose schema is under
    schemas/commands/ (generated from the Go type the service decodes;
    unknown fields are refused), answered with the reply's JSON or with a
    refusal: the headers Nats-Service-Error-Code and Nats-Service-Error and
    an empty body. Set your client's inbox prefix to _INBOX_<user>: each
    user may receive replies only there.

    One episode is one trace (W3C Trace Context, in every event's
    traceparent and tracestate: the CloudEvents distributed-tracing
    extension). The command that opens an episode starts its trace, or
    continues the caller's when the request carries a traceparent header;
    every later command on the episode continues the episode's trace with a
    span of its own, which is the parent of each event it stores and comes
    back in the reply's traceresponse header. A malformed traceparent header
    is refused (400).
defaultContentType: application/cloudevents+json
servers:
  embedded:
    host: 127.0.0.1:4222
    protocol: nats
    description: crisisbus up (embedded NATS with JetStream); one user per agency.
channels:
{{- range .Events}}
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
        enum: [{{join $.Agencies ", "}}]
        description: The agency the event is addressed to (toagency).
{{- end}}
    messages:
      {{.Token}}:
        $ref: '#/components/messages/{{.Token}}'
{{- end}}
{{- range .Commands}}
  {{.ID}}:
    address: {{.Address}}
    title: {{quote .Title}}
{{- if .Agencies}}
    parameters:
      agency:
        enum: [{{join .Agencies ", "}}]
        description: The agency whose command it is (each serves its own, as its own NATS user).
{{- end}}
    messages:
      request:
        $ref: '#/components/messages/{{.Request}}'
  {{.ID}}.reply:
    address: null
    description: The requester's reply subject (its own inbox, _INBOX_<user>.>).
    messages:
      reply:
        $ref: '#/components/messages/{{.Response}}'
      refusal:
        $ref: '#/components/messages/refusal'
{{- end}}
operations:
{{- range .Events}}
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
{{- range .Commands}}
  {{.ID}}:
    action: receive
    channel:
      $ref: '#/channels/{{.ID}}'
    title: {{quote .Title}}
    summary: {{quote .Summary}}
    messages:
      - $ref: '#/channels/{{.ID}}/messages/request'
    reply:
      channel:
        $ref: '#/channels/{{.ID}}.reply'
      messages:
        - $ref: '#/channels/{{.ID}}.reply/messages/reply'
        - $ref: '#/channels/{{.ID}}.reply/messages/refusal'
{{- end}}
components:
  messages:
{{- range .Events}}
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
{{- range .Schemas}}
    {{.}}:
      name: {{quote .}}
      title: {{quote .}}
      contentType: application/json
      headers:
        type: object
        properties:
          traceparent:
            type: string
            pattern: {{quote $.TraceParent}}
            description: On a request, the caller's W3C trace context; the command continues its trace (or, on an episode that has one, the episode's).
          tracestate:
            type: string
            description: On a request, the caller's W3C tracestate, carried into the events stored.
          traceresponse:
            type: string
            pattern: {{quote $.TraceParent}}
            description: On a reply, the span that handled the command, the parent of every event it stored.
      payload:
        schemaFormat: application/schema+json;version=draft-2020-12
        schema:
          $ref: '{{$.CommandsDir}}/{{.}}.json'
{{- end}}
    refusal:
      name: refusal
      title: A refused command
      summary: {{quote "The command was refused and nothing was stored: the headers say why, the body is empty."}}
      headers:
        type: object
        required: [Nats-Service-Error-Code, Nats-Service-Error]
        properties:
          Nats-Service-Error-Code:
            type: string
            enum: [{{range $i, $r := .Refusals}}{{if $i}}, {{end}}"{{$r.Code}}"{{end}}]
            description: {{quote .RefusalCodes}}
          Nats-Service-Error:
            type: string
            description: What was wrong, in a sentence (the field and the limit, the section of the Act, the state of the episode).
          traceresponse:
            type: string
            pattern: {{quote .TraceParent}}
            description: The span that handled the command, when it got as far as reading the episode.
      payload:
        type: string
        maxLength: 0
`))

// RefusalCode is one code a command is refused with (in the header
// Nats-Service-Error-Code), and what it means.
type RefusalCode struct {
	Code    int
	Meaning string
}

// commandChannel is one channel of commands: the same command of every
// agency that serves it (an {agency} parameter), or one service's.
type commandChannel struct {
	ID, Address, Title, Summary string
	Agencies                    []string
	Request, Response           string
}

// commandChannels groups commands into channels: a command served for
// several agencies with the same request and reply types is one channel
// with an {agency} parameter; any other is a channel of its own.
func commandChannels(commands []Command) []commandChannel {
	pattern := func(c Command) string {
		if c.Agency == "" {
			return c.Subject
		}
		toks := strings.Split(c.Subject, ".")
		for i, t := range toks {
			if t == string(c.Agency) {
				toks[i] = "{agency}"
				break
			}
		}
		return strings.Join(toks, ".")
	}
	byPattern := map[string][]Command{}
	var order []string
	for _, c := range commands {
		p := pattern(c)
		if _, ok := byPattern[p]; !ok {
			order = append(order, p)
		}
		byPattern[p] = append(byPattern[p], c)
	}
	var out []commandChannel
	add := func(address string, cs []Command) {
		c := cs[0]
		ch := commandChannel{ID: strings.ReplaceAll(address, "{agency}", "agency"), Address: address,
			Request: SchemaName(c.Request), Response: SchemaName(c.Response)}
		service := "crisisbus-" + strings.Split(address, ".")[1]
		if strings.Contains(address, "{agency}") {
			for _, c := range cs {
				ch.Agencies = append(ch.Agencies, string(c.Agency))
			}
			ch.Title = strings.ReplaceAll(address, "{agency}", "<agency>")
			service = strings.ReplaceAll(service, "{agency}", "<agency>") + " for " + strings.Join(ch.Agencies, ", ")
		} else {
			ch.Title = address
		}
		ch.Summary = fmt.Sprintf("Request-reply, answered by %s: the request is %s (schemas/%s/%s.json; unknown fields are refused), the reply %s, or a refusal (headers Nats-Service-Error-Code and Nats-Service-Error, empty body) when nothing was stored.",
			service, ch.Request, CommandsDir, ch.Request, ch.Response)
		out = append(out, ch)
	}
	for _, p := range order {
		cs := byPattern[p]
		same := true
		for _, c := range cs[1:] {
			same = same && c.Request == cs[0].Request && c.Response == cs[0].Response
		}
		if same && len(cs) > 1 {
			add(p, cs)
			continue
		}
		for _, c := range cs {
			add(c.Subject, []Command{{Subject: c.Subject, Request: c.Request, Response: c.Response}})
		}
	}
	slices.SortFunc(out, func(a, b commandChannel) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// AsyncAPI renders the AsyncAPI 3.0 document of the contract: the
// catalogue's events, doc giving each type's description (from its
// schema) and consumers who consumes it; and the commands the services
// answer, with their request and reply schemas (schemas/commands/) and the
// refusals they may answer with.
func AsyncAPI(doc func(Spec) string, consumers []Consumer, commands []Command, refusals []RefusalCode) ([]byte, error) {
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
	var agencies []string
	for _, a := range Agencies {
		agencies = append(agencies, string(a))
	}
	chans := commandChannels(commands)
	var schemaNames []string
	for _, c := range chans {
		schemaNames = append(schemaNames, c.Request, c.Response)
	}
	slices.Sort(schemaNames)
	var codes []string
	for _, r := range refusals {
		codes = append(codes, fmt.Sprintf("%d %s", r.Code, r.Meaning))
	}
	data := struct {
		Events                    []row
		Commands                  []commandChannel
		Schemas                   []string
		Agencies                  []string
		Refusals                  []RefusalCode
		RefusalCodes, CommandsDir string
		TraceParent               string
	}{rows, chans, slices.Compact(schemaNames), agencies, refusals, strings.Join(codes, "; ") + ".", CommandsDir, TraceParentPattern}
	var buf bytes.Buffer
	if err := asyncAPITemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
