package events

import (
	"fmt"
	"slices"
)

// Agency is who publishes a fact: one of the five agencies on the crisis
// pathway, or one of crisisbus's own publishers (the clock and the episode
// record). It is the second token of every subject, so NATS permissions make
// authorship impossible to fake.
type Agency string

// The agencies of the Kent and Medway crisis pathway.
const (
	Police     Agency = "police"     // police force control room and its mental health worker
	Ambulance  Agency = "ambulance"  // ambulance service emergency operations centre (EOC)
	SPoA       Agency = "spoa"       // mental health trust's single point of access
	AMHP       Agency = "amhp"       // approved mental health professional service
	Crisisline Agency = "crisisline" // crisis line and 4-day follow-up helpline
	SafeHaven  Agency = "safehaven"  // the safe havens, run by a voluntary-sector provider
)

// crisisbus's own publishers.
const (
	Clock  Agency = "clock"  // legal and handoff clocks: warnings and breaches
	Record Agency = "record" // the episode record: disclosures (who saw what)
)

// AgencyInfo is what crisisbus knows of one agency. Each fact is written
// here once; the rest is generated from this table (the schemas' agency
// enums, the AsyncAPI document, the NATS users and their rights in
// broker/rights and deploy/cluster/users.conf) or derived from it as
// crisisbus runs (the catalogue's publishers of the shared facts, each
// agency's view of the record, the console's names, worklist titles and
// demo people). docs/how-to-add-an-agency.md says what else a new agency
// needs.
type AgencyInfo struct {
	ID    Agency
	Title string // the agency's name as its people say it
	Part  string // its part in the pathway, in a line
	// Pathway: one of the pathway's agencies, which open and hand on
	// episodes (not crisisbus's own clock and record).
	Pathway bool
	// Health: a health agency, whose view of the episode record holds the
	// clinical record and which may record clinical text (police do not).
	Health bool
	// Worklist is the title of its people's worklist in the console.
	Worklist string
	// Demo are made-up people of the embedded default (`crisisbus up` with
	// no users file), for trying crisisbus out, never for real people; each
	// signs in with the password "crisisbus-<agency>".
	Demo []DemoPerson
}

// DemoPerson is a made-up person of an agency, for trying crisisbus out.
// TrustStaff marks the mental health trust's staff working in another
// agency's room (the console's User.TrustStaff): the control-room mental
// health worker is; the call handler is not.
type DemoPerson struct {
	Username, Name, Role string
	TrustStaff           bool
}

// agencyTable is every agency, the pathway's first, in the order people
// meet them.
var agencyTable = []AgencyInfo{
	{ID: Police, Title: "Police control room", Pathway: true, Worklist: "Control room",
		Part: "triage requests and advice, Right Care Right Person, street triage, s136",
		Demo: []DemoPerson{{"police.handler", "Chris Morgan", "Control-room call handler", false}, {"police.mhw", "Alex Reid", "Control-room mental health worker", true}}},
	{ID: Ambulance, Title: "Ambulance EOC", Pathway: true, Health: true, Worklist: "EOC mental health",
		Part: "mental health call triage, conveyance or not",
		Demo: []DemoPerson{{"eoc.mhw", "Priya Shah", "EOC mental health worker", false}}},
	{ID: SPoA, Title: "Single point of access", Pathway: true, Health: true, Worklist: "Referrals inbox",
		Part: "referrals, triage advice, places of safety, routing (crisis team, liaison, CMHT, safe haven)",
		Demo: []DemoPerson{{"spoa.clinician", "Morgan Lee", "SPoA clinician", false}}},
	{ID: AMHP, Title: "AMHP service", Pathway: true, Health: true, Worklist: "Assessment queue",
		Part: "assessment requests, s12 doctor, delays, s136 extension, outcome, referral to follow-up",
		Demo: []DemoPerson{{"amhp.duty", "Jordan Taylor", "Duty AMHP", false}}},
	{ID: Crisisline, Title: "Crisis and follow-up helpline", Pathway: true, Health: true, Worklist: "Follow-up calls",
		Part: "4-day follow-up calls, escalation to SPoA",
		Demo: []DemoPerson{{"helpline.worker", "Sam Okafor", "Follow-up helpline worker", false}}},
	{ID: SafeHaven, Title: "Safe haven", Pathway: true, Worklist: "Safe haven tonight",
		Part: "walk-ins and referrals to the safe havens (Mental Health Matters): visits, support, handing on",
		Demo: []DemoPerson{{"haven.worker", "Robin Hale", "Safe haven support worker", false}}},
	{ID: Clock, Title: "crisisbus clocks", Part: "legal and handoff clocks: warnings and breaches"},
	{ID: Record, Title: "Episode record", Part: "the episode record: disclosures (who saw what)"},
}

// AgencyTable returns every agency's facts, the pathway's first.
func AgencyTable() []AgencyInfo {
	out := slices.Clone(agencyTable)
	for i := range out {
		out[i].Demo = slices.Clone(out[i].Demo)
	}
	return out
}

// Agencies lists the pathway agencies.
var Agencies = func() []Agency {
	var out []Agency
	for _, a := range agencyTable {
		if a.Pathway {
			out = append(out, a.ID)
		}
	}
	return out
}()

// Publishers lists everyone that may publish on the bus.
var Publishers = func() []Agency {
	var out []Agency
	for _, a := range agencyTable {
		out = append(out, a.ID)
	}
	return out
}()

// ParseAgency returns the agency named s, or an error naming the valid ones.
func ParseAgency(s string) (Agency, error) {
	for _, a := range Publishers {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown agency %q (want one of %v)", s, Publishers)
}

// Info returns what crisisbus knows of a (the zero AgencyInfo, with the ID,
// for an unknown agency).
func (a Agency) Info() AgencyInfo {
	for _, i := range agencyTable {
		if i.ID == a {
			return i
		}
	}
	return AgencyInfo{ID: a}
}

// Pathway reports whether a is one of the pathway agencies.
func (a Agency) Pathway() bool { return a.Info().Pathway }

// Health reports whether a is a health agency: its view holds the clinical
// record, and it may record clinical text.
func (a Agency) Health() bool { return a.Info().Health }

// Title is the agency's name as its people say it.
func (a Agency) Title() string {
	if t := a.Info().Title; t != "" {
		return t
	}
	return string(a)
}
