package events

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
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
	token, ok := tokenOf[e.Type]
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownType, e.Type)
	}
	if err := errors.Join(CheckToken("source", string(e.Source)), CheckID("episode id", e.Subject)); err != nil {
		return "", fmt.Errorf("%w: event %s: %w", ErrInvalid, idOrBlank(e.ID), err)
	}
	if e.ToAgency != "" {
		if err := CheckToken("to-agency", string(e.ToAgency)); err != nil {
			return "", fmt.Errorf("%w: event %s: %w", ErrInvalid, idOrBlank(e.ID), err)
		}
		return SubjectRoot + "." + string(e.Source) + "." + e.Subject + "." + token + "." + string(e.ToAgency), nil
	}
	return SubjectRoot + "." + string(e.Source) + "." + e.Subject + "." + token, nil
}

// idOrBlank is id when it is a usable id, else a stand-in, so an error
// never repeats an over-long value.
func idOrBlank(id string) string {
	if CheckID("id", id) != nil {
		return "(without a usable id)"
	}
	return id
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

// What a caller gives may go into a subject or a key-value key only within
// these bounds. The NATS server reads a protocol line of at most 4096 bytes
// (PUB <subject> <reply> <size>, SUB, a JetStream API call naming a
// consumer's filter or a key): a longer one is answered "maximum control
// line exceeded" and the connection is closed for good (nats.go does not
// reconnect after it), so one over-long id would take a whole service off
// the bus. Every subject and key crisisbus builds from input is checked
// here first (Subject, ReplayRaw, the record's store, rights.OpenBucket's
// buckets, rpc.Decode and rpc.Call), and a refusal names the field and the
// limit.
const (
	// MaxIDLen bounds an episode, handoff or event id (crisisbus makes
	// 36-character UUIDs).
	MaxIDLen = 64
	// MaxTokenLen bounds one token of a subject: an agency, a command's name.
	MaxTokenLen = 64
	// MaxSubjectLen bounds a whole subject or subject filter.
	MaxSubjectLen = 512
	// MaxKeyLen bounds a key-value key.
	MaxKeyLen = 256
)

// ErrBadToken is wrapped by every refusal of CheckID, CheckToken,
// CheckSubject and CheckKey: the value cannot go on the bus (in rpc terms a
// 400, the caller's mistake).
var ErrBadToken = errors.New("not usable in a subject or key")

type badToken struct{ msg string }

func (b *badToken) Error() string        { return b.msg }
func (b *badToken) Is(target error) bool { return target == ErrBadToken }

func tooLong(field, s string, limit int) error {
	if n := utf8.RuneCountInString(s); n > limit {
		return &badToken{fmt.Sprintf("%s is too long: %d characters, at most %d", field, n, limit)}
	}
	return nil
}

// CheckID refuses an id that is empty, longer than MaxIDLen or holds
// anything but ASCII letters, digits, '-' and '_' (an id is one subject
// token and one key: no dots, spaces or wildcards). field names it in the
// refusal ("episode is too long: 5000 characters, at most 64").
func CheckID(field, id string) error {
	if id == "" {
		return &badToken{field + " is required"}
	}
	if err := tooLong(field, id, MaxIDLen); err != nil {
		return err
	}
	for _, r := range id {
		if !((r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '-' || r == '_') {
			return &badToken{field + " must be an id of letters, digits, '-' and '_' (no dots, spaces or wildcards)"}
		}
	}
	return nil
}

// CheckToken refuses one subject token (an agency, a part of a command's
// name) that is empty, longer than MaxTokenLen, or holds a dot, a wildcard,
// white space or a control character.
func CheckToken(field, tok string) error {
	if tok == "" {
		return &badToken{field + " is required"}
	}
	if err := tooLong(field, tok, MaxTokenLen); err != nil {
		return err
	}
	if strings.ContainsAny(tok, ".*>") || badRunes(tok) {
		return &badToken{field + " must be one subject token: no dots, wildcards, spaces or control characters"}
	}
	return nil
}

// CheckSubject refuses a subject or subject filter longer than
// MaxSubjectLen, with an empty token, or with white space or control
// characters.
func CheckSubject(field, subject string) error {
	if subject == "" {
		return &badToken{field + " is required"}
	}
	if err := tooLong(field, subject, MaxSubjectLen); err != nil {
		return err
	}
	if badRunes(subject) || slices.Contains(strings.Split(subject, "."), "") {
		return &badToken{field + " must be a subject: tokens separated by single dots, no spaces or control characters"}
	}
	return nil
}

// CheckKey refuses a key-value key that is empty or longer than MaxKeyLen
// (the key-value store checks its characters itself).
func CheckKey(key string) error {
	if key == "" {
		return &badToken{"key is required"}
	}
	return tooLong("key", key, MaxKeyLen)
}

func badRunes(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return true
		}
	}
	return false
}
