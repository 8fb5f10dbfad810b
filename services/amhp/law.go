package amhp

import (
	"strings"
	"time"

	"github.com/crisisbus/crisisbus/episode"
	"github.com/crisisbus/crisisbus/events"
	"github.com/crisisbus/crisisbus/law"
)

// What the AMHP commands refuse. The rules of the Act themselves are in
// package law; these read them against the episode.

// checkExtension: s136B, with the examining doctor being one of the doctors
// the AMHP service allocated to the assessment.
func checkExtension(v *episode.View, now time.Time, r ExtendRequest) error {
	s := v.S136
	if s == nil || s.Ended {
		return events.Errorf(events.Conflict, "no s136 detention is in force on episode %s", v.Episode)
	}
	err := law.CheckExtension(s.Detention(), law.ExtensionRequest{By: v.RoleOf(r.Doctor), Doctor: r.Doctor, Length: time.Duration(r.Hours) * time.Hour,
		Reason: r.Reason, SuperintendentApproval: r.SuperintendentApproval, At: now})
	if err != nil {
		return events.Errorf(events.Forbidden, "MHA 1983 %v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return nil
}

// checkRecommendations: detention under s2 or s3 needs two medical
// recommendations, one s12-approved (law.CheckRecommendations).
func checkRecommendations(outcome string, a *episode.Assessment) error {
	n, s12 := a.Recommendations()
	if err := law.CheckRecommendations(outcome, n, s12); err != nil {
		return events.Errorf(events.Forbidden, "MHA 1983 %v", err)
	}
	return nil
}
