package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/user"
	"sort"
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

func init() {
	commands["episode"] = command{"episode show ID --as AGENCY: print an agency's view of an episode (the read is recorded as a disclosure)", cmdEpisode}
	commands["call"] = command{"call AGENCY COMMAND JSON|-: send a command to an agency's service as that agency (e.g. call police s136.detain '{...}')", cmdCall}
}

// cmdCall sends one command to an agency's service, connected as that
// agency's user, and prints the JSON reply; a refusal is printed with its
// code and reason, and the exit code is 1.
func cmdCall(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "call", "AGENCY COMMAND JSON|- [flags]")
	var cf connFlags
	cf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	pos := fs.Args()
	if len(pos) != 3 {
		return usageError{"usage: crisisbus call AGENCY COMMAND JSON|-   (AGENCY: " + agencyList() + ", or record)"}
	}
	a, err := events.ParseAgency(pos[0])
	if err != nil || (!a.Pathway() && a != events.Record) {
		return usageError{fmt.Sprintf("agency %q: want one of %s, or record", pos[0], agencyList())}
	}
	body := []byte(pos[2])
	if pos[2] == "-" {
		if body, err = io.ReadAll(io.LimitReader(e.stdin, maxEventSize)); err != nil {
			return err
		}
	}
	if !json.Valid(body) {
		return usageError{"the request is not valid JSON"}
	}
	// Checked before connecting: a command name or an id the bus cannot
	// carry is the caller's mistake, said in words, never sent.
	for _, tok := range strings.Split(pos[1], ".") {
		if err := events.CheckToken("command", tok); err != nil {
			return usageError{fmt.Sprintf("%v (a command is like s136.detain or handoff.accept)", err)}
		}
	}
	subject := "crisisbus." + string(a) + "." + pos[1]
	if err := rpc.Check(subject, body); err != nil {
		return usageError{err.Error()}
	}
	nc, err := cf.connect(a)
	if err != nil {
		return err
	}
	defer nc.Close()
	reply, err := rpc.Call[json.RawMessage, json.RawMessage](ctx, nc, subject, json.RawMessage(body))
	if err != nil {
		var re *rpc.Error
		if errors.As(err, &re) {
			return fmt.Errorf("refused (%d): %s", re.Code, re.Message)
		}
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, reply, "", "  ") != nil {
		pretty.Write(reply)
	}
	fmt.Fprintln(e.stdout, pretty.String())
	return nil
}

func cmdEpisode(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "show" {
		return usageError{"usage: crisisbus episode show ID --as AGENCY [--viewer NAME] [--purpose WHY] [--reason WHY] [--json]"}
	}
	fs := newFlags(e, "episode show", "ID --as AGENCY [flags]")
	var cf connFlags
	cf.register(fs)
	as := fs.String("as", "", "the agency whose view to show: "+agencyList())
	viewer := fs.String("viewer", currentUser(), "who is looking (recorded in the disclosure)")
	purpose := fs.String("purpose", "reviewing the episode record", "why they are looking (recorded in the disclosure)")
	reason := fs.String("reason", "", "why, when the agency has no part in the episode (the record refuses without one; recorded in the disclosure)")
	asJSON := fs.Bool("json", false, "print the view as JSON")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Sprintf("give one episode id (got %d: %q)", fs.NArg(), fs.Args())}
	}
	id := fs.Arg(0)
	a, err := events.ParseAgency(*as)
	if err != nil || !a.Pathway() {
		return usageError{fmt.Sprintf("--as: give the agency whose view to show: %s", agencyList())}
	}
	if err := events.CheckID("episode id", id); err != nil {
		return usageError{err.Error()}
	}
	req := record.ViewRequest{Episode: id, Viewer: *viewer, Purpose: *purpose, Reason: *reason}
	if err := req.Validate(); err != nil {
		return usageError{strings.ReplaceAll(err.Error(), "\n", "; ")}
	}
	nc, err := cf.connect(a)
	if err != nil {
		return err
	}
	defer nc.Close()
	resp, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, nc, record.ViewSubject(a), req)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(resp)
	}
	raw := resp.View
	var v episode.View
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	printView(e.stdout, v, resp)
	return nil
}

func agencyList() string {
	var names []string
	for _, a := range events.Agencies {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

func currentUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "crisisbus command line"
}

// printView writes the view as a person in the agency reads it. Only the
// fields the agency may see were sent; what is absent is not printed.
func printView(w io.Writer, v episode.View, r record.ViewResponse) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	when := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }
	p("Episode %s, as the %s sees it", v.Episode, r.Agency.Title())
	state := "open"
	if v.Closed {
		state = "closed: " + v.ClosedReason
	}
	p("  owner:        %s (%s)", v.Owner.Title(), state)
	if v.Opened {
		p("  opened:       %s by %s (%s) %s", when(v.OpenedAt), v.OpenedBy.Title(), v.Channel, v.Location)
	}
	legal := v.LegalStatus
	if legal == "" {
		legal = "not detained"
	}
	p("  legal status: %s", legal)
	per := v.Person
	if name := strings.TrimSpace(per.GivenName + " " + per.FamilyName); name != "" || per.NHSNumber != "" {
		p("  person:       %s, born %s, aged %d, NHS number %s", name, dash(per.DateOfBirth), per.AgeYears, dash(per.NHSNumber))
	}
	if v.OwnWords != "" {
		p("  own words:    %q", v.OwnWords)
	}
	if len(v.Needs) > 0 {
		p("  needs:        %s %s", strings.Join(v.Needs, ", "), v.Language)
	}
	if v.WhoToContact != "" {
		p("  contact:      %s", v.WhoToContact)
	}
	if v.CrisisPlan != "" {
		p("  known plan:   %s", v.CrisisPlan)
	}
	for _, rk := range v.Risks {
		p("  risk:         %s %s (%s)", rk.Level, rk.What, rk.Agency.Title())
	}
	if s := v.S136; s != nil {
		p("  s136:         detained %s at a %s; place %s %s; ended %v", when(s.DetainedAt), s.LocationType, dash(string(s.PlaceType)), s.PlaceName, s.Ended)
	}
	if len(v.Handoffs) > 0 {
		p("Handoffs:")
		for _, h := range v.Handoffs {
			esc := ""
			if h.Escalated {
				esc = " ESCALATED"
			}
			p("  %s  %s -> %s  %s%s  (%d facts carried) %s", h.ID, h.From, h.To, h.State, esc, h.FactsCarried, h.Kind)
		}
	}
	p("Timeline:")
	for _, t := range v.Timeline {
		p("  %s  %-10s %s", when(t.Time), t.Agency, t.Text)
	}
	if len(v.Clinical) > 0 {
		p("Clinical record:")
		for _, c := range v.Clinical {
			p("  %s  %-10s %s: %s", when(c.Time), c.Agency, c.Kind, c.Text)
		}
	}
	for _, c := range v.Conflicts {
		p("Not applied: %s", c)
	}
	fields := append([]string(nil), r.Fields...)
	sort.Strings(fields)
	p("Disclosed to %s: %s (recorded as %s)", r.Agency, strings.Join(fields, ", "), r.DisclosureID)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
