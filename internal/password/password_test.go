package password

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// fastParams keep the tests quick; the format and logic are the same as
// with DefaultParams.
var fastParams = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// encodeForTest re-encodes decoded parts, for tampering tests.
func encodeForTest(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s",
		p.Memory, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func TestDefaultParams(t *testing.T) {
	p := DefaultParams()
	if p.Memory < 19456 || p.Iterations < 2 || p.Parallelism < 1 {
		t.Errorf("DefaultParams() = %+v, weaker than the OWASP baseline m=19456,t=2,p=1", p)
	}
	if p.SaltLen < 16 || p.KeyLen < 32 {
		t.Errorf("DefaultParams() = %+v, want salt >= 16 and key >= 32 bytes", p)
	}
	if err := p.validate(); err != nil {
		t.Errorf("DefaultParams() invalid: %v", err)
	}
}

func TestHashVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		password string
		params   Params
		prefix   string
	}{
		{"default params", "correct horse battery staple", DefaultParams(), "$argon2id$v=19$m=19456,t=2,p=1$"},
		{"fast params", "Zq7mVb2xLp9K", fastParams, "$argon2id$v=19$m=64,t=1,p=1$"},
		{"two lanes", "Zq7mVb2xLp9K", Params{Memory: 128, Iterations: 2, Parallelism: 2, SaltLen: 16, KeyLen: 32}, "$argon2id$v=19$m=128,t=2,p=2$"},
		{"long key and salt", "Zq7mVb2xLp9K", Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 32, KeyLen: 64}, "$argon2id$v=19$m=64,t=1,p=1$"},
		{"unicode", "日本語のパスワードは長いです", fastParams, "$argon2id$v=19$"},
		{"empty password", "", fastParams, "$argon2id$v=19$"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := Hash(tt.password, tt.params)
			if err != nil {
				t.Fatalf("Hash: %v", err)
			}
			if !strings.HasPrefix(enc, tt.prefix) {
				t.Errorf("Hash = %q, want prefix %q", enc, tt.prefix)
			}
			p, salt, key, err := decode(enc)
			if err != nil {
				t.Fatalf("decode(%q): %v", enc, err)
			}
			if p != tt.params {
				t.Errorf("decoded params %+v, want %+v", p, tt.params)
			}
			if len(salt) != int(tt.params.SaltLen) || len(key) != int(tt.params.KeyLen) {
				t.Errorf("salt/key lengths %d/%d, want %d/%d", len(salt), len(key), tt.params.SaltLen, tt.params.KeyLen)
			}
			ok, err := Verify(tt.password, enc)
			if err != nil || !ok {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			for _, wrong := range []string{tt.password + "x", strings.ToUpper(tt.password) + "!", "", "Zq7mVb2xLp9k"} {
				if wrong == tt.password {
					continue
				}
				ok, err := Verify(wrong, enc)
				if err != nil || ok {
					t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
				}
			}
		})
	}
}

func TestHashUsesRandomSalt(t *testing.T) {
	const pw = "the same password twice"
	a, err := Hash(pw, fastParams)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash(pw, fastParams)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatalf("two hashes of the same password are identical: %q", a)
	}
	_, saltA, _, _ := decode(a)
	_, saltB, _, _ := decode(b)
	if string(saltA) == string(saltB) {
		t.Errorf("salts are identical: %x", saltA)
	}
	for _, enc := range []string{a, b} {
		if ok, err := Verify(pw, enc); !ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want true, nil", enc, ok, err)
		}
	}
}

func TestVerifyTampered(t *testing.T) {
	const pw = "vermilion-Kettle-42"
	enc, err := Hash(pw, fastParams)
	if err != nil {
		t.Fatal(err)
	}
	p, salt, key, err := decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		return c
	}
	more := p
	more.Iterations++
	bigger := p
	bigger.Memory *= 2

	tests := []struct {
		name string
		enc  string
	}{
		{"first key byte", encodeForTest(p, salt, flip(key, 0))},
		{"last key byte", encodeForTest(p, salt, flip(key, len(key)-1))},
		{"first salt byte", encodeForTest(p, flip(salt, 0), key)},
		{"last salt byte", encodeForTest(p, flip(salt, len(salt)-1), key)},
		{"truncated key", encodeForTest(p, salt, key[:len(key)-1])},
		{"iterations", encodeForTest(more, salt, key)},
		{"memory", encodeForTest(bigger, salt, key)},
	}
	// Sanity check: the untampered re-encoding is identical and verifies.
	if got := encodeForTest(p, salt, key); got != enc {
		t.Fatalf("re-encoding = %q, want %q", got, enc)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.enc == enc {
				t.Fatal("tampered hash equals the original")
			}
			ok, err := Verify(pw, tt.enc)
			if err != nil || ok {
				t.Errorf("Verify(tampered %q) = %v, %v; want false, nil", tt.enc, ok, err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	const salt = "c2FsdHNhbHRzYWx0c2FsdA"                 // 16 bytes
	const key = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 29 bytes
	valid := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	if _, _, _, err := decode(valid); err != nil {
		t.Fatalf("baseline %q does not decode: %v", valid, err)
	}
	with := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }

	tests := []struct {
		name string
		enc  string
	}{
		{"empty", ""},
		{"garbage", "not a hash"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"uppercase algorithm", "$ARGON2ID$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"version empty", "$argon2id$v=$m=64,t=1,p=1$" + salt + "$" + key},
		{"version missing", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"no leading dollar", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"empty key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"empty salt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"extra field", valid + "$" + key},
		{"missing params", "$argon2id$v=19$" + salt + "$" + key},
		{"missing p", with("m=64,t=1")},
		{"extra param", with("m=64,t=1,p=1,k=2")},
		{"params out of order", with("t=1,m=64,p=1")},
		{"param without value", with("m=,t=1,p=1")},
		{"non-numeric param", with("m=abc,t=1,p=1")},
		{"negative param", with("m=-64,t=1,p=1")},
		{"plus sign", with("m=+64,t=1,p=1")},
		{"leading zero", with("m=064,t=1,p=1")},
		{"space in params", with("m=64, t=1,p=1")},
		{"memory overflows uint32", with("m=4294967296,t=1,p=1")},
		{"memory above 1 GiB", with("m=1048577,t=1,p=1")},
		{"memory max uint32", with("m=4294967295,t=1,p=1")},
		{"memory zero", with("m=0,t=1,p=1")},
		{"memory below 8 per lane", with("m=15,t=1,p=2")},
		{"iterations zero", with("m=64,t=0,p=1")},
		{"iterations above 100", with("m=64,t=101,p=1")},
		{"parallelism zero", with("m=64,t=1,p=0")},
		{"parallelism overflows uint8", with("m=2048,t=1,p=256")},
		{"bad base64 salt", "$argon2id$v=19$m=64,t=1,p=1$!!!notbase64!!!$" + key},
		{"bad base64 key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "*"},
		{"padded base64 key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "="},
		{"url-safe base64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5-_U"},
		{"non-canonical base64 trailing bits", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:len(key)-1] + "V"},
		{"newline in key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:10] + "\n" + key[10:]},
		{"key shorter than 16 bytes", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + "a2V5a2V5a2V5a2V5a2V5"},
		{"salt shorter than 8 bytes", "$argon2id$v=19$m=64,t=1,p=1$" + "c2FsdA" + "$" + key},
		{"huge input", "$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 5000) + "$" + key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := Verify("password", tt.enc)
			if ok {
				t.Errorf("Verify(%q) = true, want false", tt.enc)
			}
			if !errors.Is(err, ErrMalformedHash) {
				t.Errorf("Verify(%q) error = %v, want one wrapping ErrMalformedHash", tt.enc, err)
			}
		})
	}
}

func TestHashInvalidParams(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Params)
	}{
		{"zero value", func(p *Params) { *p = Params{} }},
		{"parallelism zero", func(p *Params) { p.Parallelism = 0 }},
		{"iterations zero", func(p *Params) { p.Iterations = 0 }},
		{"iterations above 100", func(p *Params) { p.Iterations = 101 }},
		{"memory above 1 GiB", func(p *Params) { p.Memory = 1<<20 + 1 }},
		{"memory below 8 per lane", func(p *Params) { p.Memory, p.Parallelism = 8, 2 }},
		{"short salt", func(p *Params) { p.SaltLen = 7 }},
		{"short key", func(p *Params) { p.KeyLen = 15 }},
		{"huge key", func(p *Params) { p.KeyLen = 1 << 20 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fastParams
			tt.edit(&p)
			enc, err := Hash("vermilion-Kettle-42", p)
			if !errors.Is(err, ErrInvalidParams) || enc != "" {
				t.Errorf("Hash(%+v) = %q, %v; want \"\", error wrapping ErrInvalidParams", p, enc, err)
			}
		})
	}
}

// hexString returns n bytes of deterministic, non-repetitive hex.
func hexString(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		sum := sha256.Sum256([]byte{byte(i)})
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		username string
		password string
		reason   string // "" means the password must be accepted
	}{
		// Length.
		{"empty", "admin", "", "must be at least 12 characters (got 0)"},
		{"short", "admin", "Xk9#mQ2v", "must be at least 12 characters (got 8)"},
		{"one short", "admin", "Xk9#mQ2vLp7", "must be at least 12 characters (got 11)"},
		{"short and common reports length first", "admin", "password", "must be at least 12 characters (got 8)"},
		{"runes not bytes", "admin", "日本語のパスワード", "must be at least 12 characters (got 9)"},
		{"too long", "admin", hexString(257), "must be at most 256 bytes (got 257)"},
		{"multibyte too long", "admin", strings.Repeat("日本語のパスワードは", 9), "must be at most 256 bytes (got 270)"},
		// Common passwords.
		{"listed", "admin", "password1234", "is a commonly used password"},
		{"listed case-insensitive", "admin", "PassWord1234", "is a commonly used password"},
		{"trailing digits and punctuation", "admin", "Password2024!!", "is a commonly used password"},
		{"leading and trailing decoration", "admin", "!!Letmein2024", "is a commonly used password"},
		{"leetspeak", "admin", "P@ssw0rd2024!", "is a commonly used password"},
		{"season and year", "admin", "Summer2025!!!", "is a commonly used password"},
		{"keyboard walk", "admin", "qwertyuiop[]", "is a commonly used password"},
		{"keyboard walk digits", "admin", "1qaz2wsx3edc", "is a commonly used password"},
		{"product name", "admin", "TrackStream2024", "is a commonly used password"},
		{"trailing spaces", "admin", "iloveyou      ", "is a commonly used password"},
		// Username.
		{"same as username", "Jonathan.Smith", "jonathan.smith", "must not be the same as the username"},
		{"username reversed", "bartholomew1", "1WEMOLOHTRAB", "must not be the username reversed"},
		{"contains username", "Kestrel", "my-KESTREL-key-99", "must not contain the username"},
		{"contains username reversed", "Kestrel", "xx-lertsek-zz-9", "must not contain the username reversed"},
		{"username with spaces trimmed", "  kestrel ", "my-kestrel-key-99", "must not contain the username"},
		{"short username is not searched", "jo", "jo-jo-banana-split", ""},
		// Repetition, sequences, variety.
		{"single repeated character", "admin", "aaaaaaaaaaaa", "is too repetitive"},
		{"repeated digit", "admin", "777777777777", "is too repetitive"},
		{"repeated pattern", "admin", "abcABCabcABC", "is too repetitive"},
		{"repeated longer pattern", "admin", "Xk9#mQXk9#mQ", "is too repetitive"},
		{"alphabet sequence", "admin", "abcdefghijkl", "is a simple sequence of characters"},
		{"mixed-case sequence", "admin", "AbCdEfGhIjKlM", "is a simple sequence of characters"},
		{"digit sequence wrapping", "admin", "123456789012", "is a simple sequence of characters"},
		{"descending sequence", "admin", "zyxwvutsrqpo", "is a simple sequence of characters"},
		{"few distinct letters", "admin", "aabbaabbaabbc", "must contain at least 5 different characters (got 3)"},
		{"few distinct digits", "admin", "11112222333344", "must contain at least 5 different characters (got 4)"},
		{"few distinct case-insensitive", "admin", "AaBbCcDdaabbccdc", "must contain at least 5 different characters (got 4)"},
		// Strong.
		{"passphrase", "admin", "correct horse battery staple", ""},
		{"mixed", "admin", "vermilion-Kettle-42", ""},
		{"random", "", "Zq7#mVb2!xLp", ""},
		{"exactly 12", "admin", "Xk9#mQ2vLp7w", ""},
		{"exactly 256 bytes", "admin", hexString(256), ""},
		{"unicode", "admin", "日本語のパスワードは長いです", ""},
		{"contains admin-like but different user", "root", "admiral-Nimbus-77", ""},
	}
	if len(tests) < 15 {
		t.Fatalf("only %d policy cases", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.username, tt.password)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Check(%q, %q) = %v, want nil", tt.username, tt.password, err)
				}
				return
			}
			var we *WeakError
			if !errors.As(err, &we) {
				t.Fatalf("Check(%q, %q) = %v, want *WeakError with reason %q", tt.username, tt.password, err, tt.reason)
			}
			if !strings.Contains(we.Reason, tt.reason) {
				t.Errorf("Check(%q, %q) reason = %q, want it to contain %q", tt.username, tt.password, we.Reason, tt.reason)
			}
			if want := "weak password: " + we.Reason; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestCommonList(t *testing.T) {
	set := commonSet()
	if len(set) < 1000 {
		t.Errorf("common list has %d entries, want at least 1000", len(set))
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(commonTxt, "\n"), "\n") {
		switch {
		case line == "" || strings.TrimSpace(line) != line:
			t.Errorf("line %d: %q is blank or has surrounding space", i+1, line)
		case strings.ToLower(line) != line:
			t.Errorf("line %d: %q is not lowercase", i+1, line)
		case seen[line]:
			t.Errorf("line %d: %q is duplicated", i+1, line)
		}
		seen[line] = true
	}
	for _, w := range []string{"password", "123456", "qwerty123", "letmein", "admin123", "iloveyou", "changeme", "summer2024", "qwertyuiop", "trackstream"} {
		if _, ok := set[w]; !ok {
			t.Errorf("common list lacks %q", w)
		}
	}
}

func TestGenerate(t *testing.T) {
	const n = 1000
	seen := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		pw := Generate()
		if len(pw) != generateLen || utf8.RuneCountInString(pw) != 24 {
			t.Fatalf("Generate() = %q, length %d, want 24", pw, len(pw))
		}
		for _, r := range pw {
			if !strings.ContainsRune(generateAlphabet, r) {
				t.Fatalf("Generate() = %q contains %q outside the alphabet", pw, r)
			}
			if strings.ContainsRune("0Oo1Iil", r) {
				t.Fatalf("Generate() = %q contains ambiguous %q", pw, r)
			}
		}
		if err := Check("admin", pw); err != nil {
			t.Fatalf("Check(admin, %q) = %v", pw, err)
		}
		if seen[pw] {
			t.Fatalf("Generate() returned %q twice", pw)
		}
		seen[pw] = true
	}
}

// TestGenerateUniform detects modulo bias: with 55 symbols, b%55 on raw bytes
// would make the first 36 symbols 25% more likely than the other 19.
func TestGenerateUniform(t *testing.T) {
	const size = len(generateAlphabet)
	if size != 55 {
		t.Fatalf("alphabet has %d symbols, want 55", size)
	}
	counts := make(map[byte]int, size)
	const total = 48000
	s := randomString(total)
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	if len(counts) != size {
		t.Fatalf("saw %d distinct symbols, want %d", len(counts), size)
	}
	cut := 256 % size // symbols [0, cut) would be favoured by a plain modulo
	var lo, hi float64
	for i := 0; i < size; i++ {
		if i < cut {
			lo += float64(counts[generateAlphabet[i]])
		} else {
			hi += float64(counts[generateAlphabet[i]])
		}
	}
	ratio := (lo / float64(cut)) / (hi / float64(size-cut))
	if ratio < 0.93 || ratio > 1.07 {
		t.Errorf("mean count ratio first %d / last %d symbols = %.3f, want ~1 (modulo bias?)", cut, size-cut, ratio)
	}
}

func FuzzVerify(f *testing.F) {
	good, err := Hash("vermilion-Kettle-42", fastParams)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("vermilion-Kettle-42", good)
	f.Add("wrong", good)
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=")
	f.Add("x", "$argon2i$v=19$m=64,t=1,p=1$c2FsdA$a2V5")
	f.Add("x", "$argon2id$v=19$m=4294967295,t=4294967295,p=255$$")
	f.Add("x", "$argon2id$v=19$m=064,t=01,p=1$c2FsdHNhbHRz$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Add("", "$$$$$")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, password, encoded string) {
		p, salt, key, derr := decode(encoded)
		if derr != nil {
			if !errors.Is(derr, ErrMalformedHash) {
				t.Fatalf("decode error %v does not wrap ErrMalformedHash", derr)
			}
			ok, err := Verify(password, encoded)
			if ok || !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("Verify(%q) = %v, %v; want false, ErrMalformedHash", encoded, ok, err)
			}
			return
		}
		// Accepted strings are canonical and within bounds.
		if got := encodeForTest(p, salt, key); got != encoded {
			t.Fatalf("decode is not canonical: %q re-encodes as %q", encoded, got)
		}
		if err := p.validate(); err != nil {
			t.Fatalf("decode accepted out-of-bounds params %+v: %v", p, err)
		}
		// Only recompute when it is cheap, so the fuzzer stays fast; the
		// bounds themselves are checked above.
		if uint64(p.Memory)*uint64(p.Iterations) > 4096 {
			return
		}
		ok, err := Verify(password, encoded)
		if err != nil {
			t.Fatalf("Verify(%q) = %v after decode succeeded", encoded, err)
		}
		if password == "vermilion-Kettle-42" && encoded == good && !ok {
			t.Fatal("Verify rejected the right password")
		}
	})
}

func FuzzCheck(f *testing.F) {
	for _, s := range []struct{ u, p string }{
		{"admin", "Password2024!!"},
		{"admin", "correct horse battery staple"},
		{"kestrel", "lertsek-kestrel"},
		{"", "aaaaaaaaaaaa"},
		{"x", "123456789012"},
		{"日本", "日本語のパスワードは長いです"},
		{"admin", "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4"},
	} {
		f.Add(s.u, s.p)
	}
	f.Fuzz(func(t *testing.T, username, password string) {
		err := Check(username, password)
		if err == nil {
			if n := utf8.RuneCountInString(password); n < 12 || len(password) > 256 {
				t.Fatalf("Check accepted %q (%d runes, %d bytes)", password, n, len(password))
			}
			if distinct([]rune(strings.ToLower(password))) < 5 {
				t.Fatalf("Check accepted %q with fewer than 5 distinct characters", password)
			}
			if u := strings.TrimSpace(username); u != "" && strings.EqualFold(u, password) {
				t.Fatalf("Check accepted password equal to username %q", username)
			}
			return
		}
		var we *WeakError
		if !errors.As(err, &we) || we.Reason == "" {
			t.Fatalf("Check(%q, %q) = %#v, want *WeakError with a reason", username, password, err)
		}
		if again := Check(username, password); again == nil || again.Error() != err.Error() {
			t.Fatalf("Check is not deterministic: %v then %v", err, again)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	p := DefaultParams()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Hash("vermilion-Kettle-42", p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	enc, err := Hash("vermilion-Kettle-42", DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := Verify("vermilion-Kettle-42", enc); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Generate()
	}
}
