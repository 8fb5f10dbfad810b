package system

import (
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// AsyncAPI renders the AsyncAPI document of the whole contract
// (schemas/asyncapi.yaml): the catalogue's events, each described from its
// schema, who consumes them (Consumers), and every command the services
// answer (Commands) with the refusals they may answer with.
func AsyncAPI() ([]byte, error) {
	reg, err := events.Schemas()
	if err != nil {
		return nil, err
	}
	return events.AsyncAPI(func(s events.Spec) string { return reg.Description(s.Versioned()) }, Consumers(), Commands(), rpc.Refusals())
}

// CommandSchemas renders schemas/commands/: the JSON Schema of every
// command's request and reply, by file name.
func CommandSchemas() (map[string][]byte, error) { return events.CommandSchemas(Commands()) }
