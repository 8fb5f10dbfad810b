// Package safehaven is the safe havens' service: the four havens of Kent and
// Medway (Gillingham, Canterbury, Maidstone, Margate), run by a
// voluntary-sector provider, Mental Health Matters, open 18:00–23:00 every
// day for adults, open access. People walk in (the haven opens the
// episode), are brought by police, or are referred by SPoA, the crisis line
// or the ambulance EOC (a safe_haven_referral handoff the haven accepts or
// declines). The haven records the visit (arrived, support given, left) and
// hands the person on with the record travelling: to SPoA, to the crisis
// line's follow-up, or records that 999 was called.
//
// The haven is not a health agency: its view of the record never shows the
// clinical record, and its commands refuse clinical text (package agency).
// Where the havens are, who they are for and when they open come from the
// directory of places (places.Default).
//
// Commands on crisisbus.safehaven.<command>, besides the common ones of
// package agency (open, handoff.accept, handoff.decline, handoff.offer, ...):
//
//	walkin         WalkInRequest   → agency.OpenResponse
//	visit.arrive   ArriveRequest   → agency.Receipt
//	visit.support  SupportRequest  → agency.Receipt
//	visit.leave    LeaveRequest    → agency.Receipt
//	visit.handon   HandOnRequest   → HandOnResponse
//
// A referral that arrives while the haven is closed, or closing within
// ReferralCutoff, or for a person under the havens' age, is declined by the
// haven's inbox at once, the reason naming the next opening (or where the
// person can go instead).
package safehaven

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/internal/logsafe"
	"github.com/crisisbus/crisisbus/internal/tracing"
	"github.com/crisisbus/crisisbus/places"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// ReferralCutoff: a referral arriving less than this before the haven
// closes is declined (the person would arrive as it closes).
const ReferralCutoff = 30 * time.Minute

// How a person came to the haven (haven.arrived's how).
const (
	WalkedIn        = "walked_in"
	BroughtByPolice = "brought_by_police"
	Referred        = "referred"
)

// How a visit ended (haven.left's outcome).
const (
	WentHome     = "went_home"
	HandedOn     = "handed_on"
	Emergency999 = "emergency_999"
)

// Support is what the haven gives (haven.support_given's support).
var Support = []string{"de_escalation", "emotional_support", "peer_support", "plan_made"}

// handOnKinds are where the haven hands a person on, and the kind of handoff.
var handOnKinds = map[events.Agency]events.HandoffKind{events.SPoA: events.SPoAReferral, events.Crisisline: events.FollowUp}

// directory is the directory of places the havens are found in.
var directory = sync.OnceValues(places.Default)

// Havens lists the safe havens of the directory.
func Havens() ([]places.Place, error) {
	d, err := directory()
	if err != nil {
		return nil, err
	}
	var out []places.Place
	for _, p := range d.Places {
		if p.Kind == places.SafeHaven {
			out = append(out, p)
		}
	}
	return out, nil
}

// haven returns the safe haven with that id, or a 400 naming the havens.
func haven(id string) (places.Place, error) {
	hs, err := Havens()
	if err != nil {
		return places.Place{}, err
	}
	var ids []string
	for _, h := range hs {
		if h.ID == id {
			return h, nil
		}
		ids = append(ids, h.ID)
	}
	return places.Place{}, events.Errorf(events.Invalid, "haven %q is not a safe haven of the directory of places (want one of %s)", id, strings.Join(ids, ", "))
}

// WalkInRequest: a person walks in; the haven opens the episode with what
// brings them, who they are as far as they say, their own words, and the
// arrival (not taken, with where to go instead, when the haven is not for
// their age).
type WalkInRequest struct {
	Request   string                      `json:"request,omitempty"` // the caller's id for this walk-in, as agency.OpenRequest's
	Actor     string                      `json:"actor" schema:"cloudevent.json#/properties/actor"`
	Haven     string                      `json:"haven" schema:"v1/haven.arrived.json#/properties/haven"`
	ArrivedAt time.Time                   `json:"arrivedAt,omitzero" schema:"v1/haven.arrived.json#/properties/arrivedAt"`    // default now
	Summary   string                      `json:"summary" schema:"v1/episode.opened.json#/properties/summary"`                // what brings them, in the worker's words
	AgeYears  int                         `json:"ageYears,omitempty" schema:"v1/person.identified.json#/properties/ageYears"` // as they say at the door, when no person is recorded
	Person    *events.PersonIdentified    `json:"person,omitempty"`
	Voice     *events.PersonVoiceRecorded `json:"voice,omitempty"`
}

// Validate names what is missing.
func (r *WalkInRequest) Validate() error {
	var errs []error
	if r.Actor == "" {
		errs = append(errs, errors.New("actor is required (who is acting)"))
	}
	if r.Haven == "" {
		errs = append(errs, errors.New("haven is required (which safe haven, e.g. haven-margate)"))
	}
	if r.Summary == "" {
		errs = append(errs, errors.New("summary is required (what brings the person to the haven)"))
	}
	return errors.Join(errs...)
}

// ArriveRequest: a person the haven accepted a referral for arrives.
type ArriveRequest struct {
	agency.Base
	Haven     string    `json:"haven" schema:"v1/haven.arrived.json#/properties/haven"`
	ArrivedAt time.Time `json:"arrivedAt,omitzero" schema:"v1/haven.arrived.json#/properties/arrivedAt"` // default now
}

// Validate names what is missing.
func (r *ArriveRequest) Validate() error {
	errs := r.Check()
	if r.Haven == "" {
		errs = append(errs, errors.New("haven is required (which safe haven, e.g. haven-margate)"))
	}
	return errors.Join(errs...)
}

// SupportRequest: the support given during the visit.
type SupportRequest struct {
	agency.Base
	events.HavenSupportGiven
}

// Validate names what is missing.
func (r *SupportRequest) Validate() error {
	errs := r.Check()
	if len(r.Support) == 0 {
		errs = append(errs, fmt.Errorf("support is required (one or more of %s)", strings.Join(Support, ", ")))
	}
	for _, s := range r.Support {
		if !slices.Contains(Support, s) {
			errs = append(errs, fmt.Errorf("support %q is not one of %s", s, strings.Join(Support, ", ")))
		}
	}
	if slices.Contains(r.Support, "plan_made") && strings.TrimSpace(r.Plan) == "" {
		errs = append(errs, errors.New("plan is required with plan_made: the plan, in the person's own words"))
	}
	return errors.Join(errs...)
}

// LeaveRequest: the person leaves: went home, or 999 was called (handing
// on is HandOnRequest). The haven may close the episode as they go.
type LeaveRequest struct {
	agency.Base
	Outcome      string    `json:"outcome" schema:"v1/haven.left.json#/properties/outcome"`        // went_home or emergency_999
	LeftAt       time.Time `json:"leftAt,omitzero" schema:"v1/haven.left.json#/properties/leftAt"` // default now
	Detail       string    `json:"detail,omitempty" schema:"v1/haven.left.json#/properties/detail"`
	CloseEpisode bool      `json:"closeEpisode,omitempty"`
}

// leaveOutcomes are the outcomes of LeaveRequest.
var leaveOutcomes = []string{WentHome, Emergency999}

// Enums are the outcomes a leave takes, for the contract.
func (r *LeaveRequest) Enums() map[string][]string {
	return map[string][]string{"outcome": leaveOutcomes}
}

// Validate names what is missing.
func (r *LeaveRequest) Validate() error {
	errs := r.Check()
	if !slices.Contains(leaveOutcomes, r.Outcome) {
		errs = append(errs, fmt.Errorf("outcome %q: want went_home or emergency_999 (a person handed on is recorded with visit.handon)", r.Outcome))
	}
	return errors.Join(errs...)
}

// HandOnRequest: the person leaves handed on, the haven offering the
// episode with everything recorded to SPoA (a referral) or the crisis line
// (follow-up calls).
type HandOnRequest struct {
	agency.Base
	To      events.Agency `json:"to" schema:"v1/handoff.offered.json#/properties/to"`                     // spoa or crisisline
	Reason  string        `json:"reason" schema:"v1/handoff.offered.json#/properties/reason"`             // why, for the service that takes them
	Urgency string        `json:"urgency,omitempty" schema:"v1/handoff.offered.json#/properties/urgency"` // default urgent
	LeftAt  time.Time     `json:"leftAt,omitzero" schema:"v1/haven.left.json#/properties/leftAt"`         // default now
	Detail  string        `json:"detail,omitempty" schema:"v1/haven.left.json#/properties/detail"`
}

// Enums are the services the haven hands on to, for the contract.
func (r *HandOnRequest) Enums() map[string][]string {
	return map[string][]string{"to": {string(events.SPoA), string(events.Crisisline)}}
}

// Validate names what is missing.
func (r *HandOnRequest) Validate() error {
	errs := r.Check()
	if _, ok := handOnKinds[r.To]; !ok {
		errs = append(errs, fmt.Errorf("to %q: the haven hands a person on to spoa (a referral) or crisisline (follow-up calls)", r.To))
	}
	if r.Reason == "" {
		errs = append(errs, errors.New("reason is required: why, for the service that takes them"))
	}
	return errors.Join(errs...)
}

// HandOnResponse names the handoff offered.
type HandOnResponse struct {
	Receipt   agency.Receipt `json:"receipt"`
	HandoffID string         `json:"handoffId,omitempty"`
}

// Service is the safe havens' service.
type Service struct{ k *agency.Kit }

// Start runs the safe havens' service: its inbox (which declines a
// referral the havens cannot take now) and its commands.
func Start(ctx context.Context, k *agency.Kit) (*agency.Service, error) {
	if _, err := directory(); err != nil {
		return nil, fmt.Errorf("safe haven: %w", err)
	}
	s := &Service{k: k}
	return k.Serve(ctx, "crisisbus safe haven (Mental Health Matters): walk-ins and referrals, visits, handing on", s.onInbox, Commands(k))
}

// Commands are the safe haven's own commands, relative to its prefix
// (besides the common ones of package agency): what it serves, and what
// the contract describes.
func Commands(k *agency.Kit) []rpc.Command {
	s := &Service{k: k}
	return []rpc.Command{
		rpc.Handle("walkin", s.WalkIn),
		rpc.Handle("visit.arrive", s.Arrive),
		rpc.Handle("visit.support", s.Support),
		rpc.Handle("visit.leave", s.Leave),
		rpc.Handle("visit.handon", s.HandOn),
	}
}

func (s *Service) at(t time.Time) time.Time {
	if t.IsZero() {
		return s.k.Time().Truncate(time.Second)
	}
	return t.UTC()
}

// WalkIn opens an episode for a person who walked in, with their arrival.
func (s *Service) WalkIn(ctx context.Context, r WalkInRequest) (agency.OpenResponse, error) {
	h, err := haven(r.Haven)
	if err != nil {
		return agency.OpenResponse{}, err
	}
	at := s.at(r.ArrivedAt)
	outs := []agency.Out{agency.Fact(&events.EpisodeOpened{Channel: "walk_in", Summary: r.Summary, Location: h.Name + ", " + h.Town})}
	age := r.AgeYears
	if r.Person != nil {
		outs = append(outs, agency.Fact(r.Person))
		if r.Person.AgeYears > 0 {
			age = r.Person.AgeYears
		}
	}
	if r.Voice != nil {
		outs = append(outs, agency.Fact(r.Voice))
	}
	arrived, err := arrival(h, WalkedIn, at, age)
	if err != nil {
		return agency.OpenResponse{}, err
	}
	outs = append(outs, agency.Fact(arrived))
	return s.k.OpenEpisode(ctx, r.Request, r.Actor, outs)
}

// arrival is the arrival of a person of age (0: not known) at haven h:
// taken in, or not when the haven is not for their age, with the reason in
// the words of the directory and where they can go now instead.
func arrival(h places.Place, how string, at time.Time, age int) (*events.HavenArrived, error) {
	a := &events.HavenArrived{How: how, Haven: h.ID, ArrivedAt: at, Taken: true}
	if age <= 0 || h.ForAge(age) {
		return a, nil
	}
	d, err := directory()
	if err != nil {
		return nil, err
	}
	a.Taken = false
	a.NotTakenReason = h.Name + " is " + notFor(d, h, at, age) + ". " + elsewhere(d, h, at, age)
	return a, nil
}

// notFor is why haven h does not take a person of age, in the directory's words.
func notFor(d *places.Directory, h places.Place, at time.Time, age int) string {
	for _, o := range d.Route(places.Need{At: at, From: h.Town, Age: age, Kinds: []places.Kind{places.SafeHaven}}, nil) {
		if o.Place.ID != h.ID {
			continue
		}
		for _, why := range o.Why {
			if w, ok := strings.CutPrefix(why, "not for this person: it is "); ok {
				return w
			}
		}
	}
	return fmt.Sprintf("not for a person aged %d", age)
}

// elsewhere says where a person of age at haven h can go now, nearest first.
func elsewhere(d *places.Directory, h places.Place, at time.Time, age int) string {
	var where []string
	for _, o := range d.Route(places.Need{At: at, From: h.Town, Age: age}, nil) {
		if !o.Usable || o.Place.Kind == places.SafeHaven {
			continue
		}
		var about []string
		if o.Place.Kind != places.CrisisLine { // a phone line: where it is does not matter
			about = append(about, o.Place.Town)
			if o.Km >= 0 {
				about = append(about, fmt.Sprintf("%.0f km", o.Km))
			}
		}
		if o.Place.Phone != "" {
			about = append(about, "phone "+o.Place.Phone)
		}
		if o.Place.Hours.Always {
			about = append(about, "open day and night")
		} else {
			about = append(about, "open until "+o.Until.In(places.London).Format("15:04"))
		}
		where = append(where, o.Place.Name+" ("+strings.Join(about, ", ")+")")
		if len(where) == 3 {
			break
		}
	}
	if len(where) == 0 {
		return "Nowhere in the directory takes them at this hour: phone 999 if their life is at risk, or 111 (option 2)."
	}
	return "Where they can go now: " + strings.Join(where, "; ") + "."
}

// referredHow is how a person the haven accepted a referral for comes:
// brought by police when police referred them, else referred.
func referredHow(v *episode.View) (string, error) {
	if v.OpenedBy == events.SafeHaven {
		return WalkedIn, nil
	}
	for i := len(v.Handoffs) - 1; i >= 0; i-- {
		h := v.Handoffs[i]
		if h.To == events.SafeHaven && h.Kind == events.SafeHavenReferral && (h.State == episode.Accepted || h.State == episode.Completed) {
			if h.From == events.Police {
				return BroughtByPolice, nil
			}
			return Referred, nil
		}
	}
	return "", events.Errorf(events.Conflict, "the safe haven has not accepted a referral on episode %s: accept the safe_haven_referral first (a person who walks in is recorded with walkin)", v.Episode)
}

// Arrive records that a person the haven accepted a referral for arrived.
func (s *Service) Arrive(ctx context.Context, r ArriveRequest) (agency.Receipt, error) {
	h, err := haven(r.Haven)
	if err != nil {
		return agency.Receipt{}, err
	}
	at := s.at(r.ArrivedAt)
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if err := v.CheckOwner(events.SafeHaven); err != nil {
			return nil, err
		}
		if v.Haven.AtHaven() {
			return nil, events.Errorf(events.Conflict, "the person is at %s already, since %s", v.Haven.Haven, v.Haven.ArrivedAt.In(places.London).Format("15:04"))
		}
		how, err := referredHow(v)
		if err != nil {
			return nil, err
		}
		a, err := arrival(h, how, at, v.Person.AgeYears)
		if err != nil {
			return nil, err
		}
		return []agency.Out{agency.Fact(a)}, nil
	})
}

func atHaven(v *episode.View) error {
	if err := v.CheckActive(); err != nil {
		return err
	}
	if !v.Haven.AtHaven() {
		return events.Errorf(events.Conflict, "the person is not at the safe haven on episode %s: record their arrival first", v.Episode)
	}
	return nil
}

// Support records the support given during the visit.
func (s *Service) Support(ctx context.Context, r SupportRequest) (agency.Receipt, error) {
	d := r.HavenSupportGiven
	if d.Plan != "" && !slices.Contains(d.Support, "plan_made") {
		d.Support = append(slices.Clone(d.Support), "plan_made") // a plan given is a plan made
	}
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if err := atHaven(v); err != nil {
			return nil, err
		}
		return []agency.Out{agency.Fact(&d)}, nil
	})
}

// Leave records that the person went home or that 999 was called; an
// accepted referral is completed, so the service that referred the person
// sees how it ended.
func (s *Service) Leave(ctx context.Context, r LeaveRequest) (agency.Receipt, error) {
	left := events.HavenLeft{Outcome: r.Outcome, LeftAt: s.at(r.LeftAt), Detail: r.Detail}
	return s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		outs, err := s.leaving(v, left)
		if err != nil {
			return nil, err
		}
		if r.CloseEpisode {
			if err := v.CheckClose(events.SafeHaven); err != nil {
				return nil, err
			}
			outs = append(outs, agency.Fact(&events.EpisodeClosed{Reason: "left the safe haven: " + leftWords(left)}))
		}
		return outs, nil
	})
}

// HandOn records that the person left handed on, with the offer to the
// service that takes them. The offer comes first, so it carries every fact
// recorded during the visit.
func (s *Service) HandOn(ctx context.Context, r HandOnRequest) (HandOnResponse, error) {
	left := events.HavenLeft{Outcome: HandedOn, LeftAt: s.at(r.LeftAt), Detail: cmpOr(r.Detail, "to "+r.To.Title())}
	id := events.NewEpisodeID()
	rec, err := s.k.Do(ctx, r.Episode, r.Actor, func(v *episode.View) ([]agency.Out, error) {
		if err := v.CheckOwner(events.SafeHaven); err != nil {
			return nil, err
		}
		offer, err := s.k.OfferOut(v, id, handOnKinds[r.To], r.To, r.Reason, cmpOr(r.Urgency, "urgent"))
		if err != nil {
			return nil, err
		}
		outs, err := s.leaving(v, left)
		return append(offer, outs...), err
	})
	if err != nil {
		return HandOnResponse{Receipt: rec}, err
	}
	return HandOnResponse{Receipt: rec, HandoffID: id}, nil
}

// leaving is the person leaving the haven, and the completion of the
// referral the haven accepted for them, if any.
func (s *Service) leaving(v *episode.View, left events.HavenLeft) ([]agency.Out, error) {
	if err := v.CheckOwner(events.SafeHaven); err != nil {
		return nil, err
	}
	if err := atHaven(v); err != nil {
		return nil, err
	}
	outs := []agency.Out{agency.Fact(&left)}
	if h := agency.Accepted(v, events.SafeHaven, events.SafeHavenReferral); h != nil {
		c, err := s.k.CompleteOut(v, h.ID, "left the safe haven: "+leftWords(left))
		if err != nil {
			return nil, err
		}
		outs = append(outs, c...)
	}
	return outs, nil
}

func leftWords(l events.HavenLeft) string {
	w := map[string]string{WentHome: "went home", HandedOn: "handed on", Emergency999: "999 called"}[l.Outcome]
	if l.Detail != "" {
		w += ": " + l.Detail
	}
	return w
}

func cmpOr(v, d string) string {
	if v == "" {
		return d
	}
	return v
}

// onInbox declines at once a referral the havens cannot take now: every
// haven near the person (or, when where they are is not known, every
// haven) closed or closing within ReferralCutoff when the offer was made,
// full or closed tonight by their provider's word (the record's live
// directory), or the person under the havens' age. The reason names the next opening,
// or where the person can go instead; the referring service keeps the
// episode.
func (s *Service) onInbox(ctx context.Context, e events.Event) error {
	var offer events.HandoffOffered
	if e.DecodeInto(&offer) != nil || offer.Kind != events.SafeHavenReferral {
		return nil
	}
	_, err := s.k.Do(ctx, e.Subject, "", func(v *episode.View) ([]agency.Out, error) {
		h := v.Handoff(offer.HandoffID)
		if h == nil {
			return nil, agency.NotYetRead(e, offer.HandoffID)
		}
		if !h.State.Open() || v.CheckDecline(h.ID, events.SafeHaven) != nil {
			return nil, nil // answered or withdrawn meanwhile
		}
		reason, detail, err := cannotTake(v, e.Time, s.live(ctx, e))
		if err != nil || reason == "" {
			return nil, err
		}
		return []agency.Out{agency.Fact(&events.HandoffDeclined{HandoffID: h.ID, Reason: reason, Detail: detail}, events.To(h.From), events.CausedBy(e),
			events.By(events.SafeHaven.Title()+" inbox"), events.WithID(record.DeterministicID("safehaven-decline/"+h.ID)))}, nil
	})
	if err != nil {
		return fmt.Errorf("answer safe haven referral %s: %w", offer.HandoffID, err)
	}
	s.k.Log.Info("safe haven referral checked against the havens' hours", append(tracing.Fields(ctx), zap.String("episode", e.Subject), zap.String("handoff", offer.HandoffID))...)
	return nil
}

// cannotTake says why the havens cannot take the person of v at t (the
// decline's reason and words), or "" when one can.
func cannotTake(v *episode.View, t time.Time, live map[string]places.Option) (reason, detail string, err error) {
	d, err := directory()
	if err != nil {
		return "", "", err
	}
	near := nearest(v.Location)
	if len(near) == 0 {
		return "no_capacity", "the directory of places has no safe haven", nil
	}
	if age := v.Person.AgeYears; age > 0 && !slices.ContainsFunc(near, func(h places.Place) bool { return h.ForAge(age) }) {
		return "not_appropriate", near[0].Name + " is " + notFor(d, near[0], t, age) + ". " + elsewhere(d, near[0], t, age), nil
	}
	var why []string
	for _, h := range near {
		open, until := d.OpenAt(h, t)
		w := h.Name + " (" + h.Town + "): "
		if o, ok := live[h.ID]; ok && open && until.Sub(t) >= ReferralCutoff && !o.Usable && len(o.Why) > 0 {
			// Open by its hours, but its provider says it is full or
			// closed tonight: the referral is declined with their words.
			why = append(why, w+strings.Join(o.Why, "; "))
			continue
		}
		if open && until.Sub(t) >= ReferralCutoff {
			return "", "", nil
		}
		if open {
			w += fmt.Sprintf("closing at %s, in %d minutes, too late to take a referral", until.In(places.London).Format("15:04"), int(until.Sub(t).Minutes()))
			if next, ok := d.NextOpen(h, until); ok {
				w += "; it opens " + places.When(next, t)
			}
		} else {
			w += "closed at this hour"
			if next, ok := d.NextOpen(h, t); ok {
				w += "; it opens " + places.When(next, t)
			}
		}
		why = append(why, w)
	}
	return "no_capacity", strings.Join(why, ". "), nil
}

// live is what the havens' provider last said of each haven (full, closed
// tonight), as the record keeps it, for the moment the referral was made.
// When the record cannot say, the referral is judged on the havens' hours
// alone and the haven's people decide: a referral is never held up by it.
func (s *Service) live(ctx context.Context, offer events.Event) map[string]places.Option {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := rpc.Call[record.PlacesRequest, record.PlacesResponse](ctx, s.k.Bus.Conn(), record.PlacesSubject(events.SafeHaven),
		record.PlacesRequest{Kinds: []places.Kind{places.SafeHaven}, Referred: true, At: offer.Time})
	if err != nil {
		s.k.Log.Warn("the havens' live state could not be read; judging the referral on their hours alone",
			zap.String("episode", offer.Subject), zap.String("cause", logsafe.Cause(err)))
		return nil
	}
	out := make(map[string]places.Option, len(resp.Options))
	for _, o := range resp.Options {
		out[o.Place.ID] = o
	}
	return out
}

// nearest are the havens a person where the episode's location says can
// reach: the nearest to its town and any other within NearKm of it, nearest
// first; every haven when the location names no town of the directory. A
// referral is declined at once only when none of them can take the person:
// one haven full does not turn away a person another nearby can take.
func nearest(location string) []places.Place {
	hs, _ := Havens()
	loc := strings.ToLower(location)
	for _, town := range places.Towns() {
		if !strings.Contains(loc, strings.ToLower(town)) {
			continue
		}
		type near struct {
			h  places.Place
			km float64
		}
		var all []near
		for _, h := range hs {
			if d, ok := places.Km(town, h.Town); ok {
				all = append(all, near{h, d})
			}
		}
		if len(all) == 0 {
			break
		}
		slices.SortStableFunc(all, func(a, b near) int { return cmp.Compare(a.km, b.km) })
		out := []places.Place{all[0].h}
		for _, n := range all[1:] {
			if n.km <= NearKm {
				out = append(out, n.h)
			}
		}
		return out
	}
	return hs
}

// NearKm is how far from the person's town another haven counts as one
// they can reach tonight.
const NearKm = 30
