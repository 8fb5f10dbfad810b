package episode_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The domain (the contract's types, the episode fold and the law) stands
// apart from the transport: none of its packages imports NATS or the logger,
// so it can be read, tested and reused without a bus.
func TestTheDomainImportsNoNATS(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatalf("the go command is needed to list the domain's imports: %v", err)
	}
	out, err := exec.Command("go", "list", "-deps", "../events", "../episode", "../law").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list gave %d packages; want the domain's dependencies", len(deps))
	}
	for _, p := range deps {
		if strings.Contains(p, "nats-io") || strings.HasPrefix(p, "go.uber.org/zap") || strings.Contains(p, "crisisbus/events/natsbus") || strings.Contains(p, "crisisbus/services/") {
			t.Errorf("the domain depends on %s", p)
		}
	}
}
