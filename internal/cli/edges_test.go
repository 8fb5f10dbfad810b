package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crisisbus/crisisbus/internal/bustest"
)

// `crisisbus call amhp voice` with a 5,000-character episode id took the
// AMHP service off the bus (the id reached a subject through the record).
// Now the command line says what is wrong and exits 2 before it connects,
// and the running system goes on answering the next calls.
func TestCallWithA5000CharacterIDSaysWhatIsWrongAndTheSystemGoesOn(t *testing.T) {
	long := strings.Repeat("a", 5000)
	// Nothing listens on this address: each refusal below is made before connecting.
	nowhere := fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"call", "amhp", "voice", `{"episode":"` + long + `","actor":"AMHP Sarah Okafor","ownWords":"leave me be"}`},
			"episode is too long: 5000 characters, at most 64"},
		{[]string{"call", "amhp", "handoff.accept", `{"episode":"0b9f1c1e-4f5a-4c59-9a51-0d4c2f7d8e11","actor":"AMHP","handoffId":"` + long + `"}`},
			"handoffId is too long: 5000 characters, at most 64"},
		{[]string{"call", "amhp", long, `{}`}, "command is too long: 5000 characters, at most 64"},
		{[]string{"call", "amhp", "voice.*", `{}`}, "command must be one subject token"},
		{[]string{"episode", "show", long, "--as", "police"}, "episode id is too long: 5000 characters, at most 64"},
		{[]string{"episode", "show", "crisis.>", "--as", "police"}, "episode id must be an id of letters, digits"},
		{[]string{"episode", "show", "0b9f1c1e-4f5a-4c59-9a51-0d4c2f7d8e11", "--as", "police", "--purpose", long}, "purpose is too long: 5000 characters, at most 200"},
		{[]string{"deadletter", "list", "--consumer", long}, "--consumer is too long: 5000 characters, at most 64"},
	} {
		code, _, errOut := run(append(c.args, "--nats", nowhere, "--data", t.TempDir())...)
		if code != 2 || !strings.Contains(errOut, c.says) {
			t.Errorf("crisisbus %s …: exit %d, %q; want exit 2 saying %q", c.args[0], code, errOut, c.says)
		}
		if strings.Contains(errOut, "connect") || strings.Contains(errOut, "credentials") {
			t.Errorf("crisisbus %s …: tried to connect before checking: %s", c.args[0], errOut)
		}
	}

	// Against a running system: refused the same way, and the next calls work.
	dir := t.TempDir()
	url, _ := startUp(t, dir)
	code, _, errOut := run("call", "amhp", "voice", `{"episode":"`+long+`","actor":"AMHP Sarah Okafor"}`, "--data", dir, "--nats", url)
	if code != 2 || !strings.Contains(errOut, "episode is too long") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	code, out, errOut := run("call", "police", "open", `{"actor":"call handler 1123","channel":"999","summary":"man on the bridge"}`, "--data", dir, "--nats", url)
	if code != 0 {
		t.Fatalf("police open after the refusal: exit %d: %s", code, errOut)
	}
	var opened struct{ Episode string }
	if err := json.Unmarshal([]byte(out), &opened); err != nil || opened.Episode == "" {
		t.Fatalf("police open answered %q (%v)", out, err)
	}
	code, _, errOut = run("call", "amhp", "open", `{"actor":"AMHP Sarah Okafor","channel":"referral","summary":"request for an MHA assessment at home"}`, "--data", dir, "--nats", url)
	if code != 0 {
		t.Fatalf("amhp open after the refusal: exit %d: %s", code, errOut)
	}
	bustest.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		code, o, e := run("episode", "show", opened.Episode, "--as", "amhp", "--data", dir, "--nats", url, "--viewer", "AMHP Jo", "--reason", "offered the assessment by phone")
		if code != 0 || !strings.Contains(o, "man on the bridge") {
			return fmt.Errorf("exit %d: %s%s", code, o, e)
		}
		return nil
	})
}
