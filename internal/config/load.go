package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// field binds one configuration value to its flag and environment variable.
type field struct {
	flag    string
	section section
	secret  bool
	help    string
	value   flag.Value
}

// Env is the environment variable of the field: TRACKSTREAM_ plus the flag
// name upper-cased with dashes as underscores.
func (f field) env() string {
	return "TRACKSTREAM_" + strings.ToUpper(strings.ReplaceAll(f.flag, "-", "_"))
}

func fields(c *Config) []field {
	var out []field
	for _, fs := range [][]field{c.Common.fields(), c.Kafka.fields(), c.ClickHouse.fields(), c.Ingest.fields(), c.Processor.fields(), c.Admin.fields()} {
		out = append(out, fs...)
	}
	return out
}

// renamed maps former environment variables to their names now, so a
// setting an operator made is refused with a pointer rather than ignored.
var renamed = map[string]string{
	// Ingest looks countries up before the IP policy, so the database is
	// no longer the processor's alone.
	"TRACKSTREAM_PROCESSOR_GEOIP_DB": "TRACKSTREAM_GEOIP_DB",
}

// Load builds the configuration of roles from the defaults, then the
// environment (lookup, normally os.LookupEnv), then args as flags. Every
// malformed value is reported; Validate is called last.
func Load(roles Set, args []string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	if roles.Embedded() {
		cfg.Processor.InstanceID = AllInstanceID
	}
	fs := flag.NewFlagSet("trackstream "+roles.String(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var errs []error
	for _, f := range roleFields(roles, &cfg) {
		if v, ok := lookup(f.env()); ok {
			if err := f.value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.env(), err))
			}
		}
		if !f.secret { // secrets stay out of the process's argument list
			fs.Var(f.value, f.flag, f.help)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		errs = append(errs, err)
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " ")))
	}
	for old, now := range renamed {
		if _, ok := lookup(old); ok {
			errs = append(errs, fmt.Errorf("%s was renamed %s; set that instead", old, now))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate(roles)
}

func roleFields(roles Set, cfg *Config) []field {
	want := roles.sections()
	var out []field
	for _, f := range fields(cfg) {
		if want[f.section] {
			out = append(out, f)
		}
	}
	return out
}

// Usage writes the flags and environment variables of roles with their
// defaults.
func Usage(w io.Writer, roles Set) {
	def := Default()
	for _, f := range roleFields(roles, &def) {
		if f.secret {
			fmt.Fprintf(w, "  %s (environment only)\n      %s\n", f.env(), f.help)
			continue
		}
		fmt.Fprintf(w, "  -%s (%s)\n      %s (default %q)\n", f.flag, f.env(), f.help, f.value.String())
	}
}

// sectionRoles names, for the reference table, which roles read a section.
var sectionRoles = map[section]string{
	secCommon:     "every role",
	secKafka:      "every role",
	secEmbedded:   "all",
	secClickHouse: "processor, admin-api",
	secIngest:     "ingest",
	secProcessor:  "processor",
	secAdmin:      "admin-api",
}

// MarkdownTable writes every setting as a Markdown table: variable, flag,
// default, which roles read it, and what it does. The README's
// configuration reference is this table.
func MarkdownTable(w io.Writer) {
	def := Default()
	fmt.Fprintln(w, "| variable | flag | default | read by | what it does |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, f := range fields(&def) {
		flagName, dflt := "`-"+f.flag+"`", f.value.String()
		if home, err := os.UserHomeDir(); err == nil && home != "" && strings.HasPrefix(dflt, home+"/") {
			dflt = "~" + strings.TrimPrefix(dflt, home) // the same on every machine
		}
		if f.secret {
			flagName = "(environment only)"
		}
		if dflt != "" {
			dflt = "`" + dflt + "`"
		}
		fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s |\n", f.env(), flagName, dflt, sectionRoles[f.section], strings.ReplaceAll(f.help, "|", "\\|"))
	}
}

// Describe writes the effective configuration of roles, one line per field,
// with secrets shown only as set or unset.
func (c Config) Describe(w io.Writer, roles Set) {
	for _, f := range roleFields(roles, &c) {
		v := f.value.String()
		if f.secret {
			v = "(unset)"
			if f.value.String() != "" {
				v = "(set)"
			}
		}
		fmt.Fprintf(w, "%-40s %s\n", f.env(), v)
	}
}

type stringValue string

func (s *stringValue) String() string     { return string(*s) }
func (s *stringValue) Set(v string) error { *s = stringValue(strings.TrimSpace(v)); return nil }

type intValue int

func (i *intValue) String() string { return strconv.Itoa(int(*i)) }
func (i *intValue) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not an integer", v)
	}
	*i = intValue(n)
	return nil
}

type durationValue time.Duration

func (d *durationValue) String() string { return time.Duration(*d).String() }
func (d *durationValue) Set(v string) error {
	p, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 500ms, 5s or 1m", v)
	}
	*d = durationValue(p)
	return nil
}

type listValue []string

func (l *listValue) String() string { return strings.Join(*l, ",") }
func (l *listValue) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type boolValue bool

func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }
func (b *boolValue) Set(v string) error {
	p, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = boolValue(p)
	return nil
}
