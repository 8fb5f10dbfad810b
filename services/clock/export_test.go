package clock

import "context"

// For the external tests: the id a clock event gets, and a clock's key.
var (
	EventID = eventID
	S136Key = s136Key
)

// BeforeFire calls f between reading an episode and publishing what is due
// on its clocks, as a fact stored meanwhile (or missing from a replica a
// moment behind) would be.
func (s *Service) BeforeFire(f func(episode string)) { s.beforeFire.Store(&f) }

// AfterEpisodeRebuilt calls f after each episode a rebuild of the clocks
// has read again, with the rebuild's context: f may stop the rebuild there,
// as a process killed part-way would.
func (s *Service) AfterEpisodeRebuilt(f func(ctx context.Context, episode string)) {
	s.rebuiltOne.Store(&f)
}
