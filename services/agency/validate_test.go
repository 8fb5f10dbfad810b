package agency_test

import (
	"testing"

	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/ambulance"
	"github.com/crisisbus/crisisbus/services/amhp"
	"github.com/crisisbus/crisisbus/services/crisisline"
	"github.com/crisisbus/crisisbus/services/rpc"
	"github.com/crisisbus/crisisbus/services/spoa"
)

// A request that embeds Base validates with Base.Validate unless it has its
// own: never with none (two embedded fields both declaring Validate would
// leave the request without one, silently). Each refuses an empty request.
func TestEveryCommandRequestRefusesAnEmptyRequest(t *testing.T) {
	for _, v := range []any{&agency.AdviceRequest{}, &agency.StreetOutcomeRequest{}, &agency.IdentifyRequest{}, &agency.VoiceRequest{},
		&ambulance.CallRequest{}, &agency.PlaceRequest{}, &amhp.DoctorRequest{}, &amhp.DelayRequest{},
		&crisisline.ScheduleRequest{}, &crisisline.ContactRequest{}, &spoa.AllocateRequest{}} {
		val, ok := v.(rpc.Validator)
		if !ok {
			t.Errorf("%T has no Validate", v)
			continue
		}
		if val.Validate() == nil {
			t.Errorf("%T: empty request validated", v)
		}
	}
}
