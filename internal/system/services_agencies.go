package system

import (
	"context"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/ambulance"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/crisisline"
	"github.com/crisisbus/crisisbus/services/police"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/crisisbus/crisisbus/services/safehaven"
	"github.com/crisisbus/crisisbus/services/spoa"
)

// recordService is the episode record: the agencies ask it for an
// episode's state, so it starts before them.
var recordService = Service{Name: "episode-record", Agency: events.Record, Start: func(ctx context.Context, d Deps) (Stopper, error) {
	return record.Start(ctx, record.Config{Bus: d.Bus, Log: d.Log, Now: d.Now})
}}

// agencies are the agency services: how each starts, and its own
// commands (besides the common ones of package agency).
var agencies = []struct {
	agency   events.Agency
	start    func(context.Context, *agency.Kit) (*agency.Service, error)
	commands func(*agency.Kit) []rpc.Command
}{
	{events.Police, police.Start, police.Commands},
	{events.Ambulance, ambulance.Start, ambulance.Commands},
	{events.SPoA, spoa.Start, spoa.Commands},
	{events.AMHP, amhp.Start, amhp.Commands},
	{events.Crisisline, crisisline.Start, crisisline.Commands},
	{events.SafeHaven, safehaven.Start, safehaven.Commands},
}

// agencyServices are the agency services, each connected as its own
// NATS user (so the server enforces who may publish what).
func agencyServices() []Service {
	var out []Service
	for _, a := range agencies {
		out = append(out, Service{Name: string(a.agency), Agency: a.agency, Start: func(ctx context.Context, d Deps) (Stopper, error) {
			return a.start(ctx, &agency.Kit{Bus: d.Bus, Log: d.Log, Now: d.Now})
		}})
	}
	return out
}

// Commands lists every command the services answer, as the contract
// describes them (schemas/commands/, the AsyncAPI document): the record's
// and each agency's, from the lists the services serve.
func Commands() []events.Command { return rpc.Described(commands()) }

func commands() []rpc.Command {
	cmds := record.Commands(nil)
	for _, a := range agencies {
		k := &agency.Kit{}
		cmds = append(cmds, agency.Commands(a.agency, k, a.commands(k))...)
	}
	return cmds
}
