// Package rights is the one table of who may do what on crisisbus's bus.
//
// Each identity (an agency's service and its integrators, the episode
// record, the clock, the console, the admin tools) has one row: the events
// it may publish, the request-reply subjects it answers and may call, the
// durable consumers and key-value buckets it owns, and whether it may read
// the whole event stream. The embedded server's users (broker.Start) and the
// cluster's deploy/cluster/users.conf are both generated from this table,
// and a test fails when the file drifts from it.
//
// Why per-user subject permissions in one account rather than an account
// per agency: every agency writes to one event stream (the source of truth,
// with an expected-sequence check per episode across all its subjects), and
// an account per agency would need a service import of the stream's API,
// which the server cannot limit by consumer name or filter as finely as
// subject permissions can. In one account (UsersAccount), the server checks
// every publish and every subscription against the user's allow-list, the
// create-consumer subject names the consumer and its filter, and a responder
// may answer only the requests it received.
//
// Why the store is behind that account, not in it: JetStream sends from
// inside the server, where no user's permissions apply, to reply subjects
// its callers chose (the messages of a pull, the answer to an
// acknowledgement). Were JetStream in the users' account, a pull from an
// agency's own inbox with the reply subject $JS.API.STREAM.DELETE.CRISIS
// would have JetStream itself delete the event stream. So the users'
// account has no JetStream: the streams and their API are in the store's
// account (the embedded server's global account, where the store has
// always been, its directory and its key named after it; StoreAccount in
// the cluster), which gives the users' account only what Imports lists: the
// API under its own prefix (natsbus.APIPrefix), the subjects the streams
// store, acknowledgements and flow control, and the deliveries to each
// identity's inbox. A request crossing an import gets a reply subject of the
// server's making, whose answer goes back to the caller's account, never to
// the store's API. The permissions name the prefixed API, what clients
// publish to.
//
// Subscribing is as much a right as publishing: an identity subscribes only
// to its own inbox prefix (_INBOX_<user>), the commands it serves, and (the
// console alone) the live notices of new events.
package rights

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/events/natsbus"
)

// The non-agency users.
const (
	Admin   = "admin"   // provisioning and bulk tools: every right
	Console = "console" // the web console: calls services for the people signed in
)

// The accounts: every identity is a user of UsersAccount, which has no
// JetStream; the cluster keeps its streams in StoreAccount (the embedded
// server in its global account, $G) and gives UsersAccount what Imports
// lists.
const (
	UsersAccount = "CRISIS"
	StoreAccount = "STORE"
)

// Import is a subject the users' account takes from the store's account.
type Import struct {
	Subject string // in the store's account
	As      string // in the users' account
	// Stream: the store's deliveries on Subject reach the users' account
	// (a stream import); else requests on As reach the store as Subject,
	// and its answers come back (a service import).
	Stream bool
	// Streamed: the store answers a request with many messages (a pull's
	// batch, a direct read's), not one.
	Streamed bool
}

// Imports is all the users' account takes from the store's: the parts of
// the JetStream API crisisbus calls, under natsbus.APIPrefix (not the
// server's own: META, SERVER, ACCOUNT); a bucket's writes, which nats.go
// sends under the API's prefix too; the subjects the other streams store
// (events, dead letters, object stores); acknowledgements, flow control and
// a snapshot's chunk acknowledgements; and the deliveries to each
// identity's inbox (a bucket's watch, an object's read, a snapshot).
func Imports() []Import {
	var im []Import
	for _, p := range []struct {
		subj     string
		streamed bool // a pull's batch, a direct read's
	}{{"INFO", false}, {"STREAM.>", false}, {"CONSUMER.>", true}, {"DIRECT.>", true}} {
		im = append(im, Import{Subject: "$JS.API." + p.subj, As: api + p.subj, Streamed: p.streamed})
	}
	im = append(im, Import{Subject: "$KV.>", As: api + "$KV.>"})
	for _, subj := range []string{events.SubjectRoot + ".>", events.DeadLetterRoot + ".>", "$O.>", "$JS.ACK.>", "$JS.FC.>", "$JS.SNAPSHOT.ACK.>"} {
		im = append(im, Import{Subject: subj, As: subj})
	}
	for _, u := range Users() {
		im = append(im, Import{Subject: InboxPrefix(u) + ".>", As: InboxPrefix(u) + ".>", Stream: true})
	}
	return im
}

// Durable consumers on the event stream, each owned by one identity.
const (
	RecordDurable = "episode-record" // the episode record's projection
	AuditDurable  = "audit-log"      // the operator's log of every event
	ClockDurable  = "clock"          // the clock service
)

// InboxDurable is agency a's inbox consumer: every event addressed to it.
func InboxDurable(a events.Agency) string { return string(a) + "-inbox" }

// Key-value buckets, each owned by one identity.
const (
	EpisodesBucket    = "EPISODES"            // the record: episode id → view
	DisclosuresBucket = "EPISODE_DISCLOSURES" // the record: who saw what, why
	PeopleBucket      = "EPISODE_PEOPLE"      // the record: person keys → episodes
	ClocksBucket      = "crisis_clocks"       // the clock: one record per clock
	SessionsBucket    = "console_sessions"    // the console: sign-in sessions
)

// ReportsBucket is the console's object store of the report projection's
// snapshots (services/reports): the console writes it, the admin's
// `crisisbus report` reads it.
const ReportsBucket = "reports_snapshots"

// SessionTTL is how long a console session lives: one long shift.
const SessionTTL = 12 * time.Hour

// InboxPrefix is the prefix of the reply subjects of user's requests; the
// user alone may subscribe under it. A client in any language must set it
// (nats.go: nats.CustomInboxPrefix), or it receives no replies; and call
// the JetStream API under natsbus.APIPrefix.
func InboxPrefix(user string) string { return "_INBOX_" + user }

// IsInbox reports whether subject is under an identity's inbox prefix: the
// only reply subject a service answers. The server lets a service publish
// its answer to whatever reply subject the caller named, wherever that is
// (a bucket's key, the JetStream API, the event stream), so the service,
// not the server, must check it.
// It is asked at every request a service handles, so it looks the user up
// in a set made once rather than building the table each time.
func IsInbox(subject string) bool {
	rest, ok := strings.CutPrefix(subject, InboxPrefix(""))
	if !ok {
		return false
	}
	user, _, ok := strings.Cut(rest, ".")
	return ok && inboxUsers()[user]
}

// inboxUsers is the set of users (no name holds a dot: it ends the prefix).
var inboxUsers = sync.OnceValue(func() map[string]bool {
	set := map[string]bool{}
	for _, u := range Users() {
		set[u] = true
	}
	return set
})

// Durable is a durable consumer an identity owns on the event stream.
type Durable struct {
	Name string
	// Filter is the only filter the consumer may have; "" lets the owner
	// choose (only for identities that read the whole stream anyway).
	Filter string
}

// Bucket is a key-value bucket an identity owns.
type Bucket struct {
	Name        string
	Description string
	TTL         time.Duration // 0: values live until deleted
	// Unsynced: the server acknowledges a write before it reaches the disk
	// (JetStream's async persist mode), and syncs the bucket every
	// UnsyncedWindow. Only for what is rebuilt from the event stream, whose
	// owner finds and restores what a crash took (the record's views: see
	// services/record, catchup.go). Single-node only: a replicated bucket
	// keeps its writes through its replicas instead.
	Unsynced bool
}

// StoreStartedKey is the key in the views bucket under which the broker
// writes a new value each time the store starts (broker/storemark.go): the
// record, seeing it change, checks its projection from its checkpoint, as
// the views bucket may have lost writes the server acknowledged. It is not
// an episode id (an episode id has no dot).
const StoreStartedKey = "store.started"

// UnsyncedWindow is how often the server syncs an Unsynced bucket to disk
// (the broker's sync interval): a crash of the machine loses at most the
// writes of the last window or two.
const UnsyncedWindow = 10 * time.Second

// Identity is one row of the table.
type Identity struct {
	User  string
	About string
	// Publishes is the agency whose events it publishes (crisis.<agency>.>); "" none.
	Publishes events.Agency
	// Serves are the request-reply subject prefixes it answers
	// (crisisbus.police answers crisisbus.police.>), and Services the names
	// of its `micro` services (for $SRV discovery).
	Serves   []string
	Services []string
	// Calls are the request subjects it may send (wildcards allowed).
	Calls []string
	// Durables are its consumers on the event stream.
	Durables []Durable
	// ReadsStream lets it read every stored event (the record folds them,
	// the clock keeps time by them, the console's reports count them).
	ReadsStream bool
	// Buckets are the key-value buckets it owns.
	Buckets []Bucket
	// Objects are the object stores it owns (TTL unused).
	Objects []Bucket
	// All is every right: the admin user alone.
	All bool
}

// Agency returns the row of a pathway agency: it publishes its own facts,
// answers its own commands, calls its own commands and its own view of the
// record, and reads only what is addressed to it (its inbox).
func Agency(a events.Agency) Identity {
	return Identity{
		User:      string(a),
		About:     a.Title() + ": its service",
		Publishes: a,
		Serves:    []string{"crisisbus." + string(a)},
		Services:  []string{"crisisbus-" + string(a)},
		Calls:     []string{"crisisbus." + string(a) + ".>", "crisisbus.record." + string(a) + ".>"},
		Durables:  []Durable{{Name: InboxDurable(a), Filter: events.InboxSubjects(a)}},
	}
}

// Integration returns the row of agency a's own systems (a control room's
// dispatch system, a trust's patient record) and the tools its digital team
// runs (`crisisbus publish`): they publish the agency's facts and call its
// commands and its view of the record, as its service does, but answer no
// request and read no inbox. A client of those systems, however hostile,
// cannot take the agency's requests or deliveries from its service, nor
// answer for it.
func Integration(a events.Agency) Identity {
	return Identity{
		User:      IntegrationUser(a),
		About:     a.Title() + ": its own systems and tools (integrations)",
		Publishes: a,
		Calls:     []string{"crisisbus." + string(a) + ".>", "crisisbus.record." + string(a) + ".>"},
	}
}

// IntegrationUser is the user of agency a's own systems.
func IntegrationUser(a events.Agency) string { return string(a) + "-integration" }

// Table is every identity, the admin first.
func Table() []Identity {
	t := []Identity{
		{User: Admin, About: "provisioning, import, export, reports and recovery from the command line", All: true},
		{User: Console, About: "the web console: calls each agency's services for the people signed in to it",
			Calls: []string{"crisisbus.>"}, ReadsStream: true,
			Buckets: []Bucket{{Name: SessionsBucket, Description: "crisisbus console sign-in sessions", TTL: SessionTTL}},
			Objects: []Bucket{{Name: ReportsBucket, Description: "crisisbus reports: snapshots of the report projection, with the stream sequence each holds through"}}},
		{User: string(events.Record), About: "the episode record: each agency's view, every read recorded as a disclosure",
			Publishes: events.Record, Serves: []string{"crisisbus.record"}, Services: []string{"crisisbus-record"},
			Durables:    []Durable{{Name: RecordDurable}, {Name: AuditDurable}},
			ReadsStream: true,
			Buckets: []Bucket{
				{Name: EpisodesBucket, Description: "crisisbus episode record: one view per episode", Unsynced: true},
				{Name: DisclosuresBucket, Description: "crisisbus episode record: who saw what, why"},
				{Name: PeopleBucket, Description: "crisisbus episode record: person keys to episodes"},
			}},
		{User: string(events.Clock), About: "the clocks: s136, welfare checks, handoffs, follow-up calls",
			Publishes: events.Clock, Durables: []Durable{{Name: ClockDurable}}, ReadsStream: true,
			Buckets: []Bucket{{Name: ClocksBucket, Description: "crisisbus clocks: one record per legal or handoff clock, with what has fired"}}},
	}
	for _, a := range events.Agencies {
		t = append(t, Agency(a), Integration(a))
	}
	return t
}

// Lookup returns the row of user.
func Lookup(user string) (Identity, error) {
	for _, id := range Table() {
		if id.User == user {
			return id, nil
		}
	}
	return Identity{}, fmt.Errorf("no identity %q on the bus (want one of %v)", user, Users())
}

// Users lists every user of the table.
func Users() []string {
	var out []string
	for _, id := range Table() {
		out = append(out, id.User)
	}
	return out
}

// Buckets lists every bucket of the table, for provisioning.
func Buckets() []Bucket {
	var out []Bucket
	for _, id := range Table() {
		out = append(out, id.Buckets...)
	}
	return out
}

// Objects lists every object store of the table, for provisioning.
func Objects() []Bucket {
	var out []Bucket
	for _, id := range Table() {
		out = append(out, id.Objects...)
	}
	return out
}

// Subjects are an identity's rights as NATS subject permissions.
type Subjects struct {
	PublishAllow, PublishDeny, SubscribeAllow []string
	// Responds: it may answer the requests it receives (one reply each).
	Responds bool
}

// api is the JetStream API as the identities call it.
const api = natsbus.APIPrefix + "."

// Subjects derives the identity's NATS permissions. An identity with All
// has none: it may do everything.
func (id Identity) Subjects() Subjects {
	if id.All {
		return Subjects{}
	}
	var s Subjects
	pub := func(subj ...string) { s.PublishAllow = append(s.PublishAllow, subj...) }
	sub := func(subj ...string) { s.SubscribeAllow = append(s.SubscribeAllow, subj...) }

	sub(InboxPrefix(id.User) + ".>")
	if id.Publishes != "" {
		pub(events.PublishedBy(id.Publishes))
	}
	for _, p := range id.Serves {
		sub(p + ".>")
		s.Responds = true
	}
	for _, name := range id.Services {
		sub("$SRV.PING", "$SRV.INFO", "$SRV.STATS", "$SRV.*."+name, "$SRV.*."+name+".>")
	}
	pub(id.Calls...)
	for _, name := range id.Services {
		pub("$SRV.*." + name) // ask its own service's stats, as an operator would
	}
	stream := natsbus.Stream
	for _, d := range id.Durables {
		if d.Filter != "" {
			pub(api + "CONSUMER.CREATE." + stream + "." + d.Name + "." + d.Filter)
		} else {
			pub(api+"CONSUMER.CREATE."+stream+"."+d.Name, api+"CONSUMER.CREATE."+stream+"."+d.Name+".>")
		}
		pub(api+"CONSUMER.INFO."+stream+"."+d.Name, api+"CONSUMER.MSG.NEXT."+stream+"."+d.Name,
			"$JS.ACK."+stream+"."+d.Name+".>", events.DeadLetterRoot+"."+d.Name+".*")
	}
	if id.ReadsStream {
		// Ordered, ephemeral consumers over the stream, and direct reads;
		// never another identity's durable consumer.
		pub(api+"STREAM.INFO."+stream, api+"STREAM.MSG.GET."+stream, api+"DIRECT.GET."+stream, api+"DIRECT.GET."+stream+".>",
			api+"CONSUMER.CREATE."+stream+".*", api+"CONSUMER.CREATE."+stream+".*.>",
			api+"CONSUMER.INFO."+stream+".*", api+"CONSUMER.MSG.NEXT."+stream+".*",
			api+"CONSUMER.DELETE."+stream+".*", "$JS.FC."+stream+".>")
		// The consumers it makes may dead-letter too, and a read of an
		// episode sets aside, once, a stored message it cannot use
		// (natsbus.DeadLetterSubject: deadletter.<consumer>.<sequence>).
		pub(events.DeadLetterRoot + ".*.*")
		for _, other := range Table() {
			if other.User == id.User {
				continue
			}
			for _, d := range other.Durables {
				s.PublishDeny = append(s.PublishDeny,
					api+"CONSUMER.CREATE."+stream+"."+d.Name, api+"CONSUMER.CREATE."+stream+"."+d.Name+".>",
					api+"CONSUMER.DELETE."+stream+"."+d.Name, api+"CONSUMER.MSG.NEXT."+stream+"."+d.Name,
					events.DeadLetterRoot+"."+d.Name+".*")
			}
		}
	}
	for _, b := range id.Buckets {
		ks := "KV_" + b.Name
		pub(api+"$KV."+b.Name+".>", // nats.go writes a bucket under the API's prefix
			api+"STREAM.INFO."+ks, api+"STREAM.MSG.GET."+ks, api+"DIRECT.GET."+ks, api+"DIRECT.GET."+ks+".>",
			api+"CONSUMER.CREATE."+ks+".>", api+"CONSUMER.CREATE."+ks+".*", api+"CONSUMER.INFO."+ks+".*",
			api+"CONSUMER.MSG.NEXT."+ks+".*", api+"CONSUMER.DELETE."+ks+".*", "$JS.FC."+ks+".>")
	}
	for _, o := range id.Objects {
		// An object's chunks and metadata; replacing an object purges its
		// old chunks; reading it is an ordered consumer delivering to the
		// identity's own inbox.
		obj := "OBJ_" + o.Name
		pub("$O."+o.Name+".>",
			api+"STREAM.INFO."+obj, api+"STREAM.MSG.GET."+obj, api+"DIRECT.GET."+obj, api+"DIRECT.GET."+obj+".>",
			api+"STREAM.PURGE."+obj,
			api+"CONSUMER.CREATE."+obj, api+"CONSUMER.CREATE."+obj+".>", api+"CONSUMER.CREATE."+obj+".*", api+"CONSUMER.INFO."+obj+".*",
			api+"CONSUMER.MSG.NEXT."+obj+".*", api+"CONSUMER.DELETE."+obj+".*", "$JS.FC."+obj+".>")
	}
	s.PublishAllow = uniq(s.PublishAllow)
	s.PublishDeny = uniq(s.PublishDeny)
	s.SubscribeAllow = uniq(s.SubscribeAllow)
	return s
}

func uniq(x []string) []string {
	out := []string{}
	for _, v := range x {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// UsersConf renders the cluster's accounts and users from the table:
// deploy/cluster/users.conf is this text, and a test fails when it is not.
// Passwords are bcrypt hashes from the environment
// (CRISISBUS_<USER>_PASSWORD), which nats-server expands.
func UsersConf() string {
	var b strings.Builder
	b.WriteString(`# Generated from broker/rights (the one table of who may do what): do not
# edit by hand; run ` + "`go test ./deploy -run TestClusterUsers -update`" + `.
# deploy/deploy_test.go fails when this file and the table differ.
#
# Passwords are bcrypt hashes taken from the environment (nats-server expands
# $VARIABLES): generate each with a bcrypt tool and give each service its own
# plain password (crisisbus serve --password, or --credentials).
# Every client must use its own inbox prefix, _INBOX_<user>, and call the
# JetStream API under ` + natsbus.APIPrefix + ` (nats.go: jetstream.NewWithAPIPrefix).
#
# Every user is in the account ` + UsersAccount + `, which has no JetStream: the streams
# are in ` + StoreAccount + `, which no one signs in to, and ` + UsersAccount + ` has only what
# ` + StoreAccount + ` exports to it (see broker/rights).
accounts {
  ` + StoreAccount + ` {
    jetstream: enabled
    exports = [
`)
	list := func(x []string) string {
		q := make([]string, len(x))
		for i, v := range x {
			q[i] = fmt.Sprintf("%q", v)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	for _, im := range Imports() {
		switch {
		case im.Stream:
			fmt.Fprintf(&b, "      { stream: %q, accounts: [%s] }\n", im.Subject, UsersAccount)
		case im.Streamed:
			fmt.Fprintf(&b, "      { service: %q, accounts: [%s], response_type: stream }\n", im.Subject, UsersAccount)
		default:
			fmt.Fprintf(&b, "      { service: %q, accounts: [%s] }\n", im.Subject, UsersAccount)
		}
	}
	b.WriteString("    ]\n  }\n  " + UsersAccount + " {\n    imports = [\n")
	for _, im := range Imports() {
		kind := "service"
		if im.Stream {
			kind = "stream"
		}
		fmt.Fprintf(&b, "      { %s: { account: %s, subject: %q }", kind, StoreAccount, im.Subject)
		if im.As != im.Subject {
			fmt.Fprintf(&b, ", to: %q", im.As)
		}
		b.WriteString(" }\n")
	}
	b.WriteString("    ]\n    users = [\n")
	for _, id := range Table() {
		fmt.Fprintf(&b, "      # %s: %s\n", id.User, id.About)
		fmt.Fprintf(&b, "      { user: %s, password: $%s", id.User, PasswordEnv(id.User))
		if id.All {
			b.WriteString(" }\n")
			continue
		}
		s := id.Subjects()
		b.WriteString("\n        permissions: {\n")
		fmt.Fprintf(&b, "          publish: {\n            allow: %s\n", list(s.PublishAllow))
		if len(s.PublishDeny) > 0 {
			fmt.Fprintf(&b, "            deny: %s\n", list(s.PublishDeny))
		}
		b.WriteString("          }\n")
		fmt.Fprintf(&b, "          subscribe: { allow: %s }\n", list(s.SubscribeAllow))
		if s.Responds {
			b.WriteString("          allow_responses: { max: 1, expires: \"1m\" }\n")
		}
		b.WriteString("        }\n      }\n")
	}
	b.WriteString("    ]\n  }\n}\n")
	return b.String()
}

// PasswordEnv is the environment variable holding user's bcrypt hash in the
// cluster configuration.
func PasswordEnv(user string) string {
	// A variable's name is letters, digits and _: police-integration's
	// password is CRISISBUS_POLICE_INTEGRATION_PASSWORD.
	return "CRISISBUS_" + strings.ToUpper(strings.ReplaceAll(user, "-", "_")) + "_PASSWORD"
}
