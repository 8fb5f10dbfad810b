package console

import (
	"context"
	"strconv"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/crisisbus/crisisbus/services/safehaven"
)

// The safe haven's actions: a person walks in (the episode opens with the
// arrival), a referred person arrives, the support given, and how the visit
// ended: went home, 999, or handed on to SPoA or the crisis line with the
// record travelling. Its forms are in web/agency_safehaven.html.
var havenActions = map[string]action{
	"haven-walkin": {
		agencies: []events.Agency{events.SafeHaven},
		required: [][2]string{{"haven", "Choose which safe haven"}, {"summary", "Enter what brings them, in your words"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			at, err := in.when("arrivedAt")
			if err != nil {
				return "", "", err
			}
			age := 0
			if in.get("ageYears") != "" {
				if age, err = strconv.Atoi(in.get("ageYears")); err != nil || age < 1 || age > 130 {
					return "", "", fieldErr("ageYears", "Enter their age as a whole number of years, like 34, or leave it empty")
				}
			}
			// Whatever part of who they are the person gives is enough (a
			// first name, the name they go by, a description).
			p, err := person(in)
			if err != nil {
				return "", "", err
			}
			said, err := voice(in)
			if err != nil {
				return "", "", err
			}
			resp, err := rpc.Call[safehaven.WalkInRequest, agency.OpenResponse](ctx, c.nc, agency.Subject(in.agency, "walkin"), safehaven.WalkInRequest{
				Request: in.get("request"), Actor: in.actor, Haven: in.get("haven"), ArrivedAt: at, Summary: in.get("summary"), AgeYears: age, Person: p, Voice: said})
			if err != nil {
				return "", "", err
			}
			if resp.Repeated {
				return resp.Episode, sentAgain, nil
			}
			if n := len(resp.Receipt.Events); n > 0 {
				*in.last = resp.Receipt.Events[n-1]
			}
			return resp.Episode, "Walk-in recorded.", nil
		},
	},
	"haven-arrive": {
		agencies: []events.Agency{events.SafeHaven},
		required: [][2]string{{"haven", "Choose which safe haven"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			at, err := in.when("arrivedAt")
			if err != nil {
				return in.episode, "", err
			}
			err = call(ctx, c, in, in.agency, "visit.arrive", safehaven.ArriveRequest{Base: in.base(), Haven: in.get("haven"), ArrivedAt: at})
			return in.episode, "Arrival recorded.", err
		},
	},
	"haven-support": {
		agencies: []events.Agency{events.SafeHaven},
		first:    "support",
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			support := in.form["support"]
			if len(support) == 0 {
				return in.episode, "", fieldErr("support", "Choose the support given")
			}
			err := call(ctx, c, in, in.agency, "visit.support", safehaven.SupportRequest{Base: in.base(),
				HavenSupportGiven: events.HavenSupportGiven{Support: support, Plan: in.get("plan")}})
			return in.episode, "Support recorded.", err
		},
	},
	"haven-leave": {
		agencies: []events.Agency{events.SafeHaven},
		required: [][2]string{{"outcome", "Choose how the visit ended"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			at, err := in.when("leftAt")
			if err != nil {
				return in.episode, "", err
			}
			err = call(ctx, c, in, in.agency, "visit.leave", safehaven.LeaveRequest{Base: in.base(), Outcome: in.get("outcome"), LeftAt: at,
				Detail: in.get("detail"), CloseEpisode: in.yes("closeEpisode")})
			return in.episode, "Recorded that they left.", err
		},
	},
	"haven-handon": {
		agencies: []events.Agency{events.SafeHaven},
		required: [][2]string{{"to", "Choose who takes them on"}, {"reason", "Enter why, for the service that takes them"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			to := events.Agency(in.get("to"))
			err := call(ctx, c, in, in.agency, "visit.handon", safehaven.HandOnRequest{Base: in.base(), To: to, Reason: in.get("reason"), Detail: in.get("detail")})
			return in.episode, "Handed on to " + to.Title() + ", with everything recorded.", err
		},
	},
	"haven-close": {
		agencies: []events.Agency{events.SafeHaven},
		required: [][2]string{{"reason", "Enter why the episode closes"}},
		run: func(ctx context.Context, c *Server, in input) (string, string, error) {
			err := call(ctx, c, in, in.agency, "close", agency.CloseRequest{Base: in.base(), Reason: in.get("reason")})
			return in.episode, "Episode closed.", err
		},
	},
}

func init() { addActions(havenActions) }

// HavenSelect is a select field of the safe havens of the directory of
// places (places.Default), by name and town.
func (p page) HavenSelect(action, name, label, hint string) formField {
	var opts []string
	hs, _ := safehaven.Havens()
	for _, h := range hs {
		opts = append(opts, h.ID+"|"+h.Name+", "+h.Town)
	}
	return p.Select(action, name, label, hint, opts...)
}

// HavenName is a safe haven's name and town, by its id in the directory.
func (p page) HavenName(id string) string {
	hs, _ := safehaven.Havens()
	for _, h := range hs {
		if h.ID == id {
			return h.Name + ", " + h.Town
		}
	}
	return id
}
