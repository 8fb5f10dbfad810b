// Package reports draws the partnership's crisis pathway tables from the
// event stream: s136 assessments by outcome with the conversion rate (seed
// 003 §4.3.6), street triage referrals and s136 avoided (003 §4.4.7), length
// of detention, assessment delays by cause, helpline follow-up, places of
// safety used, and safe haven visits (seed 002).
//
// The tables are a projection of the stream, never a second record: a
// Projection is built only by applying stored events, so it can always be
// rebuilt by replaying the stream (Rebuild). The report page's Service
// keeps one up to date event by event and saves it as a snapshot with the
// stream sequence it holds through (Snapshots, snapshot.go); `crisisbus
// report` builds from the newest snapshot that reads back whole and the
// events stored after it, or, with none, from the whole stream (Build).
// Applying the same stream sequence twice counts it once.
//
// Months are calendar months in Europe/London time (GMT or BST), whatever
// the zone of the timestamp. What is counted, and when:
//
//   - s136: each assessment.completed, in the month of its completedAt, in
//     the row of its outcome. Rows are the outcomes found in the data,
//     labelled as the partnership's table labels them (detained_s2 and
//     detained_s3: "Admitted Sectioned"; informal_admission: "Admitted
//     Informal"; not_admitted: "Not Admitted"), in alphabetical order, then
//     "Grand Total" and "Conversion Rate": the share of assessments ending in
//     admission, under section or informally.
//   - triage: "Total Referrals" counts street_triage.dispatched and "Total
//     S136 Avoided" counts street_triage.outcome with s136Avoided, each in
//     the month of the event's time.
//   - detention: each s136 detention of an episode (from one s136.detained
//     to the next: a person detained again in the same episode is a second
//     detention) runs from arrival at the first place of safety
//     (place_of_safety.arrived arrivedAt), or from the decision to keep the
//     person where they are (s136.detained with keptWhereTheyAre,
//     detainedAt), to the first assessment.completed completedAt or
//     s136.released releasedAt; it is counted in the month it ended (median,
//     90th percentile and longest, nearest-rank). The facts are read by the
//     law's own function, as the clock reads them (law.Detention.Apply).
//     Extensions are each detention's lawful s136.extended, in the month of
//     extendedAt: the first the Act allows (made while the period ran and
//     before the detention ended, at a police station with a
//     superintendent's approval); one refused extends nothing (s136B).
//     A 24h breach is counted once per detention, from the facts alone
//     (never from clock.breached, so the same data gives the same table
//     with or without a clock service), in the month the permitted period
//     (24 hours plus its lawful extension) ran out: when the measured
//     detention outlasted it, or, for a detention not recorded as ended,
//     when it ran out before the report was run.
//   - delays: each assessment.delayed, by cause, in the month of its time.
//   - followup: "Referred" counts handoff.offered of kind followup;
//     "Contacted" the first followup.contact_attempted answered ("spoke") per
//     episode; "Completed" followup.completed and "Escalated"
//     followup.escalated, once per episode; each in the month of the event's
//     time.
//   - places: each place_of_safety.arrived by placeType in the month of
//     arrivedAt (the police station row is always shown); "Under 18" counts
//     arrivals of people whose s136.detained ageYears is under 18, whichever
//     of the two events is stored first.
//   - havens: by safe haven and month, each haven.arrived by how the person
//     came (walked in, brought by police, referred) or not taken in, in the
//     month of arrivedAt; each haven.left by outcome (went home, handed on,
//     999), in the month of leftAt, under the haven of the episode's first
//     arrival (an end applied before its arrival waits for it).
//   - contacts: each police contact (an episode with an episode.opened
//     published by police) once, in the month of its earliest police
//     episode.opened, in the first row its facts allow: "Detained under
//     s136" if the episode has any s136.detained, before or after anything
//     else (a person taken to a haven and detained later did not end at
//     the haven); else "Taken to a safe haven, no s136" if a haven took in
//     the person brought by police (haven.arrived, brought_by_police,
//     taken) or accepted a police safe_haven_referral (the haven's
//     handoff.accepted to police matched to police's handoff.offered by
//     handoff id, whichever is applied first); else "Street triage
//     advised, s136 avoided" if a street_triage.outcome recorded
//     s136Avoided; else "Other" (a referral the haven declined or never
//     answered, a person it did not take in, another agency's referral, a
//     contact still going on). An event applied later moves the contact
//     to its new row. Per episode it keeps the earliest police opening,
//     three facts (detained, haven, street triage), the row counted, and
//     only while neither a detention nor a haven is known, the police
//     referrals to a haven not yet accepted and the haven's acceptances
//     whose referral is not yet applied; nothing else.
//
// A replay reads the whole stream and passes over the types it does not
// count, decoding only the fields it counts. Every event entered the stream
// through events' validation; the reader still checks each message's subject
// against its envelope, and lists what it could not read (Skipped) instead
// of counting it. An event id is counted once, even if the same event was
// loaded again after the stream's duplicate window and so stored twice.
package reports
