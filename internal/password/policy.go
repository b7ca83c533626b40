package password

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Policy limits enforced by Check.
const (
	minRunes    = 12  // minimum length, counted in characters (runes)
	maxBytes    = 256 // maximum length in bytes; bounds the hashing input
	minDistinct = 5   // minimum number of distinct (case-folded) characters
)

// WeakError is returned by [Check] when a password violates the policy.
// Reason is a human-readable description of the first violated rule, such
// as "must be at least 12 characters (got 8)".
type WeakError struct {
	Reason string
}

// Error implements error.
func (e *WeakError) Error() string { return "weak password: " + e.Reason }

func weak(format string, args ...any) error {
	return &WeakError{Reason: fmt.Sprintf(format, args...)}
}

// commonTxt is the shipped list of common passwords and password stems,
// lowercased, one per line.
//
//go:embed common.txt
var commonTxt string

var commonSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, 1500)
	for line := range strings.Lines(commonTxt) {
		if w := strings.ToLower(strings.TrimSpace(line)); w != "" {
			set[w] = struct{}{}
		}
	}
	return set
})

// Check reports whether password is acceptable as the trackstream admin
// password for the account username. It returns nil if it is, and otherwise
// a *[WeakError] naming the first rule it fails, checked in this order:
//
//  1. at least 12 characters and at most 256 bytes;
//  2. not a commonly used password: compared case-insensitively against the
//     embedded list, also after stripping leading/trailing digits,
//     punctuation and spaces ("Password2024!!" is "password") and after
//     undoing common character substitutions ("P@ssw0rd");
//  3. not derived from the username (case-insensitive): not equal to it or
//     its reverse, and, for usernames of at least 3 characters, not
//     containing it or its reverse;
//  4. not a repetition of a shorter pattern ("aaaaaaaaaaaa", "abcabcabcabc");
//  5. not a simple sequence ("abcdefghijkl", "123456789012", "zyxwvutsrqpo");
//  6. at least 5 distinct characters (case-insensitive).
func Check(username, password string) error {
	if n := utf8.RuneCountInString(password); n < minRunes {
		return weak("must be at least %d characters (got %d)", minRunes, n)
	}
	if n := len(password); n > maxBytes {
		return weak("must be at most %d bytes (got %d)", maxBytes, n)
	}
	lower := strings.ToLower(password)
	if isCommon(lower) {
		return weak("is a commonly used password")
	}
	if reason := usernameReason(username, lower); reason != "" {
		return weak("%s", reason)
	}
	runes := []rune(lower)
	if isRepetitive(runes) {
		return weak("is too repetitive")
	}
	if isSequence(runes) {
		return weak("is a simple sequence of characters")
	}
	if n := distinct(runes); n < minDistinct {
		return weak("must contain at least %d different characters (got %d)", minDistinct, n)
	}
	return nil
}

// isCommon reports whether the lowercased password, or a simple variation
// of it, is in the common password list.
func isCommon(lower string) bool {
	set := commonSet()
	trailing := strings.TrimRightFunc(lower, isDecoration)
	both := strings.TrimLeftFunc(trailing, isDecoration)
	for _, c := range [...]string{lower, trailing, both} {
		if c == "" {
			continue
		}
		for _, v := range [...]string{c, unleet(c, 'i'), unleet(c, 'l')} {
			if _, ok := set[v]; ok {
				return true
			}
		}
	}
	return false
}

// isDecoration reports whether r is the kind of character people append to
// a common word to satisfy a composition rule.
func isDecoration(r rune) bool {
	return unicode.IsDigit(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r)
}

// unleet undoes common "leetspeak" substitutions; one is what '1' and '!'
// stand for ('i' or 'l').
func unleet(s string, one rune) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '@', '4':
			return 'a'
		case '3':
			return 'e'
		case '1', '!', '|':
			return one
		case '0':
			return 'o'
		case '$', '5':
			return 's'
		case '7', '+':
			return 't'
		}
		return r
	}, s)
}

// usernameReason returns why the lowercased password is derived from
// username, or "" if it is not.
func usernameReason(username, lower string) string {
	u := strings.ToLower(strings.TrimSpace(username))
	if u == "" {
		return ""
	}
	rev := reverse(u)
	switch {
	case lower == u:
		return "must not be the same as the username"
	case lower == rev:
		return "must not be the username reversed"
	case utf8.RuneCountInString(u) < 3:
		return ""
	case strings.Contains(lower, u):
		return "must not contain the username"
	case strings.Contains(lower, rev):
		return "must not contain the username reversed"
	}
	return ""
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

// isRepetitive reports whether r consists of at least two back-to-back
// copies of a shorter pattern (which includes a single repeated character).
func isRepetitive(r []rune) bool {
	n := len(r)
outer:
	for period := 1; period <= n/2; period++ {
		for i := period; i < n; i++ {
			if r[i] != r[i-period] {
				continue outer
			}
		}
		return true
	}
	return false
}

// isSequence reports whether every character of r is the successor (or
// every one the predecessor) of the previous one. Digits wrap around
// ("7890123") and so do letters ("xyzabc").
func isSequence(r []rune) bool {
	if len(r) < 2 {
		return false
	}
	for _, step := range [...]int{1, -1} {
		ok := true
		for i := 1; i < len(r) && ok; i++ {
			ok = r[i] == successor(r[i-1], step)
		}
		if ok {
			return true
		}
	}
	return false
}

func successor(r rune, step int) rune {
	switch {
	case r >= '0' && r <= '9':
		return '0' + (r-'0'+rune(step)+10)%10
	case r >= 'a' && r <= 'z':
		return 'a' + (r-'a'+rune(step)+26)%26
	}
	return r + rune(step)
}

func distinct(r []rune) int {
	seen := make(map[rune]struct{}, len(r))
	for _, c := range r {
		seen[c] = struct{}{}
	}
	return len(seen)
}
