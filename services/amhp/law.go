package amhp

import (
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/services/episode"
	"github.com/crisisbus/crisisbus/services/rpc"
)

// The Mental Health Act 1983 rules the AMHP commands refuse to break, as
// small pure functions, to move next to the s136 clock in the shared law
// package when it lands.

// permitted is the s136 permitted period (s136(2A)); maxExtension the most
// an extension may add (s136B(1)).
const (
	permitted    = 24 * time.Hour
	maxExtension = 12
)

// checkExtension: s136B: the registered medical practitioner responsible
// for the examination may extend the permitted period by up to 12 hours,
// once, before the 24 hours expire, because the person's condition makes it
// not practicable to complete the assessment in time; if the person is held
// at a police station, an officer of at least the rank of superintendent
// must approve (s136B(3)).
func checkExtension(v *episode.View, now time.Time, hours int, doctor, superintendent string) error {
	s := v.S136
	if s == nil || s.Ended {
		return rpc.Errorf(rpc.Conflict, "no s136 detention is in force on episode %s", v.Episode)
	}
	if hours < 1 || hours > maxExtension {
		return rpc.Errorf(rpc.Forbidden, "an extension is of 1 to %d hours, not %d: MHA 1983 s136B(1)", maxExtension, hours)
	}
	if len(s.Extensions) > 0 {
		return rpc.Errorf(rpc.Forbidden, "the s136 period was already extended by %s: MHA 1983 s136B allows one extension", s.Extensions[0].Doctor)
	}
	start := s.ClockStart()
	if start.IsZero() {
		return rpc.Errorf(rpc.Conflict, "the s136 period has not started (the person has not arrived at a place of safety)")
	}
	if expiry := start.Add(permitted); !now.Before(expiry) {
		return rpc.Errorf(rpc.Forbidden, "the 24-hour s136 period expired at %s: an extension must be made before expiry, MHA 1983 s136B(1)", expiry.Format(time.RFC3339))
	}
	examining := false
	var names []string
	if v.Assessment != nil {
		for _, d := range v.Assessment.Doctors {
			names = append(names, d.Name)
			if strings.EqualFold(strings.TrimSpace(d.Name), strings.TrimSpace(doctor)) {
				examining = true
			}
		}
	}
	if !examining {
		return rpc.Errorf(rpc.Forbidden, "only the registered medical practitioner responsible for the examination may extend (allocated: %s), not %s: MHA 1983 s136B(1)", strings.Join(names, ", "), doctor)
	}
	if s.PlaceType == events.PoliceStation && strings.TrimSpace(superintendent) == "" {
		return rpc.Errorf(rpc.Forbidden, "the person is held at a police station: a superintendent must approve the extension, MHA 1983 s136B(3)")
	}
	return nil
}

// checkRecommendations: an application for admission under s2 or s3 needs
// two medical recommendations, one of them from a doctor approved under
// s12 (MHA 1983 s2(3), s3(3), s12(2)).
func checkRecommendations(outcome string, a *episode.Assessment) error {
	if outcome != "detained_s2" && outcome != "detained_s3" {
		return nil
	}
	var n, s12 int
	if a != nil {
		n = len(a.Doctors)
		for _, d := range a.Doctors {
			if d.S12Approved {
				s12++
			}
		}
	}
	if n < 2 || s12 < 1 {
		return rpc.Errorf(rpc.Forbidden, "detention under %s needs two medical recommendations, one from an s12-approved doctor (have %d doctors, %d s12-approved): MHA 1983 s%s(3), s12(2)",
			strings.TrimPrefix(outcome, "detained_"), n, s12, strings.TrimPrefix(outcome, "detained_s"))
	}
	return nil
}
