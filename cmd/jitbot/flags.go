package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// The command line's grammar, shared by every command: each answers -h
// with its flags on stdout (exit 0); flags may come before or after the
// command's words and its positional arguments (`--` ends the flags); and
// every error is printed once, as "jitbot: " and the message.

// command is what `jitbot <name> -h` says about a command, and the
// positional arguments it takes.
type command struct {
	// synopsis follows "jitbot <name>" in the help, as in the usage.
	synopsis string
	// about is a line or two on what it does.
	about string
	// args is how many positional arguments it takes; wantArgs says what
	// they are when it is given another number.
	args     int
	wantArgs string
}

// commands describes the commands and subcommands by name ("grants
// list"). A command not listed still answers -h with its flags.
var commands = map[string]command{
	"serve": {synopsis: "[-config jitbot.yaml] [-log-format json|text]",
		about: "Serves Slack and Teams, runs the schedules and the admin API until SIGTERM or SIGINT,\nthen finishes in-flight work (bounded) and closes the store."},
	"check": {synopsis: "[-config jitbot.yaml] [-online]",
		about: "Loads and validates the configuration; -online also proves each Atlas integration's\ncredentials and roles (it fails for an integration serve would run degraded)."},
	"status": {synopsis: "[-config jitbot.yaml] [-json]",
		about: "Asks the running server how its store, Atlas integrations, Slack and Teams are.\nExit 1 when it is not ready or an integration is degraded."},
	"grants list": {synopsis: "[-config jitbot.yaml] [-state live|all|active,...] [-json]",
		about: "Lists the requests in the given states (through the running server's admin API,\nelse from the store)."},
	"grants revoke": {synopsis: "[-config jitbot.yaml] [-as admin@example.com] [-reason text] <request-id>",
		about: "Ends a grant now, as an admin of the policy (through the running server's admin API,\nelse against the store and Atlas).", args: 1, wantArgs: "want one request id"},
	"audit export": {synopsis: "[-config jitbot.yaml] [-since 24h|2026-11-01T00:00:00Z]",
		about: "Writes the audit log as JSON lines."},
	"audit verify": {synopsis: "[-config jitbot.yaml] [-against sink-copy.jsonl]",
		about: "Walks the audit log's hash chain from its first record; with -against, also checks it\nagainst a sink's copy of the streamed events: the first record that differs, records\nmissing on either side, or OK."},
	"contacts forget": {synopsis: "[-config jitbot.yaml] [-as admin@example.com] <email>",
		about: "Forgets a person's Teams contact and the Microsoft Entra account their email is bound to:\nthe next account to write to jitbot with that email binds it.", args: 1, wantArgs: "want one email"},
	"backup": {synopsis: "[-config jitbot.yaml] -o jitbot-backup.db|-",
		about: "Takes a consistent snapshot of the store while jitbot runs (through the admin API;\nfrom the store itself when no server runs), checks it, and writes it to -o\n(- for stdout) through a temporary file renamed into place."},
	"restore": {synopsis: "[-config jitbot.yaml] -i jitbot-backup.db [-force]",
		about: "Puts a backup in place of the store, with jitbot stopped: it verifies the backup's\naudit chain and schema version first. A store already there is refused unless\n-force, and then kept as <store>.before-restore."},
	"store copy": {synopsis: "-from jitbot.yaml|store.db -to jitbot.yaml|store.db [-force]",
		about: "Copies all of jitbot's state from one store to another, with jitbot stopped on both:\na bbolt file to etcd (going to several replicas) and back. Each end is a jitbot.yaml\n(its store section) or a bbolt file. The source's audit chain is verified first, the\ncopy's after (the same head); a destination that holds state is refused unless -force."},
	"demo": {synopsis: "[-speed 0] [-keep] [-playground 127.0.0.1:0]",
		about: "Plays a whole journey (requests in Slack and Teams, approve, deny, extend, revoke) against\nsimulators of Slack, Teams and Atlas, printing what each party sees; -keep leaves it running\nwith a playground page in the browser and a config every CLI verb can use."},
	"init": {synopsis: "[-o jitbot.yaml] [-slack] [-teams] [-project-id id] [-cluster name] [-admin email] [-yes] [-force]",
		about: "Writes a commented starter jitbot.yaml (asking, on a terminal, for what the flags leave out),\nwith each secret in a file of its own beside it for you to fill in; jitbot check then says\nwhat is still missing."},
	"version": {synopsis: "",
		about: "Prints the release, the VCS revision and Go this binary was built from, and the store\nschema version it migrates to."},
}

// groups are the commands made of subcommands.
var groups = map[string][]string{
	"grants":   {"list", "revoke"},
	"audit":    {"export", "verify"},
	"contacts": {"forget"},
	"store":    {"copy"},
}

// errHelp says a command printed its help: exit 0, nothing more to say.
var errHelp = errors.New("help printed")

// helpWords ask for help where a command or subcommand is expected.
var helpWords = []string{"help", "-h", "-help", "--help"}

// flagSet is a command's flag set. Its output is where -h prints the help
// (parseFlags keeps the flag package's own messages out of it).
func (e *env) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stdout)
	return fs
}

// parseFlags parses args, flags anywhere among the positional arguments
// (up to a `--`), and leaves the positional ones in fs.Args(). -h (-help,
// --help) anywhere before a `--` prints the command's help to fs's output
// and returns errHelp, whatever else the line holds. A command listed in
// commands is held to its number of positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	if wantsHelp(args) {
		printHelp(out, fs)
		return errHelp
	}
	fs.SetOutput(io.Discard) // the flag package prints its errors; cli prints them once
	defer fs.SetOutput(out)
	var pos []string
	for {
		err := fs.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			printHelp(out, fs)
			return errHelp
		}
		if err != nil {
			return cmdUsageErr(fs.Name(), "%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			pos = append(pos, rest...) // after --, nothing is a flag
			break
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
	// Leave every positional argument in fs.Args().
	_ = fs.Parse(append([]string{"--"}, pos...))
	if c, ok := commands[fs.Name()]; ok && fs.NArg() != c.args {
		if c.args == 0 {
			return cmdUsageErr(fs.Name(), "%s takes no arguments (got %q)", fs.Name(), fs.Arg(0))
		}
		return cmdUsageErr(fs.Name(), "%s: %s", fs.Name(), c.wantArgs)
	}
	return nil
}

// printHelp writes the help of the command fs parses the flags of.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	c := commands[fs.Name()]
	fmt.Fprintf(w, "Usage: %s\n", strings.TrimSpace("jitbot "+fs.Name()+" "+c.synopsis))
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", c.about)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		fmt.Fprintln(w, "\nNo flags.")
		return
	}
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// wantsHelp says whether args ask for help before a `--`.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if slices.Contains(helpWords[1:], a) {
			return true
		}
	}
	return false
}

// pickWord finds the first of args (before a `--`) that is one of words:
// the command or subcommand, wherever flags put it. rest is args without
// it, in order.
func pickWord(args, words []string) (word string, rest []string, ok bool) {
	for i, a := range args {
		if a == "--" {
			break
		}
		if slices.Contains(words, a) {
			return a, append(slices.Clip(args[:i]), args[i+1:]...), true
		}
	}
	return "", args, false
}

// group runs the subcommand of the command name that args hold.
func (e *env) group(name string, args []string, run func(sub string, args []string) error) error {
	subs := groups[name]
	want := name + ": want " + strings.Join(subs, " or ")
	if len(subs) == 1 {
		want = name + ": want " + subs[0]
	}
	if len(args) > 0 && slices.Contains(helpWords, args[0]) {
		e.groupHelp(name)
		return errHelp
	}
	sub, rest, ok := pickWord(args, subs)
	if !ok {
		if wantsHelp(args) {
			e.groupHelp(name)
			return errHelp
		}
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			return cmdUsageErr(name, "%s", want)
		}
		return cmdUsageErr(name, "%s: unknown subcommand %q; want %s", name, args[0], strings.Join(subs, " or "))
	}
	return run(sub, rest)
}

// groupHelp lists the subcommands of name.
func (e *env) groupHelp(name string) {
	fmt.Fprintln(e.stdout, "Usage:")
	width := 0
	for _, s := range groups[name] {
		width = max(width, len(s))
	}
	for _, s := range groups[name] {
		fmt.Fprintf(e.stdout, "  jitbot %s %-*s %s\n", name, width, s, commands[name+" "+s].synopsis)
	}
	fmt.Fprintf(e.stdout, "\nRun 'jitbot %s <subcommand> -h' for what one does and its flags.\n", name)
}

// onePrefix is msg with the prefixes it repeats said once: cli prefixes
// every error with "jitbot: ", and an error wrapped by a layer that names
// the same part ("atlas: atlas: ...") is said once.
func onePrefix(msg string) string {
	for {
		for strings.HasPrefix(msg, "jitbot: ") {
			msg = strings.TrimPrefix(msg, "jitbot: ")
		}
		i := strings.Index(msg, ": ")
		if i <= 0 || strings.ContainsAny(msg[:i], " \n") || !strings.HasPrefix(msg[i+2:], msg[:i+2]) {
			return msg
		}
		msg = msg[i+2:]
	}
}
