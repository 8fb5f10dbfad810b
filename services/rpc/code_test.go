package rpc_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/crisisbus/crisisbus/services/rpc"
)

// A store that cannot take a write is nobody's mistake and passes once the
// operator makes room: 503, not a 500 "fault" that sends people looking
// for a bug.
func TestAFullStoreIsUnavailableNotAFault(t *testing.T) {
	full := fmt.Errorf("publish s136.detained: %w", &jetstream.APIError{Code: 503, ErrorCode: 10023, Description: "insufficient resources"})
	if got := rpc.CodeOf(full); got != rpc.Unavailable {
		t.Fatalf("a write refused for insufficient resources: code %d, want %d", got, rpc.Unavailable)
	}
	if got := rpc.Reason(rpc.Unavailable, full); got[:17] != "store unavailable" {
		t.Fatalf("logged reason %q", got)
	}
	if got := rpc.CodeOf(errors.New("something broke")); got != rpc.Internal {
		t.Fatalf("a fault: code %d, want %d", got, rpc.Internal)
	}
}
