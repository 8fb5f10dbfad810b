package places

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// State is what a place's provider last said about it: whether it is
// closed now against its usual hours (and why), how many places are free,
// and who said so when. A place with no state is as its hours say, with
// its places free not known.
type State struct {
	Closed bool      `json:"closed,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Free   *int      `json:"free,omitempty"`
	At     time.Time `json:"at"`
	By     string    `json:"by"`
}

// Live is the state of each place, by id.
type Live map[string]State

// Need is who needs a place, where and when.
type Need struct {
	At       time.Time
	From     string // the town where the person is ("" or not a bundled town: distance unknown)
	Age      int    // in years; negative when not known
	Kinds    []Kind // the sorts of place sought; none: any
	Referred bool   // a service refers the person (referral-only places may take them)
}

// Option is one place for the person, with whether it can be used now and,
// if not, why in words.
type Option struct {
	Place    Place     `json:"place"`
	Km       float64   `json:"km"`                 // from the person's town; -1 when unknown
	Open     bool      `json:"open"`               // by its hours and what its provider said
	Until    time.Time `json:"until"`              // when open: when it closes
	NextOpen time.Time `json:"nextOpen,omitempty"` // when closed: when it opens next
	Free     int       `json:"free"`               // places free now; -1 not known or not counted
	Usable   bool      `json:"usable"`
	Why      []string  `json:"why,omitempty"` // why it cannot be used now
	Checked  string    `json:"checked,omitempty"`
}

// Route ranks the directory's places of the kinds sought for one person:
// those that can take them now first, nearest first; then the others,
// each with its reasons (closed and when it next opens, full, not for the
// person's age, by referral only).
func (d *Directory) Route(n Need, live Live) []Option {
	var out []Option
	for _, p := range d.Places {
		if len(n.Kinds) > 0 && !slices.Contains(n.Kinds, p.Kind) {
			continue
		}
		out = append(out, d.option(p, n, live))
	}
	slices.SortStableFunc(out, func(a, b Option) int {
		if a.Usable != b.Usable {
			if a.Usable {
				return -1
			}
			return 1
		}
		ka, kb := a.Km, b.Km
		if ka < 0 {
			ka = 1e9
		}
		if kb < 0 {
			kb = 1e9
		}
		return cmp.Or(cmp.Compare(ka, kb), cmp.Compare(a.Place.Name, b.Place.Name))
	})
	return out
}

func (d *Directory) option(p Place, n Need, live Live) Option {
	o := Option{Place: p, Km: -1, Free: -1}
	if km, ok := Km(n.From, p.Town); ok {
		o.Km = km
	}
	o.Open, o.Until = d.OpenAt(p, n.At)
	st, known := live[p.ID]
	if o.Open && known && st.Closed {
		o.Open = false
		why := "closed now, said " + When(st.At, n.At) + " by " + st.By
		if st.Reason != "" {
			why += ": " + st.Reason
		}
		o.Why = append(o.Why, why)
		if next, ok := d.NextOpen(p, o.Until.Add(-time.Second)); ok {
			o.NextOpen = next
			o.Why[len(o.Why)-1] += "; it opens next " + When(next, n.At)
		}
	}
	if !o.Open && !(known && st.Closed) {
		why := "closed at this hour"
		if next, ok := d.NextOpen(p, n.At); ok {
			o.NextOpen = next
			why += "; it opens " + When(next, n.At)
		}
		o.Why = append(o.Why, why)
	}
	if p.Capacity > 0 && known && st.Free != nil {
		o.Free = min(max(*st.Free, 0), p.Capacity)
		o.Checked = fmt.Sprintf("%d of %d free, said %s by %s", o.Free, p.Capacity, When(st.At, n.At), st.By)
		switch {
		case p.SoleOccupancy && o.Free < p.Capacity:
			o.Free = 0
			o.Why = append(o.Why, fmt.Sprintf("no room: someone is placed there already, and once one person is, its other places cannot be used (%s)", o.Checked))
		case o.Free == 0:
			o.Why = append(o.Why, "no room: "+o.Checked)
		}
	}
	if !p.ForAge(n.Age) {
		o.Why = append(o.Why, fmt.Sprintf("not for this person: it is %s, and the person is %d", p.ages(), n.Age))
	}
	if p.Access == Referral && !n.Referred {
		o.Why = append(o.Why, "by referral from a service only")
	}
	o.Usable = len(o.Why) == 0
	return o
}
