package system

import (
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/clock"
	"github.com/crisisbus/crisisbus/services/reports"
)

// Consumers lists who consumes which events, from the filters each service
// consumes with: the AsyncAPI document's "consumed by" (a test fails when
// schemas/asyncapi.yaml and this differ).
func Consumers() []events.Consumer {
	every := func(events.Spec) bool { return true }
	return []events.Consumer{
		{Name: "record (episode record: every event)", Consumes: every},
		{Name: "audit-log (the operator's log: every event)", Consumes: every},
		{Name: "the agency named in toagency (its inbox: crisis.*.*.*.<agency>)", Consumes: func(s events.Spec) bool { return s.Addressed }},
		{Name: "clock (legal and handoff clocks)", Consumes: clock.Consumes},
		{Name: "reports (the partnership's tables)", Consumes: reports.Counts},
		{Name: "console (live updates of the pages people have open: every event)", Consumes: every},
	}
}
