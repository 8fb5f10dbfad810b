package schemas

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// contractPatterns are the patterns the schema files state.
func contractPatterns(t testing.TB) []string {
	t.Helper()
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if p, ok := v["pattern"].(string); ok {
				out = append(out, p)
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	err := fs.WalkDir(FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		raw, err := FS.ReadFile(p)
		if err != nil {
			return err
		}
		var doc any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		walk(doc)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) < 5 {
		t.Fatalf("found only %d patterns in the schemas: %q", len(out), out)
	}
	return out
}

// morePatterns exercise what the schemas do not yet use: no anchors, one
// anchor, alternations at the top, empty matches, loops of empty matches.
var morePatterns = []string{
	`a+`, `^a|b$`, `(|a)*$`, `^$`, `x*`, `^(ab|a)(bc|c)?$`, `[0-9]{2,4}-`, `(?i)^abc$`, `^a{0}$`, `\$`,
}

// unmatchable are patterns the automaton must leave to the regexp
// package: they match beyond ASCII, any character, or a word boundary.
var unmatchable = []string{`^.$`, `^[^a]$`, `(?i)^k$`, `(?i)^s$`, `\bword\b`, `^é$`, `^\pL$`, `(?m)^a$`}

// samples are strings near the patterns' matches: valid values of the
// contract, and each of them with one byte deleted, changed or added, cut
// short, and lengthened.
func samples(pattern string) []string {
	base := []string{"", "a", "ab", "abc", "ABC", "abbc", "b", "aa", "12-", "123-", "1234", "$",
		"f0e365b1-ca3b-5cd3-88ed-0db7097eee94", "5B0F9D4E-8A51-4C4E-9D0E-2F1C3A7B6E01",
		"2026-11-20T02:15:00Z", "2026-11-20T02:15:00.123456789Z", "2026-11-20T02:15:00+01:00", "1999-11-20T02:15:00Z",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"4010232137", "staff-1042", "kent-and-medway", "a--b", "-ab", "acme=7f3a", "tab\there", "é", "x\u2028"}
	alphabet := []byte("0129afgAFZTz-:.+= _\t\n\x80\xc3\xa9$")
	seen := map[string]bool{}
	var out []string
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, b := range base {
		add(b)
		add(b + "\n")
		for i := range len(b) + 1 {
			add(b[:i])
			if i < len(b) {
				add(b[:i] + b[i+1:])
			}
			for _, c := range alphabet {
				add(b[:i] + string(c) + b[i:])
				if i < len(b) {
					add(b[:i] + string(c) + b[i+1:])
				}
			}
		}
	}
	return out
}

func TestPatternAutomataAgreeWithRegexp(t *testing.T) {
	patterns := append(contractPatterns(t), morePatterns...)
	for i, p := range patterns {
		re := regexp.MustCompile(p)
		d := compilePattern(p)
		if d == nil {
			t.Errorf("pattern %q: no automaton, so every event pays the regexp package for it", p)
			continue
		}
		matched := 0
		for _, s := range samples(p) {
			want := re.MatchString(s)
			if got := d.match([]byte(s)); got != want {
				t.Errorf("pattern %d %q on %q: automaton says %v, regexp %v", i, p, s, got, want)
			}
			if want {
				matched++
			}
		}
		if matched == 0 && !strings.Contains(p, "[a-z0-9]") {
			t.Errorf("pattern %q: no sample matches, so the test says little about it", p)
		}
	}
}

func TestPatternsBeyondASCIIKeepTheRegexpPackage(t *testing.T) {
	for _, p := range unmatchable {
		if d := compilePattern(p); d != nil {
			t.Errorf("pattern %q compiled to an automaton, which reads bytes, not characters", p)
		}
	}
}

func FuzzPatternAutomata(f *testing.F) {
	patterns := append(contractPatterns(f), morePatterns...)
	res := make([]*regexp.Regexp, len(patterns))
	ds := make([]*patternDFA, len(patterns))
	for i, p := range patterns {
		res[i], ds[i] = regexp.MustCompile(p), compilePattern(p)
	}
	for i := range patterns {
		for _, s := range []string{"f0e365b1-ca3b-5cd3-88ed-0db7097eee94", "2026-11-20T02:15:00.5+01:00", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "ab"} {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, s []byte) {
		i := int(which) % len(patterns)
		if ds[i] == nil {
			return
		}
		if got, want := ds[i].match(s), res[i].Match(s); got != want {
			t.Errorf("pattern %q on %q: automaton says %v, regexp %v", patterns[i], s, got, want)
		}
	})
}
