package schemas

import (
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Patterns on the quick path. Every event carries several strings a
// pattern checks (its id, its episode, its time, the times in its data);
// the regexp package runs each in about a third of a microsecond, a good
// part of checking a small event. A pattern of the contract is short and
// of ASCII only, so the quick path compiles it, at Load, into a
// deterministic automaton over bytes, built from the very program the
// regexp package compiles from the pattern: a match is one table lookup a
// byte. A pattern the automaton cannot state exactly (a class or a case
// folding that reaches beyond ASCII, any character, a word boundary, too
// many states) keeps the regexp package. The tests hold the two to the
// same verdict on every pattern of the schemas, on systematic variations
// and under fuzzing.

// maxPatternStates bounds an automaton's size (each state is a row of one
// int32 per byte class).
const maxPatternStates = 512

// patternDFA matches what regexp.MatchString(pattern, s) matches.
//
// Its table is indexed by byte class, not by byte: bytes that every
// instruction of the pattern treats alike (for a UUID's pattern: the hex
// digits, the hyphen, everything else) share a column. A UUID's automaton
// is then a few hundred bytes, not nineteen kilobytes. What that saves is
// not the lookups but the memory they touch: an event is checked once the
// CPU has done other work (the server's writes, the network), so the
// tables are out of the cache, and each byte of a string that reached a
// new row cost a miss; with rows of a few columns, a pattern's whole table
// is a few cache lines.
type patternDFA struct {
	// class[c] is the column of byte c (128: any byte of 0x80 or more,
	// which no instruction matches).
	class [columns]uint8
	// width is the number of classes: the length of a row.
	width int32
	// next[s+class] is the state after a byte of that class in the state
	// whose row starts at s: the start of its row, or noMatch or matched.
	next     []int32
	matchNow bool   // the start state: the empty prefix already matches
	matchEnd []bool // by row/width: a match ends here if the input ends here
}

const (
	noMatch = -1 // no match is possible any more
	matched = -2 // a match has ended: the input matches whatever follows
	columns = 129
)

// match reports whether b matches.
func (d *patternDFA) match(b []byte) bool {
	if d.matchNow {
		return true
	}
	s := int32(0)
	for _, c := range b {
		if c > 128 {
			c = 128
		}
		if s = d.next[s+int32(d.class[c])]; s < 0 {
			return s == matched
		}
	}
	return d.matchEnd[s/d.width]
}

// compilePattern returns the automaton of pattern, or nil when it cannot
// be stated exactly as one (then the regexp package matches).
func compilePattern(pattern string) *patternDFA {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil
	}
	ascii := make([][128]bool, len(prog.Inst))
	for pc := range prog.Inst {
		in := &prog.Inst[pc]
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1:
			if !asciiOnly(in) {
				return nil
			}
			for c := range 128 {
				ascii[pc][c] = in.MatchRune(rune(c))
			}
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(in.Arg)&^(syntax.EmptyBeginText|syntax.EmptyEndText) != 0 {
				return nil
			}
		case syntax.InstAlt, syntax.InstAltMatch, syntax.InstCapture, syntax.InstNop, syntax.InstMatch, syntax.InstFail:
		default: // any character
			return nil
		}
	}
	b := dfaBuilder{prog: prog, ascii: ascii, index: map[string]int32{}}
	reps := b.byteClasses()
	// State 0, the start, is the only one where the input's beginning is.
	start := b.closure(threadSet{}, uint32(prog.Start), true)
	b.add("start", start, true)
	for s := 0; s < len(b.sets); s++ {
		if len(b.sets) > maxPatternStates {
			return nil
		}
		for cl, col := range reps {
			var t threadSet
			for _, pc := range b.sets[s].pcs {
				in := &prog.Inst[pc]
				if (in.Op == syntax.InstRune || in.Op == syntax.InstRune1) && col < 128 && ascii[pc][col] {
					t = b.closure(t, in.Out, false)
				}
			}
			// A match may also begin after this byte (regexp searches).
			t = b.closure(t, uint32(prog.Start), false)
			to := b.add(t.key(), t, false)
			at := int32(s)*b.d.width + int32(cl)
			switch {
			case to < 0:
				b.d.next[at] = noMatch
			case b.sets[to].match:
				b.d.next[at] = matched
			default:
				b.d.next[at] = to * b.d.width
			}
		}
	}
	b.d.matchNow = b.sets[0].match
	return &b.d
}

// byteClasses sets each byte's class: bytes every instruction matches or
// refuses alike share one. It returns a byte of each class, in class order.
func (b *dfaBuilder) byteClasses() []int {
	var reps []int
	byTrait := map[string]uint8{}
	trait := make([]byte, len(b.prog.Inst))
	for col := range columns {
		for pc := range b.prog.Inst {
			trait[pc] = 0
			if col < 128 && b.ascii[pc][col] {
				trait[pc] = 1
			}
		}
		cl, ok := byTrait[string(trait)]
		if !ok {
			cl = uint8(len(reps))
			byTrait[string(trait)] = cl
			reps = append(reps, col)
		}
		b.d.class[col] = cl
	}
	b.d.width = int32(len(reps))
	return reps
}

// asciiOnly reports whether a rune instruction matches no rune beyond ASCII.
func asciiOnly(in *syntax.Inst) bool {
	if len(in.Rune) == 1 {
		r := in.Rune[0]
		if r >= 0x80 {
			return false
		}
		if syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
			for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
				if f >= 0x80 {
					return false
				}
			}
		}
		return true
	}
	for i := 1; i < len(in.Rune); i += 2 {
		if in.Rune[i] >= 0x80 {
			return false
		}
	}
	return len(in.Rune)%2 == 0
}

// threadSet is a state of the automaton: the program's instructions
// waiting for a byte (runes) or for the input's end, and whether a match
// has ended.
type threadSet struct {
	pcs   []uint32
	match bool
}

func (t threadSet) key() string {
	if len(t.pcs) == 0 && !t.match {
		return ""
	}
	pcs := slices.Clone(t.pcs)
	slices.Sort(pcs)
	var sb strings.Builder
	if t.match {
		sb.WriteString("m")
	}
	for _, pc := range pcs {
		sb.WriteString(strconv.FormatUint(uint64(pc), 10))
		sb.WriteByte(',')
	}
	return sb.String()
}

type dfaBuilder struct {
	prog  *syntax.Prog
	ascii [][128]bool
	index map[string]int32
	sets  []threadSet
	d     patternDFA
}

// add returns the state of t, made if new; -1 for the empty set.
func (b *dfaBuilder) add(key string, t threadSet, atStart bool) int32 {
	if key == "" {
		return -1
	}
	if i, ok := b.index[key]; ok {
		return i
	}
	i := int32(len(b.sets))
	b.index[key] = i
	b.sets = append(b.sets, t)
	b.d.next = append(b.d.next, make([]int32, b.d.width)...)
	// At the input's end, the instructions waiting for it go on.
	var end threadSet
	for _, pc := range t.pcs {
		if b.prog.Inst[pc].Op == syntax.InstEmptyWidth {
			end = b.closureAt(end, pc, atStart, true)
		}
	}
	b.d.matchEnd = append(b.d.matchEnd, t.match || end.match)
	return i
}

// closure adds pc and every instruction reachable from it without a byte,
// in order and once each.
func (b *dfaBuilder) closure(t threadSet, pc uint32, atStart bool) threadSet {
	return b.closureAt(t, pc, atStart, false)
}

func (b *dfaBuilder) closureAt(t threadSet, pc uint32, atStart, atEnd bool) threadSet {
	held := map[uint32]bool{}
	for _, p := range t.pcs {
		held[p] = true
	}
	hold := func(pc uint32) {
		if !held[pc] {
			held[pc] = true
			t.pcs = append(t.pcs, pc)
		}
	}
	visited := map[uint32]bool{}
	var walk func(pc uint32)
	walk = func(pc uint32) {
		if visited[pc] {
			return
		}
		visited[pc] = true
		in := &b.prog.Inst[pc]
		switch in.Op {
		case syntax.InstAlt, syntax.InstAltMatch:
			walk(in.Out)
			walk(in.Arg)
		case syntax.InstCapture, syntax.InstNop:
			walk(in.Out)
		case syntax.InstMatch:
			t.match = true
		case syntax.InstEmptyWidth:
			op := syntax.EmptyOp(in.Arg)
			switch {
			case op&syntax.EmptyBeginText != 0 && !atStart:
				// never satisfied after the input's beginning
			case op&syntax.EmptyEndText != 0 && !atEnd:
				hold(pc) // waits for the input's end
			default:
				walk(in.Out)
			}
		case syntax.InstRune, syntax.InstRune1:
			hold(pc)
		}
	}
	walk(pc)
	return t
}
