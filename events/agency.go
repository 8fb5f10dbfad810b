package events

import "fmt"

// Agency is who publishes a fact: one of the five agencies on the crisis
// pathway, or one of crisisbus's own publishers (the clock and the episode
// record). It is the second token of every subject, so NATS permissions make
// authorship impossible to fake.
type Agency string

// The agencies of the Kent and Medway crisis pathway.
const (
	Police     Agency = "police"     // police force control room and its mental health worker
	Ambulance  Agency = "ambulance"  // ambulance service emergency operations centre (EOC)
	SPoA       Agency = "spoa"       // mental health trust's single point of access
	AMHP       Agency = "amhp"       // approved mental health professional service
	Crisisline Agency = "crisisline" // crisis line and 4-day follow-up helpline
)

// crisisbus's own publishers.
const (
	Clock  Agency = "clock"  // legal and handoff clocks: warnings and breaches
	Record Agency = "record" // the episode record: disclosures (who saw what)
)

// Agencies lists the five pathway agencies.
var Agencies = []Agency{Police, Ambulance, SPoA, AMHP, Crisisline}

// Publishers lists everyone that may publish on the bus.
var Publishers = append(append([]Agency{}, Agencies...), Clock, Record)

// ParseAgency returns the agency named s, or an error naming the valid ones.
func ParseAgency(s string) (Agency, error) {
	for _, a := range Publishers {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown agency %q (want one of %v)", s, Publishers)
}

// Pathway reports whether a is one of the five pathway agencies.
func (a Agency) Pathway() bool {
	for _, p := range Agencies {
		if p == a {
			return true
		}
	}
	return false
}

// Title is the agency's name as its people say it.
func (a Agency) Title() string {
	switch a {
	case Police:
		return "Police control room"
	case Ambulance:
		return "Ambulance EOC"
	case SPoA:
		return "Single point of access"
	case AMHP:
		return "AMHP service"
	case Crisisline:
		return "Crisis and follow-up helpline"
	case Clock:
		return "crisisbus clocks"
	case Record:
		return "Episode record"
	}
	return string(a)
}
