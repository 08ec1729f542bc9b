package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// command is one subcommand's flags. A flag may have an environment
// variable, read when the flag is not on the command line (a flag given
// there wins); --help prints them as the README's Configuration table
// does: flag and type, environment variable, default, meaning.
type command struct {
	fs       *flag.FlagSet
	synopsis string
	about    string
	rows     []flagRow
}

type flagRow struct {
	name, typ, env, def, meaning string
}

func newCommand(name, synopsis, about string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// parse reports errors in one line and prints the help only when
	// asked for it.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &command{fs: fs, synopsis: synopsis, about: about}
}

// row records a flag for the help; shown is its default as printed ("" for
// none), which may describe what an unset flag means.
func (c *command) row(name, typ, env, shown, meaning string) {
	if shown == "" {
		shown = "unset"
	}
	c.rows = append(c.rows, flagRow{name: name, typ: typ, env: env, def: shown, meaning: meaning})
}

func (c *command) String(p *string, name, env, def, shown, meaning string) {
	c.fs.StringVar(p, name, def, meaning)
	if shown == "" {
		shown = def
	}
	c.row(name, "string", env, shown, meaning)
}

func (c *command) Int(p *int, name, env string, def int, meaning string) {
	c.fs.IntVar(p, name, def, meaning)
	c.row(name, "int", env, fmt.Sprint(def), meaning)
}

func (c *command) Duration(p *time.Duration, name, env string, def time.Duration, meaning string) {
	c.fs.DurationVar(p, name, def, meaning)
	c.row(name, "duration", env, def.String(), meaning)
}

// Size is a byte count such as 100MiB (parseSize).
func (c *command) Size(p *int64, name, env, def, meaning string) {
	v := &sizeValue{p: p, name: "--" + name}
	if err := v.Set(def); err != nil {
		panic(err) // a fixed default: a programming error
	}
	c.fs.Var(v, name, meaning)
	c.row(name, "size", env, def, meaning)
}

// EnvOnly documents a setting read only from the environment.
func (c *command) EnvOnly(env, def, meaning string) {
	c.rows = append(c.rows, flagRow{name: "", env: env, def: def, meaning: meaning})
}

// parse reads args, then the environment for every flag not given; -h and
// --help print the help on stdout and return flag.ErrHelp.
func (c *command) parse(args []string, stdout io.Writer) error {
	if err := c.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.help(stdout)
			return err
		}
		// The flag package names flags with one dash; ours are written
		// with two everywhere else.
		msg := strings.NewReplacer("flag -", "flag --", ": -", ": --").Replace(err.Error())
		return fmt.Errorf("%s (see ciwarden %s --help)", msg, c.fs.Name())
	}
	if c.fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", c.fs.Name(), c.fs.Arg(0))
	}
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, r := range c.rows {
		if r.name == "" || r.env == "" || given[r.name] {
			continue
		}
		// An empty variable is as good as unset.
		if v := os.Getenv(r.env); v != "" {
			if err := c.fs.Set(r.name, v); err != nil {
				return fmt.Errorf("%s %q: %v", r.env, v, err)
			}
		}
	}
	return nil
}

func (c *command) help(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\n", c.synopsis, c.about)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FLAG\tENVIRONMENT\tDEFAULT\tMEANING")
	for _, r := range c.rows {
		name, env := "-", r.env
		if r.name != "" {
			name = "--" + r.name + " " + r.typ
		}
		if env == "" {
			env = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", name, env, r.def, r.meaning)
	}
	tw.Flush()
}

// sizeValue is a flag holding a byte count.
type sizeValue struct {
	p    *int64
	name string
	text string
}

func (v *sizeValue) String() string { return v.text }

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(v.name, s)
	if err != nil {
		return errors.New("a size such as 100MiB or 5GiB")
	}
	*v.p, v.text = n, s
	return nil
}
