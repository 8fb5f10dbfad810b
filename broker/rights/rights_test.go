package rights_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/crisisbus/crisisbus/broker"
	"github.com/crisisbus/crisisbus/broker/rights"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
	"github.com/crisisbus/crisisbus/internal/bustest"
	"github.com/crisisbus/crisisbus/internal/system"
	"github.com/crisisbus/crisisbus/services/agency"
	"github.com/crisisbus/crisisbus/services/record"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// client is an outside client holding one identity's password, as another
// agency's system written in any language would: it sees the server's
// refusals as they come.
type client struct {
	user string
	nc   *nats.Conn
	errs chan error
}

func dial(t *testing.T, sys *system.System, user string) *client {
	t.Helper()
	c := &client{user: user, errs: make(chan error, 64)}
	a := events.Agency(user)
	if user == rights.Admin {
		a = ""
	}
	nc, err := broker.ConnectAs(sys.URL, sys.Broker.Credentials(), a,
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { c.errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c.nc = nc
	return c
}

// refused reports whether the server refused the act on subject: a
// permissions violation naming it.
func (c *client) refused(subject string) error {
	if err := c.nc.Flush(); err != nil {
		return err
	}
	deadline := time.After(2 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if strings.Contains(err.Error(), "Permissions Violation") && strings.Contains(err.Error(), `"`+subject+`"`) {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("the server did not refuse it")
		}
	}
}

// An act is something an identity might try; the table decides whether the
// server lets it.
type act struct {
	what    string
	subject string
	sub     bool   // subscribe (else publish)
	queue   string // subscribe in this queue group
}

func pub(what, subject string) act { return act{what: what, subject: subject} }
func sub(what, subject string) act { return act{what: what, subject: subject, sub: true} }
func qsub(what, subject string) act {
	return act{what: what, subject: subject, sub: true, queue: "q"}
}

const api = natsbus.APIPrefix + "."

// forbidden lists what the identity must not be able to do: read or take
// what is another identity's, act as another, or change the streams.
func forbidden(id rights.Identity) []act {
	var out []act
	ep := events.NewEpisodeID()
	out = append(out,
		sub("listen to everything", ">"),
		sub("read every reply", "_INBOX.>"),
		sub("read every bucket's writes", "$KV.>"),
		sub("read every object store's writes", "$O.>"),
		sub("read JetStream's API traffic", "$JS.>"),
		sub("read dead letters as they are written", events.DeadLetterRoot+".>"),
		pub("create a stream (a copy of the event stream)", api+"STREAM.CREATE.COPY"),
		pub("change the event stream", api+"STREAM.UPDATE."+natsbus.Stream),
		pub("delete the event stream", api+"STREAM.DELETE."+natsbus.Stream),
		pub("purge the event stream", api+"STREAM.PURGE."+natsbus.Stream),
		pub("delete an event", api+"STREAM.MSG.DELETE."+natsbus.Stream),
		pub("list the streams", api+"STREAM.LIST"),
		pub("list the consumers", api+"CONSUMER.LIST."+natsbus.Stream),
		pub("read the dead letters", api+"CONSUMER.CREATE."+natsbus.DeadLetterStream+".peek"),
		pub("read a dead letter", api+"STREAM.MSG.GET."+natsbus.DeadLetterStream),
		pub("delete the dead-letter stream", api+"STREAM.DELETE."+natsbus.DeadLetterStream),
	)
	// No identity listens to events as they are published: the console
	// follows the stream, so it hears only what was stored.
	out = append(out, sub("listen to every event", events.AllSubjects()))
	if !id.ReadsStream {
		out = append(out,
			pub("read an event by sequence", api+"STREAM.MSG.GET."+natsbus.Stream),
			pub("read events directly", api+"DIRECT.GET."+natsbus.Stream),
			pub("read another agency's last event directly", api+"DIRECT.GET."+natsbus.Stream+".crisis.amhp."+ep+".assessment_completed_v1"),
			pub("read the stream's state", api+"STREAM.INFO."+natsbus.Stream),
			pub("make a consumer of every event", api+"CONSUMER.CREATE."+natsbus.Stream+"."+id.User+"-copy"),
			pub("make a consumer of every event, filter named", api+"CONSUMER.CREATE."+natsbus.Stream+"."+id.User+"-copy.crisis.>"),
			pub("make an ephemeral consumer of an episode", api+"CONSUMER.CREATE."+natsbus.Stream+".x1.crisis.*."+ep+".>"),
		)
		for _, d := range id.Durables {
			if d.Filter != "" {
				out = append(out,
					pub("widen its own consumer to every event", api+"CONSUMER.CREATE."+natsbus.Stream+"."+d.Name),
					pub("widen its own consumer to every event, filter named", api+"CONSUMER.CREATE."+natsbus.Stream+"."+d.Name+".crisis.>"))
			}
		}
	}
	for _, o := range rights.Table() {
		if o.User == id.User || o.All {
			continue
		}
		out = append(out, sub("read "+o.User+"'s replies", rights.InboxPrefix(o.User)+".>"))
		for _, p := range o.Serves {
			if slices.Contains(id.Serves, p) {
				continue
			}
			out = append(out,
				sub("read the requests "+o.User+" answers", p+".>"),
				qsub("take over the requests "+o.User+" answers", p+".>"))
			if !slices.Contains(id.Calls, "crisisbus.>") && !slices.Contains(id.Calls, p+".>") {
				out = append(out, pub("call "+o.User+"'s service", p+".handoff.accept"))
			}
		}
		if o.Publishes != "" && o.Publishes != id.Publishes {
			out = append(out, pub("publish as "+string(o.Publishes), "crisis."+string(o.Publishes)+"."+ep+".s136_detained_v1"))
		}
		for _, d := range o.Durables {
			s := natsbus.Stream + "." + d.Name
			out = append(out,
				pub("delete "+o.User+"'s consumer", api+"CONSUMER.DELETE."+s),
				pub("take "+o.User+"'s consumer over", api+"CONSUMER.CREATE."+s),
				pub("take "+o.User+"'s consumer over, filter named", api+"CONSUMER.CREATE."+s+".crisis.>"),
				pub("pull from "+o.User+"'s consumer", api+"CONSUMER.MSG.NEXT."+s),
				pub("acknowledge for "+o.User, "$JS.ACK."+s+".1.1.1.1.1.0"),
				pub("dead-letter for "+o.User, natsbus.DeadLetterSubject(d.Name, 1)))
			if !id.ReadsStream {
				out = append(out, pub("read "+o.User+"'s consumer configuration", api+"CONSUMER.INFO."+s))
			}
		}
		for _, b := range o.Buckets {
			ks := "KV_" + b.Name
			out = append(out,
				pub("write "+o.User+"'s bucket "+b.Name, "$KV."+b.Name+"."+ep),
				pub("write "+o.User+"'s bucket "+b.Name+" through the store's API", api+"$KV."+b.Name+"."+ep),
				sub("watch "+o.User+"'s bucket "+b.Name, "$KV."+b.Name+".>"),
				pub("read "+o.User+"'s bucket "+b.Name, api+"DIRECT.GET."+ks+".$KV."+b.Name+"."+ep),
				pub("read "+o.User+"'s bucket "+b.Name+" by sequence", api+"STREAM.MSG.GET."+ks),
				pub("list "+o.User+"'s bucket "+b.Name, api+"CONSUMER.CREATE."+ks+".x1.$KV."+b.Name+".>"),
				pub("purge "+o.User+"'s bucket "+b.Name, api+"STREAM.PURGE."+ks),
				pub("change "+o.User+"'s bucket "+b.Name, api+"STREAM.UPDATE."+ks),
				pub("delete "+o.User+"'s bucket "+b.Name, api+"STREAM.DELETE."+ks),
				pub("see "+o.User+"'s bucket "+b.Name, api+"STREAM.INFO."+ks))
		}
		for _, b := range o.Objects {
			obj := "OBJ_" + b.Name
			out = append(out,
				pub("write a chunk to "+o.User+"'s object store "+b.Name, "$O."+b.Name+".C.x1"),
				pub("write an object's metadata in "+o.User+"'s object store "+b.Name, "$O."+b.Name+".M.x1"),
				pub("read "+o.User+"'s object store "+b.Name, api+"DIRECT.GET."+obj+".$O."+b.Name+".M.x1"),
				pub("read "+o.User+"'s object store "+b.Name+" through a consumer", api+"CONSUMER.CREATE."+obj+".x1.$O."+b.Name+".C.x1"),
				pub("purge "+o.User+"'s object store "+b.Name, api+"STREAM.PURGE."+obj),
				pub("delete "+o.User+"'s object store "+b.Name, api+"STREAM.DELETE."+obj),
				pub("see "+o.User+"'s object store "+b.Name, api+"STREAM.INFO."+obj))
		}
	}
	return out
}

// needed lists what the identity must be able to do, each checked for real.
func needed(t *testing.T, sys *system.System, c *client, id rights.Identity) map[string]func(context.Context) error {
	n := map[string]func(context.Context) error{}
	bus, err := natsbus.NewBus(c.nc, id.Publishes, nil)
	if err != nil {
		t.Fatal(err)
	}
	js := bus.JetStream()
	n["subscribe to its own replies"] = func(context.Context) error {
		s, err := c.nc.SubscribeSync(rights.InboxPrefix(id.User) + ".x")
		if err != nil {
			return err
		}
		defer s.Unsubscribe()
		if err := c.refused(rights.InboxPrefix(id.User) + ".x"); err == nil {
			return fmt.Errorf("refused")
		}
		return nil
	}
	for _, d := range id.Durables {
		n["read its consumer "+d.Name] = func(ctx context.Context) error {
			cons, err := js.Consumer(ctx, natsbus.Stream, d.Name)
			if err != nil {
				return err
			}
			_, err = cons.Info(ctx)
			return err
		}
	}
	for _, b := range id.Buckets {
		n["write and read its bucket "+b.Name] = func(ctx context.Context) error {
			kv, err := rights.OpenBucket(ctx, js, b.Name)
			if err != nil {
				return err
			}
			if _, err := kv.Put(ctx, "rights-check", []byte(`{}`)); err != nil {
				return err
			}
			if _, err := kv.Get(ctx, "rights-check"); err != nil {
				return err
			}
			return kv.Delete(ctx, "rights-check")
		}
	}
	for _, b := range id.Objects {
		n["write and read its object store "+b.Name] = func(ctx context.Context) error {
			obs, err := js.ObjectStore(ctx, b.Name)
			if err != nil {
				return err
			}
			if _, err := obs.PutBytes(ctx, "rights-check", []byte("x")); err != nil {
				return err
			}
			if _, err := obs.PutBytes(ctx, "rights-check", []byte("replaced")); err != nil {
				return err
			}
			if got, err := obs.GetBytes(ctx, "rights-check"); err != nil || string(got) != "replaced" {
				return fmt.Errorf("read back %q: %v", got, err)
			}
			return obs.Delete(ctx, "rights-check")
		}
	}
	if id.ReadsStream {
		n["read the event stream"] = func(ctx context.Context) error {
			return bus.ReplayRaw(ctx, natsbus.ReplayConfig{}, func(natsbus.Stored) error { return nil })
		}
	}
	if a := id.Publishes; a.Pathway() {
		ep := events.NewEpisodeID()
		n["open an episode through its own service"] = func(ctx context.Context) error {
			resp, err := rpc.Call[agency.OpenRequest, agency.OpenResponse](ctx, c.nc, agency.Subject(a, "open"),
				agency.OpenRequest{Actor: "rights check", Channel: "999", Summary: "rights check"})
			if err != nil {
				return err
			}
			ep = resp.Episode
			return nil
		}
		n["publish its own fact"] = func(ctx context.Context) error {
			_, _, err := bus.Emit(ctx, events.NewEpisodeID(), &events.EpisodeOpened{Channel: "999", Summary: "rights check"})
			return err
		}
		n["read its own view of the record"] = func(ctx context.Context) error {
			_, err := rpc.Call[record.ViewRequest, record.ViewResponse](ctx, c.nc, record.ViewSubject(a),
				record.ViewRequest{Episode: ep, Viewer: "rights check", Purpose: "direct care", Reason: "a test reads every agency's view"})
			if rpc.CodeOf(err) == rpc.NotFound {
				return nil // answered: the episode is not yet in the record's projection
			}
			return err
		}
		n["read its own worklist"] = func(ctx context.Context) error {
			_, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](ctx, c.nc, record.WorklistSubject(a), record.WorklistRequest{Viewer: "rights check", Purpose: "rights check"})
			return err
		}
	}
	if id.User == rights.Console {
		for _, a := range events.Agencies {
			n["call "+string(a)+"'s worklist for its people"] = func(ctx context.Context) error {
				_, err := rpc.Call[record.WorklistRequest, record.WorklistResponse](ctx, c.nc, record.WorklistSubject(a), record.WorklistRequest{Viewer: "rights check", Purpose: "rights check"})
				return err
			}
		}
	}
	_ = sys
	return n
}

// The server, not the view, decides who reads and writes what: for every
// identity, every forbidden act is refused by the server and every act it
// needs works.
func TestEachIdentityCanDoWhatItNeedsAndNothingMore(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	sys, err := system.Start(ctx, system.Config{DataDir: t.TempDir(), Port: -1, HTTPAddr: "127.0.0.1:0", Log: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)

	refusedN, workedN := 0, 0
	for _, id := range rights.Table() {
		if id.All {
			continue
		}
		t.Run(id.User, func(t *testing.T) {
			c := dial(t, sys, id.User)
			for _, a := range forbidden(id) {
				var err error
				if a.sub {
					var s *nats.Subscription
					if a.queue != "" {
						s, err = c.nc.QueueSubscribe(a.subject, a.queue, func(*nats.Msg) {})
					} else {
						s, err = c.nc.Subscribe(a.subject, func(*nats.Msg) {})
					}
					if err == nil {
						err = c.refused(a.subject)
						_ = s.Unsubscribe()
					}
				} else if err = c.nc.Publish(a.subject, []byte(`{}`)); err == nil {
					err = c.refused(a.subject)
				}
				if err != nil {
					t.Errorf("%s could %s (%s %s): %v", id.User, a.what, map[bool]string{true: "subscribe", false: "publish"}[a.sub], a.subject, err)
					continue
				}
				refusedN++
			}
			for what, do := range needed(t, sys, c, id) {
				if err := do(ctx); err != nil {
					t.Errorf("%s cannot %s: %v", id.User, what, err)
					continue
				}
				workedN++
			}
		})
	}
	t.Logf("%d forbidden acts refused, %d needed acts work", refusedN, workedN)
}

// The cluster's nodes read each user's password hash from the environment:
// every variable's name is one a shell or a service manager can set.
func TestEveryPasswordVariableIsOneAShellCanSet(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	for _, u := range rights.Users() {
		if v := rights.PasswordEnv(u); !name.MatchString(v) {
			t.Errorf("user %s's password is read from %q, which no shell can export", u, v)
		}
	}
}
