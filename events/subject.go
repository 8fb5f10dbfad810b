package events

import (
	"fmt"
	"strings"
)

// The subject scheme, the one place it is written:
//
//	crisis.<agency>.<episode>.<type>[.<to-agency>]
//
// <agency> is the publisher (the CloudEvents source), so the NATS server's
// per-agency publish permissions (crisis.<agency>.>) enforce authorship.
// <episode> is the episode id, so crisis.*.<episode>.> is one episode's
// timeline. <type> is the versioned type as one token (s136_detained_v1).
// <to-agency> is present on addressed events (handoffs), so an agency's inbox
// is crisis.*.*.*.<agency>.
const (
	SubjectRoot = "crisis"
	// DeadLetterRoot starts the subjects of the dead-letter stream:
	// deadletter.<consumer>.
	DeadLetterRoot = "deadletter"
)

// Subject returns the NATS subject an event is published on.
func Subject(e Event) (string, error) {
	spec, ok := Lookup(e.Type)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	if e.Source == "" || e.Subject == "" || strings.ContainsAny(e.Subject, ".*> \t") {
		return "", fmt.Errorf("%w: event %s needs a source and an episode id without dots or wildcards", ErrInvalid, e.ID)
	}
	s := SubjectRoot + "." + string(e.Source) + "." + e.Subject + "." + spec.Token()
	if e.ToAgency != "" {
		s += "." + string(e.ToAgency)
	}
	return s, nil
}

// AllSubjects matches every event.
func AllSubjects() string { return SubjectRoot + ".>" }

// EpisodeSubjects matches one episode's timeline.
func EpisodeSubjects(episode string) string { return SubjectRoot + ".*." + episode + ".>" }

// InboxSubjects matches the events addressed to an agency.
func InboxSubjects(a Agency) string { return SubjectRoot + ".*.*.*." + string(a) }

// PublishedBy matches everything an agency publishes.
func PublishedBy(a Agency) string { return SubjectRoot + "." + string(a) + ".>" }

// TypeSubjects matches every event of one type, addressed or not. It returns
// two filters because an addressed event has one more token.
func TypeSubjects(s Spec) []string {
	if s.Addressed {
		return []string{SubjectRoot + ".*.*." + s.Token() + ".*"}
	}
	return []string{SubjectRoot + ".*.*." + s.Token()}
}
