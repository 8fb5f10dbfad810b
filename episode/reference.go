package episode

import "strings"

// crockford is Crockford's base 32: digits and letters without I, L, O and
// U, so a reference read over the phone cannot be misheard as another.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Reference is an episode's short reference, to read over the phone: eight
// characters in two groups ("K7M4 QP2X"), from the 40 random bits at the
// end of its id. It is shown beside the person's name, not in place of
// the id, which stays the key everywhere; the record indexes it, so a
// person who gives it on the phone is found (ParseReference).
func Reference(episode string) string {
	hex := strings.ReplaceAll(episode, "-", "")
	if len(hex) < 10 {
		return strings.ToUpper(episode)
	}
	var n uint64
	for _, c := range hex[len(hex)-10:] {
		d := strings.IndexRune("0123456789abcdef", c|0x20)
		if d < 0 {
			return strings.ToUpper(episode)
		}
		n = n<<4 | uint64(d)
	}
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = crockford[n&31]
		n >>= 5
	}
	return string(b[:4]) + " " + string(b[4:])
}

// ParseReference reads a reference as typed by someone who heard it: in
// any case, with or without spaces or a hyphen, and with the letters
// Crockford's alphabet leaves out read as the digits they are mistaken
// for (O as 0, I and L as 1). It returns the reference's eight characters
// without the space, and false when s cannot be one.
func ParseReference(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch r {
		case ' ', '-':
			continue
		case 'O':
			r = '0'
		case 'I', 'L':
			r = '1'
		}
		if !strings.ContainsRune(crockford, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != 8 {
		return "", false
	}
	return b.String(), true
}
