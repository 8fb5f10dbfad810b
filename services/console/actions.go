package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/law"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/ambulance"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/crisisline"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/crisisbus/crisisbus/services/spoa"
)

// An action is one thing a person does from a form: it checks what was
// typed, names every missing field, and sends one or more commands to the
// person's own agency service. The service has the last word: what the law
// or the episode's state forbids comes back as a refusal, shown on the form.
type action struct {
	// who may do it
	agencies []events.Agency
	// required fields and the message when one is empty, in form order
	required [][2]string
	// first is the field a refusal that names no field is shown against
	first string
	// clinical are the form's fields of clinical text, each with what it
	// is in words: a person of an agency that records none (police) sends
	// them only as the trust's staff (session.TrustStaff), and they go to
	// the trust's service (clinicalRecorder)
	clinical [][2]string
	// run sends the commands; it returns the episode id (new for an opening
	// action) and the words of the confirmation shown afterwards
	run func(ctx context.Context, c *Server, in input) (episode, done string, err error)
}

// addActions adds a group of actions (an agency's, a feature's) to the
// console's; a name defined twice is a programming error.
func addActions(group map[string]action) {
	for name, a := range group {
		if _, ok := actions[name]; ok {
			panic(fmt.Sprintf("console action %s is defined twice", name))
		}
		actions[name] = a
	}
}

// input is what an action runs with.
type input struct {
	form    url.Values
	episode string
	agency  events.Agency
	// trustStaff: the person is the trust's staff in agency's room
	// (session.TrustStaff), whose clinical text the trust records
	trustStaff bool
	actor      string
	now        time.Time
	// last is where call puts the id of the last event a command stored,
	// so the page shown next waits for it (?after=).
	last *string
}

func (in input) base() agency.Base      { return agency.Base{Episode: in.episode, Actor: in.actor} }
func (in input) get(name string) string { return strings.TrimSpace(in.form.Get(name)) }
func (in input) yes(name string) bool {
	v := in.get(name)
	return v == "yes" || v == "on" || v == "true"
}
func (in input) int(name string) int          { n, _ := strconv.Atoi(in.get(name)); return n }
func (in input) risk(name string) events.Risk { return events.Risk(in.get(name)) }

// when reads an NHS date input with a time (the fields <name>-day,
// -month, -year and -time) as London time: all empty means now; a time
// alone means today at that time. A time the clocks skipped (the last
// Sunday of March, 01:00-01:59) is refused, saying so; one they repeated
// (the last Sunday of October, 01:00-01:59, first BST then GMT) needs
// <name>-zone, BST or GMT (the choice the field shows then), or the zone
// typed after the time ("01:30 BST"): it is never guessed.
func (in input) when(name string) (time.Time, error) {
	day, month, year, clock := in.get(name+"-day"), in.get(name+"-month"), in.get(name+"-year"), in.get(name+"-time")
	if day == "" && month == "" && year == "" && clock == "" {
		return in.now.UTC().Truncate(time.Second), nil
	}
	w, err := in.wall(name)
	if err != nil {
		return time.Time{}, err
	}
	at := w.instants()
	switch len(at) {
	case 0:
		return time.Time{}, fieldErr(name, fmt.Sprintf("%s on %s did not happen: the clocks went forward from %s to %s. Check the time and enter it again",
			w.clock(), w.day(), w.change.In(time.FixedZone("", w.before)).Format("15:04"), w.change.In(london).Format("15:04")))
	case 1:
		return at[0], nil
	}
	zone := strings.ToUpper(in.get(name + "-zone"))
	if zone == "" {
		zone = w.zone
	}
	for _, t := range at {
		if zoneOf(t) == zone {
			return t, nil
		}
	}
	return time.Time{}, fieldErr(name, fmt.Sprintf("%s on %s happened twice: the clocks went back from %s %s to %s %s. Choose which %s you mean",
		w.clock(), w.day(), w.change.In(time.FixedZone("", w.before)).Format("15:04"), zoneOf(at[0]), w.change.In(london).Format("15:04"), zoneOf(at[1]), w.clock()))
}

// wall reads the day and time of a datetime field, without deciding yet
// which instant they name.
func (in input) wall(name string) (wallTime, error) {
	day, month, year, clock := in.get(name+"-day"), in.get(name+"-month"), in.get(name+"-year"), in.get(name+"-time")
	if clock == "" {
		return wallTime{}, fieldErr(name, "Enter the time, like 23:05")
	}
	var zone string
	if c, z, ok := strings.Cut(strings.TrimSpace(clock), " "); ok {
		if z = strings.ToUpper(strings.TrimSpace(z)); z == "BST" || z == "GMT" {
			clock, zone = c, z
		}
	}
	h, m, ok := parseClock(clock)
	if !ok {
		return wallTime{}, fieldErr(name, "Enter the time in 24 hours, like 23:05 or 0730")
	}
	date := in.now.In(london)
	if day != "" || month != "" || year != "" {
		d, err := in.date(name)
		if err != nil {
			return wallTime{}, err
		}
		date, _ = time.ParseInLocation("2006-01-02", d, london)
	}
	w := wallTime{naive: time.Date(date.Year(), date.Month(), date.Day(), h, m, 0, 0, time.UTC), zone: zone}
	before := w.naive.Add(-3 * time.Hour).In(london)
	_, w.before = before.Zone()
	if _, end := before.ZoneBounds(); !end.IsZero() && end.Before(w.naive.Add(3*time.Hour)) {
		w.change = end
		_, w.after = end.In(london).Zone()
	}
	return w, nil
}

// wallTime is a day and time on London's clocks. change is when the
// clocks changed within three hours of it (zero if they did not), before
// and after their offsets from UTC either side.
type wallTime struct {
	naive         time.Time // the day and time read as UTC
	zone          string    // BST or GMT typed after the time, or ""
	change        time.Time
	before, after int
}

// instants are the moments a London wall-clock time names: none in the
// hour the clocks skip, two (first, then an hour later) in the hour they
// repeat, one at any other time.
func (w wallTime) instants() []time.Time {
	first := w.naive.Add(-time.Duration(w.before) * time.Second)
	if w.change.IsZero() {
		return []time.Time{first}
	}
	var at []time.Time
	if first.Before(w.change) {
		at = append(at, first)
	}
	if second := w.naive.Add(-time.Duration(w.after) * time.Second); !second.Before(w.change) {
		at = append(at, second)
	}
	return at
}

func (w wallTime) clock() string { return w.naive.Format("15:04") }
func (w wallTime) day() string   { return w.naive.Format("Monday 2 January") }

// zoneOf is the name of London's time at t: BST or GMT.
func zoneOf(t time.Time) string { return t.In(london).Format("MST") }

// date reads an NHS date input (the fields <name>-day, -month and -year)
// as YYYY-MM-DD; all empty is "", part of it is an error naming what is
// missing.
func (in input) date(name string) (string, error) {
	parts := []struct{ what, v string }{{"day", in.get(name + "-day")}, {"month", in.get(name + "-month")}, {"year", in.get(name + "-year")}}
	var missing []string
	for _, p := range parts {
		if p.v == "" {
			missing = append(missing, p.what)
		}
	}
	switch len(missing) {
	case 3:
		return "", nil
	case 0:
	default:
		return "", fieldErr(name, "The date must include a "+strings.Join(missing, " and a "))
	}
	d, derr := strconv.Atoi(parts[0].v)
	m, merr := strconv.Atoi(parts[1].v)
	y, yerr := strconv.Atoi(parts[2].v)
	if derr != nil || merr != nil || yerr != nil || len(parts[2].v) != 4 || m < 1 || m > 12 || d < 1 {
		return "", fieldErr(name, "Enter a real date: the day and month as numbers, the year as 4 digits, like 27 3 2007")
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, london)
	if t.Day() != d {
		return "", fieldErr(name, fmt.Sprintf("%s has no day %d: enter a real date", time.Month(m), d))
	}
	return t.Format("2006-01-02"), nil
}

// parseClock reads a 24-hour time: "23:05", "23.05", "2305" or "7:30".
func parseClock(s string) (h, m int, ok bool) {
	s = strings.NewReplacer(".", ":", " ", "").Replace(s)
	if !strings.Contains(s, ":") && len(s) >= 3 {
		s = s[:len(s)-2] + ":" + s[len(s)-2:]
	}
	hs, ms, found := strings.Cut(s, ":")
	h, herr := strconv.Atoi(hs)
	m, merr := strconv.Atoi(ms)
	if !found || herr != nil || merr != nil || len(ms) != 2 || h < 0 || h > 23 || m < 0 || m > 59 {
		return 0, 0, false
	}
	return h, m, true
}

// fieldError as an error: a problem with one field of the posted form.
type formError struct{ field, msg string }

func (e formError) Error() string { return e.msg }

func fieldErr(field, msg string) error { return formError{field, msg} }

// call sends one command to agency a's service for the person. The last
// event it stored is put in in.last, so the page shown next includes it.
func call[Req any](ctx context.Context, c *Server, in input, a events.Agency, command string, req Req) error {
	raw, err := rpc.Call[Req, json.RawMessage](ctx, c.nc, agency.Subject(a, command), req)
	if err == nil {
		var rec struct {
			Events  []string       `json:"events"`
			Receipt agency.Receipt `json:"receipt"`
		}
		if json.Unmarshal(raw, &rec) == nil {
			ids := append(rec.Events, rec.Receipt.Events...)
			if n := len(ids); n > 0 {
				if in.last != nil {
					*in.last = ids[n-1]
				}
			}
		}
	}
	return err
}

var pathway = events.Agencies

var actions = map[string]action{
	// The control room raises a triage request mid-call: the episode opens
	// with what the caller said, the person's details and their own words.
	"triage": {
		agencies: []events.Agency{events.Police},
		required: [][2]string{{"callerAccount", "Enter what the caller says is happening"}, {"location", "Enter where the person is"}, {"concern", "Enter what you need advice on"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			request := events.TriageRequested{CallerAccount: in.get("callerAccount"), Location: in.get("location"), Concern: in.get("concern"), Risk: in.risk("risk")}
			// Check the request against the contract before the episode is
			// opened, so a mistake in it does not leave an episode without it.
			if err := precheck(in.agency, &request); err != nil {
				return "", "", err
			}
			// Whatever part of who the person is the caller knows is
			// enough: a first name, the name they go by, an age, a
			// description; or nothing yet.
			who, err := person(in)
			if err != nil {
				return "", "", err
			}
			if who != nil {
				if err := precheck(in.agency, who); err != nil {
					return "", "", err
				}
			}
			said, err := voice(in)
			if err != nil {
				return "", "", err
			}
			// The episode opens with the triage request, all or none, once
			// however often the form is sent (its request id).
			return c.open(ctx, in, agency.OpenRequest{Actor: in.actor, Channel: orDefault(in.get("channel"), "999"), Summary: in.get("callerAccount"),
				Location: in.get("location"), Reference: in.get("reference"), Person: who, Voice: said, Triage: &request},
				"Triage request raised. The mental health worker's advice will appear here.")
		},
	},
	// The ambulance EOC takes a call with a mental health element.
	"call": {
		agencies: []events.Agency{events.Ambulance},
		required: [][2]string{{"summary", "Enter what the caller says is happening"}, {"response", "Choose the response"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			who, err := person(in)
			if err != nil {
				return "", "", err
			}
			if who != nil {
				if err := precheck(in.agency, who); err != nil {
					return "", "", err
				}
			}
			said, err := voice(in)
			if err != nil {
				return "", "", err
			}
			return c.open(ctx, in, agency.OpenRequest{Actor: in.actor, Channel: "999", Summary: in.get("summary"), Location: in.get("location"), Person: who, Voice: said,
				Call: &events.AmbulanceCallTriaged{Response: in.get("response"), PhysicalHealthConcern: in.yes("physicalHealthConcern"), MentalHealthWorkerInvolved: true, Notes: in.get("notes")}},
				"Call recorded.")
		},
	},
	// Triage advice with its health history. The mental health workers of
	// the EOC and SPoA record it with their own agency; the control-room
	// mental health worker is the trust's staff sitting with police, so
	// their advice is recorded under the trust (SPoA): the police service
	// never holds the health history, and the call handler still sees the
	// advice in the police view. Anyone else in the control room records
	// advice without a health history, with police.
	"advice": {
		agencies: []events.Agency{events.Police, events.Ambulance, events.SPoA},
		required: [][2]string{{"advice", "Enter your advice"}, {"recommendedAction", "Choose what you recommend"}},
		clinical: [][2]string{{"healthHistory", "the health history"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			to, err := c.clinicalRecorder(ctx, in, "advice")
			if err != nil {
				return in.episode, "", err
			}
			err = call(ctx, c, in, to, "triage.advice", agency.AdviceRequest{Base: in.base(), TriageAdviceGiven: events.TriageAdviceGiven{
				Advice: in.get("advice"), KnownToServices: in.yes("knownToServices"), HealthHistory: in.get("healthHistory"), RecommendedAction: in.get("recommendedAction")}})
			return in.episode, "Advice recorded.", err
		},
	},
	"rcrp": {
		agencies: []events.Agency{events.Police},
		required: [][2]string{{"policeAttend", "Choose whether police attend"}, {"grounds", "Choose the ground for the decision"}, {"rationale", "Enter why"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "rcrp.decide", police.RCRPRequest{Base: in.base(), RcrpDecided: events.RcrpDecided{
				PoliceAttend: in.yes("policeAttend"), Grounds: in.get("grounds"), RespondingAgency: in.get("respondingAgency"), Rationale: in.get("rationale")}})
			return in.episode, "Right Care, Right Person decision recorded.", err
		},
	},
	// The street triage team (an officer and the trust's nurse) records
	// what it achieved with the nurse's notes: under the trust, since the
	// notes are clinical; police see the outcome, never the notes. An
	// officer or call handler records the outcome alone, with police.
	"street": {
		agencies: []events.Agency{events.Police},
		required: [][2]string{{"s136Avoided", "Choose whether an s136 detention was avoided"}, {"outcome", "Choose what happened"}},
		clinical: [][2]string{{"notes", "the street triage nurse's notes"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			to, err := c.clinicalRecorder(ctx, in, "s136Avoided")
			if err != nil {
				return in.episode, "", err
			}
			err = call(ctx, c, in, to, "street_triage.outcome", agency.StreetOutcomeRequest{Base: in.base(), StreetTriageOutcome: events.StreetTriageOutcome{
				S136Avoided: in.yes("s136Avoided"), Outcome: in.get("outcome"), Notes: in.get("notes")}})
			return in.episode, "Street triage outcome recorded.", err
		},
	},
	// An s136 detention: the consultation that preceded it, the detention,
	// the arrival at the place of safety and the request to the AMHP
	// service, as the officer records them at the place of safety.
	"detain": {
		agencies: []events.Agency{events.Police},
		required: [][2]string{{"practicable", "Choose whether consulting a health professional was practicable"}, {"consultAdvice", "Enter the advice given, or why consultation was not practicable"},
			{"locationType", "Choose where the person was detained"}, {"ageYears", "Enter the person's age in years"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			detainedAt, err := in.when("detainedAt")
			if err != nil {
				return in.episode, "", err
			}
			age, err := strconv.Atoi(in.get("ageYears"))
			if err != nil || age < 0 || age > 130 {
				return in.episode, "", fieldErr("ageYears", "Enter the age as a whole number of years, like 34")
			}
			var arrivedAt time.Time
			if in.get("placeType") != "" {
				if in.get("placeName") == "" {
					return in.episode, "", fieldErr("placeName", "Enter the name of the place of safety")
				}
				if arrivedAt, err = in.when("arrivedAt"); err != nil {
					return in.episode, "", err
				}
			}
			// Check the law before storing anything, so a refused place of
			// safety leaves the form as typed rather than half recorded.
			if err := law.CheckDetentionLocation(in.get("locationType")); err != nil {
				return in.episode, "", fieldErr("locationType", "The Mental Health Act does not allow this: MHA 1983 "+err.Error())
			}
			var cond *events.PoliceStationConditions
			if in.get("placeType") == string(events.PoliceStation) {
				cond = &events.PoliceStationConditions{ImminentRiskOfSeriousHarm: in.yes("imminentRisk"),
					NoOtherPlaceAvailable: in.yes("noOtherPlace"), InspectorAuthorisation: in.get("inspector"), HealthProfessionalConsulted: in.yes("healthConsulted"),
					Reason: in.get("policeStationReason")}
			}
			if err := law.CheckPlaceOfSafety(age, events.PlaceType(in.get("placeType")), cond); err != nil {
				return in.episode, "", fieldErr("placeType", "The Mental Health Act does not allow this: MHA 1983 "+err.Error())
			}
			if cond != nil && !slices.Contains(events.PoliceStationReasons, cond.Reason) {
				return in.episode, "", fieldErr("policeStationReason", "Choose why a police station is used: no health-based place of safety free, or violence that cannot be managed there")
			}
			if err := call(ctx, c, in, in.agency, "s136.consult", police.ConsultRequest{Base: in.base(), S136Consulted: events.S136Consulted{
				Practicable: in.yes("practicable"), Professional: in.get("professional"), Advice: in.get("consultAdvice")}}); err != nil {
				return in.episode, "", err
			}
			if err := call(ctx, c, in, in.agency, "s136.detain", police.DetainRequest{Base: in.base(), DetainedAt: detainedAt,
				LocationType: in.get("locationType"), AgeYears: age, KeptWhereTheyAre: in.get("placeType") == string(events.KeptWhereTheyAre)}); err != nil {
				return in.episode, "", err
			}
			done := "Detention under s136 recorded."
			if pt := in.get("placeType"); pt != "" {
				arrive := events.PlaceOfSafetyArrived{ArrivedAt: arrivedAt, PlaceType: events.PlaceType(pt), PlaceName: in.get("placeName"), PoliceStation: cond}
				if err := call(ctx, c, in, in.agency, "pos.arrive", police.ArriveRequest{Base: in.base(), PlaceOfSafetyArrived: arrive}); err != nil {
					return in.episode, "", fmt.Errorf("the detention is recorded, the arrival is not: %w", err)
				}
				done += " The 24-hour clock is running."
			}
			if in.yes("requestAssessment") {
				if err := call(ctx, c, in, in.agency, "handoff.offer", agency.OfferRequest{Base: in.base(), Kind: events.MHAAssessment, To: events.AMHP,
					Reason: "Detained under s136: Mental Health Act assessment needed", Urgency: "emergency"}); err != nil {
					return in.episode, "", fmt.Errorf("the detention is recorded, the request to the AMHP service is not: %w", err)
				}
				done += " The AMHP service has been asked for an assessment."
			}
			return in.episode, done, nil
		},
	},
	"offer": {
		agencies: pathway,
		required: [][2]string{{"to", "Choose who to hand the episode to"}, {"kind", "Choose what you are asking for"}, {"reason", "Enter why"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "handoff.offer", agency.OfferRequest{Base: in.base(), Kind: events.HandoffKind(in.get("kind")),
				To: events.Agency(in.get("to")), Reason: in.get("reason"), Urgency: orDefault(in.get("urgency"), "urgent")})
			return in.episode, "Offered to " + events.Agency(in.get("to")).Title() + ", with everything known so far.", err
		},
	},
	"accept": {
		agencies: pathway,
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "handoff.accept", agency.HandoffRequest{Base: in.base(), HandoffID: in.get("handoffId")})
			return in.episode, "Accepted: the episode is now yours.", err
		},
	},
	"decline": {
		agencies: pathway,
		required: [][2]string{{"reason", "Choose why you decline"}, {"detail", "Enter the reason in words"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "handoff.decline", agency.DeclineRequest{HandoffRequest: agency.HandoffRequest{Base: in.base(), HandoffID: in.get("handoffId")},
				Reason: in.get("reason"), Detail: in.get("detail")})
			return in.episode, "Declined. The offering agency keeps the episode and has been told why.", err
		},
	},
	"cancel": {
		agencies: pathway,
		required: [][2]string{{"reason", "Enter why you withdraw the offer"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "handoff.cancel", agency.CancelRequest{HandoffRequest: agency.HandoffRequest{Base: in.base(), HandoffID: in.get("handoffId")},
				Reason: in.get("reason")})
			return in.episode, "Offer withdrawn.", err
		},
	},
	// Who the person is: an NHS number (its check digit is verified), name,
	// date of birth, phone; what lets the record find their other episodes.
	"identify": {
		agencies: pathway,
		first:    "nhsNumber",
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			p, err := person(in)
			if err != nil {
				return in.episode, "", err
			}
			if p == nil {
				p = &events.PersonIdentified{}
			}
			if p.DateOfBirth, err = in.date("dateOfBirth"); err != nil {
				return in.episode, "", err
			}
			p.Phone = in.get("phone")
			if *p == (events.PersonIdentified{}) {
				return in.episode, "", fieldErr("nhsNumber", "Enter at least one of the NHS number, a name, the name they go by, the date of birth, an approximate age, a description or a phone number")
			}
			if p.NHSNumber != "" && !events.ValidNHSNumber(p.NHSNumber) {
				return in.episode, "", fieldErr("nhsNumber", "Enter a valid NHS number: 10 digits whose last is the check digit, like 943 476 5919")
			}
			err = call(ctx, c, in, in.agency, "identify", agency.IdentifyRequest{Base: in.base(), PersonIdentified: *p})
			return in.episode, "Identity recorded.", err
		},
	},
	// Two episodes found to be one person are linked, never merged.
	"link": {
		agencies: pathway,
		required: [][2]string{{"match", "Choose which episode is the same person"}, {"reason", "Enter why you believe this is the same person"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			// Only an episode the record finds may be the same person, as
			// the page offers, on what the record says they share: a form
			// naming any other episode would record the link on it.
			other, _, _ := strings.Cut(in.get("match"), "|")
			mr, err := rpc.Call[record.EpisodeRequest, record.MatchResponse](ctx, c.nc, record.SubjectMatch, record.EpisodeRequest{Episode: in.episode})
			if err != nil {
				return in.episode, "", fmt.Errorf("find the episodes that may be the same person as episode %s: %w", in.episode, err)
			}
			i := slices.IndexFunc(mr.Matches, func(m record.Match) bool { return m.Episode == other })
			if i < 0 {
				c.log.Info("link refused: not an episode the record found", zap.String("episode", logsafe.ID(in.episode)), zap.String("agency", string(in.agency)))
				return in.episode, "", fieldErr("match", "That is not one of the episodes found to share details with this one: choose one of those listed")
			}
			err = call(ctx, c, in, in.agency, "link", agency.LinkRequest{Base: in.base(), OtherEpisode: other,
				MatchedOn: mr.Matches[i].MatchedOn, Reason: in.get("reason")})
			return in.episode, "Linked: both episodes keep their own timelines.", err
		},
	},
	"doctor": {
		agencies: []events.Agency{events.AMHP},
		required: [][2]string{{"doctor", "Enter the doctor's name"}, {"role", "Choose the doctor's role"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "doctor", amhp.DoctorRequest{Base: in.base(), AssessmentDoctorAllocated: events.AssessmentDoctorAllocated{
				Doctor: in.get("doctor"), S12Approved: in.yes("s12Approved"), Role: in.get("role")}})
			return in.episode, "Doctor recorded.", err
		},
	},
	"delay": {
		agencies: []events.Agency{events.AMHP},
		required: [][2]string{{"cause", "Choose the cause of the delay"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "delay", amhp.DelayRequest{Base: in.base(), AssessmentDelayed: events.AssessmentDelayed{Cause: in.get("cause"), Detail: in.get("detail")}})
			return in.episode, "Delay recorded.", err
		},
	},
	"extend": {
		agencies: []events.Agency{events.AMHP},
		required: [][2]string{{"hours", "Enter the length of the extension in hours"}, {"doctor", "Enter the examining doctor"}, {"reason", "Enter why the assessment cannot be completed in time"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			hours, err := strconv.Atoi(in.get("hours"))
			if err != nil {
				return in.episode, "", fieldErr("hours", "Enter the hours as a whole number, from 1 to 12")
			}
			err = call(ctx, c, in, in.agency, "s136.extend", amhp.ExtendRequest{Base: in.base(), Hours: hours, Doctor: in.get("doctor"),
				Reason: in.get("reason"), SuperintendentApproval: in.get("superintendentApproval")})
			return in.episode, "Extension recorded.", err
		},
	},
	"outcome": {
		agencies: []events.Agency{events.AMHP},
		required: [][2]string{{"outcome", "Choose the outcome of the assessment"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			at, err := in.when("completedAt")
			if err != nil {
				return in.episode, "", err
			}
			err = call(ctx, c, in, in.agency, "outcome", amhp.OutcomeRequest{Base: in.base(), Outcome: in.get("outcome"), CompletedAt: at, Notes: in.get("notes")})
			done := "Outcome recorded."
			if in.get("outcome") == "not_admitted" {
				done += " The helpline has been offered 4 days of follow-up calls."
			}
			return in.episode, done, err
		},
	},
	"contact": {
		agencies: []events.Agency{events.Crisisline},
		required: [][2]string{{"contactNumber", "Choose which call this is"}, {"outcome", "Choose what happened on the call"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			if err := c.notBeforeItsDay(ctx, in); err != nil {
				return in.episode, "", err
			}
			err := call(ctx, c, in, in.agency, "followup.contact", crisisline.ContactRequest{Base: in.base(), FollowupContactAttempted: events.FollowupContactAttempted{
				ContactNumber: in.int("contactNumber"), Outcome: in.get("outcome"), Risk: in.risk("risk"), Notes: in.get("notes")}})
			return in.episode, "Call recorded.", err
		},
	},
	"escalate": {
		agencies: []events.Agency{events.Crisisline},
		required: [][2]string{{"risk", "Choose the risk"}, {"reason", "Enter why you are escalating"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "followup.escalate", crisisline.EscalateRequest{Base: in.base(), Risk: in.risk("risk"), Reason: in.get("reason")})
			return in.episode, "Escalated: SPoA has been offered a referral with everything known.", err
		},
	},
	"finish": {
		agencies: []events.Agency{events.Crisisline},
		required: [][2]string{{"summary", "Enter a summary of the follow-up"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "followup.complete", crisisline.FinishRequest{Base: in.base(), Summary: in.get("summary"), CloseEpisode: in.yes("closeEpisode")})
			return in.episode, "Follow-up completed.", err
		},
	},
	"route": {
		agencies: []events.Agency{events.SPoA},
		required: [][2]string{{"route", "Choose where the person goes"}, {"detail", "Enter which team or place"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "route", spoa.RouteRequest{Base: in.base(), Route: in.get("route"), Detail: in.get("detail")})
			return in.episode, "Routed.", err
		},
	},
	"conveyance": {
		agencies: []events.Agency{events.Ambulance},
		required: [][2]string{{"conveyed", "Choose whether the person was conveyed"}, {"reason", "Enter why"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "conveyance", ambulance.ConveyanceRequest{Base: in.base(), AmbulanceConveyance: events.AmbulanceConveyance{
				Conveyed: in.yes("conveyed"), Destination: in.get("destination"), DestinationName: in.get("destinationName"), Reason: in.get("reason")}})
			return in.episode, "Conveyance recorded.", err
		},
	},
}

// open opens an episode with the facts of req, once however often the
// form is sent: with the form's request id (page.Request), a form sent
// again (a double click, a browser sending again, sent again after an
// error) goes to the episode the first sending opened, saying so.
func (c *Server) open(ctx context.Context, in input, req agency.OpenRequest, done string) (string, string, error) {
	req.Request = in.get("request")
	resp, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, c.nc, agency.Subject(in.agency, "open"), req)
	if err != nil {
		return "", "", err
	}
	if resp.Repeated {
		return resp.Episode, sentAgain, nil
	}
	if n := len(resp.Receipt.Events); n > 0 {
		*in.last = resp.Receipt.Events[n-1]
	}
	return resp.Episode, done, nil
}

// sentAgain confirms a form that opens an episode sent again.
const sentAgain = "This form was sent already: what it recorded is here, once."

// notBeforeItsDay warns a helpline worker recording a follow-up call on a
// day before the one it is due (call 3 on the day of call 2 is most often
// the wrong call chosen): the call is recorded only once they confirm it.
func (c *Server) notBeforeItsDay(ctx context.Context, in input) error {
	n := in.int("contactNumber")
	if in.yes("early") || n < 1 {
		return nil
	}
	resp, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, c.nc, record.ViewSubject(in.agency), record.ViewRequest{
		Episode: in.episode, Agency: in.agency, Viewer: in.actor, Purpose: "direct care: checking which follow-up call is due before recording it"})
	if err != nil {
		return err
	}
	var v struct {
		FollowUp *episode.FollowUp `json:"followUp"`
	}
	raw := resp.View
	if json.Unmarshal(raw, &v) != nil || v.FollowUp == nil || n > len(v.FollowUp.Scheduled) {
		return nil // an extra call has no day
	}
	due, today := v.FollowUp.Scheduled[n-1].In(london), in.now.In(london)
	if dueDay, day := due.Format("2006-01-02"), today.Format("2006-01-02"); dueDay > day {
		return fieldErr("contactNumber", fmt.Sprintf("Call %d is due on %s, not today. Choose the call you are making, or tick “Record it before its day” if you are making call %d early.",
			n, due.Format("Monday 2 January"), n))
	}
	return nil
}

// clinicalRecorder is the agency whose service records what a person
// writes on a form that may hold clinical text: their own agency, unless
// its view never shows the clinical record (police) and they are the
// mental health trust's staff working there (the control-room mental
// health worker, the street triage nurse: session.TrustStaff), when it is
// the trust's single point of access. Anyone else of such an agency
// records with their own, which refuses clinical text; doAction has
// already refused it, saying why (recordsClinical).
//
// The trust records only on an episode the person's own agency has a part
// in: the record is asked for the episode's state as their agency (a read
// recorded as a disclosure, like their own agency's commands), which it
// refuses for an episode that agency has no part in, so the trust's
// service is never a way onto episodes the room could not write on itself.
func (c *Server) clinicalRecorder(ctx context.Context, in input, field string) (events.Agency, error) {
	if episode.SeesClinical(in.agency) || !in.trustStaff {
		return in.agency, nil
	}
	_, err := rpc.Call[record.StateRequest, record.StateResponse](ctx, c.nc, record.StateSubject(in.agency), record.StateRequest{Episode: in.episode, Actor: in.actor})
	var re *rpc.Error
	if errors.As(err, &re) && re.Code == rpc.Forbidden {
		c.log.Info("clinical text refused: the agency has no part in the episode", zap.String("episode", logsafe.ID(in.episode)), zap.String("agency", string(in.agency)))
		return in.agency, fieldErr(field, fmt.Sprintf("Nothing was stored: the %s has had no part in this episode, so its people record nothing on it, under the trust or otherwise.",
			strings.ToLower(in.agency.Title())))
	}
	if err != nil {
		return in.agency, fmt.Errorf("check that the %s has a part in episode %s: %w", strings.ToLower(in.agency.Title()), in.episode, err)
	}
	return events.SPoA, nil
}

// recordsClinical reports whether a person records clinical text: of a
// health agency, or the trust's staff working in another agency's room.
func recordsClinical(s session) bool {
	return episode.SeesClinical(s.Agency) || s.TrustStaff
}

// clinicalRefused says why a person who does not record clinical text is
// refused a form holding some ("" when it holds none): which fields, that
// only the trust's staff in their agency's room record them, and that
// nothing was stored.
func clinicalRefused(s session, act action, form url.Values) string {
	if recordsClinical(s) {
		return ""
	}
	var filled []string
	for _, f := range act.clinical {
		if strings.TrimSpace(form.Get(f[0])) != "" {
			filled = append(filled, f[1])
		}
	}
	if len(filled) == 0 {
		return ""
	}
	what := strings.Join(filled, " and ")
	return fmt.Sprintf("Nothing was stored. Clinical text (%s) is recorded only by the mental health trust's staff working in the %s "+
		"(the control-room mental health worker, the street triage nurse), under the trust. "+
		"You are signed in as %s, who is not marked as the trust's staff. "+
		"Go back and send the form without %s, or ask the trust's staff with you to record it. "+
		"If you are the trust's staff, ask whoever keeps the console's users to mark you as such.",
		what, strings.ToLower(s.Agency.Title()), s.Username, what)
}

// precheck validates the data of an event an action is about to ask for,
// as the bus will, before anything is stored.
func precheck(a events.Agency, data any) error {
	e, err := events.New(a, events.NewEpisodeID(), data)
	if err != nil {
		return err
	}
	if err := events.Validate(e); err != nil {
		return &rpc.Error{Code: rpc.BadRequest, Message: err.Error()}
	}
	return nil
}

func orDefault(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// person is who the person is, from the parts of a form's "The person"
// fields that were filled in (nil when none was).
func person(in input) (*events.PersonIdentified, error) {
	p := events.PersonIdentified{GivenName: in.get("givenName"), FamilyName: in.get("familyName"), KnownAs: in.get("knownAs"),
		Description: in.get("description"), NHSNumber: strings.ReplaceAll(in.get("nhsNumber"), " ", "")}
	if age := in.get("ageYears"); age != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSuffix(age, "s"), "about "))
		if err != nil || n < 0 || n > 130 {
			return nil, fieldErr("ageYears", "Enter the age as a whole number of years, like 30; a guess is fine")
		}
		p.AgeYears = n
	}
	if p == (events.PersonIdentified{}) {
		return nil, nil
	}
	return &p, nil
}

func voice(in input) (*events.PersonVoiceRecorded, error) {
	v := events.PersonVoiceRecorded{OwnWords: in.get("ownWords"), WhoToContact: in.get("whoToContact"), Language: in.get("language")}
	for _, n := range in.form["communicationNeeds"] {
		if n = strings.TrimSpace(n); n != "" {
			v.CommunicationNeeds = append(v.CommunicationNeeds, n)
		}
	}
	if v.OwnWords == "" {
		if len(v.CommunicationNeeds) > 0 || v.Language != "" || v.WhoToContact != "" {
			// The contract records needs with the person's own words, never
			// alone: say so, rather than drop what was ticked.
			return nil, fieldErr("ownWords", "Enter what they want services to know, in their own words: their communication needs and who to contact are recorded with it")
		}
		return nil, nil
	}
	return &v, nil
}

// dataPointer finds "/data/<field>" in a refusal, to show it by its field.
var dataPointer = regexp.MustCompile(`/data/([A-Za-z0-9]+)`)

// doAction runs the named action for the signed-in person. On success it
// redirects to the episode with a confirmation; otherwise it shows the page
// again with each problem by its field and what was typed kept.
func (c *Server) doAction(w http.ResponseWriter, r *http.Request, name, episode string, again func(status int, p page)) {
	s, _ := sessionFrom(r.Context())
	if len(name) > maxActionLen {
		badRequest(w, fmt.Sprintf("The action in the address is %d characters long; the console's are at most %d.", len(name), maxActionLen))
		return
	}
	act, ok := actions[name]
	if !ok || !contains(act.agencies, s.Agency) {
		http.Error(w, "Your agency cannot do that.", http.StatusForbidden)
		return
	}
	// Checked here, by the server, whatever the page offered: the form of
	// a person who does not record clinical text has no such field, but a
	// request can hold anything.
	if why := clinicalRefused(s, act, r.PostForm); why != "" {
		c.log.Info("action refused", zap.String("action", name), zap.String("episode", logsafe.ID(episode)), zap.String("agency", string(s.Agency)),
			zap.String("user", s.Username), zap.String("reason", "clinical text from a person not marked as the trust's staff"))
		http.Error(w, why, http.StatusForbidden)
		return
	}
	var last string
	in := input{form: r.PostForm, episode: episode, agency: s.Agency, trustStaff: s.TrustStaff, actor: s.Name + " (" + s.Role + ")", now: c.cfg.Now(), last: &last}
	var errs []fieldError
	for _, req := range act.required {
		if in.get(req[0]) == "" {
			errs = append(errs, fieldError{name + "-" + req[0], req[1]})
		}
	}
	first := act.first
	if first == "" && len(act.required) > 0 {
		first = act.required[0][0]
	}
	if len(errs) == 0 {
		ep, done, err := act.run(r.Context(), c, in)
		if err == nil {
			// The confirmation is kept in the session for the next page,
			// never put in the address where anyone could write it.
			if ferr := c.setFlash(r.Context(), done); ferr != nil {
				c.log.Warn("keep the confirmation", zap.String("episode", logsafe.ID(ep)), zap.Error(ferr))
			}
			to := "/" // an action about no episode (a place's state)
			if ep != "" {
				to = "/episodes/" + ep
				if last != "" {
					to += "?after=" + url.QueryEscape(last)
				}
			}
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		}
		errs = c.explain(name, first, err)
		// The form shows the person what was wrong with what they typed; the
		// log says only which action on which episode, and why in kind.
		reason := "form input"
		if !errors.As(err, new(formError)) {
			reason = rpc.Reason(rpc.CodeOf(err), err)
		}
		c.log.Info("action refused", zap.String("action", name), zap.String("episode", logsafe.ID(ep)), zap.String("agency", string(s.Agency)), zap.String("reason", reason))
	}
	again(http.StatusUnprocessableEntity, page{Errors: errs, Form: r.PostForm, Action: name})
}

// explain turns an error into the messages shown by the form's fields.
func (c *Server) explain(action, first string, err error) []fieldError {
	var fe formError
	if errors.As(err, &fe) {
		return []fieldError{{action + "-" + fe.field, fe.msg}}
	}
	var re *rpc.Error
	if !errors.As(err, &re) {
		c.log.Error("command failed", zap.String("action", action), zap.String("cause", logsafe.Cause(err)))
		return []fieldError{{action + "-" + first, "crisisbus could not record this just now: nothing was stored. Try again; if it keeps failing, phone the service."}}
	}
	msg := re.Message
	if re.Code == rpc.BadRequest {
		if errs, ok := contractInWords(action, msg); ok {
			return errs
		}
	}
	field := first
	if m := dataPointer.FindStringSubmatch(msg); m != nil {
		field = m[1]
	}
	prefix := ""
	switch re.Code {
	case rpc.Forbidden:
		prefix = "The Mental Health Act does not allow this: "
	case rpc.Conflict:
		prefix = "This cannot be done now: "
	case rpc.NotFound:
		prefix = "Not found: "
	}
	return []fieldError{{action + "-" + field, prefix + strings.TrimPrefix(msg, "invalid event: ")}}
}

func contains(as []events.Agency, a events.Agency) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
