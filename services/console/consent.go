package console

import (
	"context"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
)

// The person's consent that the safe haven may see their clinical record,
// recorded by a health agency with a part in the episode (the haven itself
// has no such command). Its form is in web/agency_consent.html.
var consentActions = map[string]action{
	"consent": {
		agencies: healthAgencies(),
		required: [][2]string{{"decision", "Choose what the person says"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			decision := in.get("decision")
			err := call(ctx, c, in, in.agency, "consent.record", agency.ConsentRequest{Base: in.base(),
				ConsentRecorded: events.ConsentRecorded{To: events.SafeHaven, Decision: decision, Words: in.get("words")}})
			if decision == "withdrawn" {
				return in.episode, "Recorded: the safe haven no longer sees their clinical record.", err
			}
			return in.episode, "Recorded: the safe haven now sees their clinical record in this episode.", err
		},
	},
}

// healthAgencies are the agencies that hold the clinical record.
func healthAgencies() []events.Agency {
	var out []events.Agency
	for _, a := range events.Agencies {
		if episode.SeesClinical(a) {
			out = append(out, a)
		}
	}
	return out
}

func init() { addActions(consentActions) }
