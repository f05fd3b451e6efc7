package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// envPrefix starts the environment twin of every flag.
const envPrefix = "CANVASRELAY_"

// envName is the environment variable of a flag: --max-bytes is
// CANVASRELAY_MAX_BYTES.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args, then fills every flag not given on the command line
// from its environment variable. Flags win over the environment.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = usageError(fmt.Errorf("%s=%q: %v", envName(f.Name), v, e))
			}
		}
	})
	return err
}

// flagUsage prints a command's help with the environment twins.
func flagUsage(fs *flag.FlagSet, head string) func() {
	return func() {
		out := fs.Output()
		fmt.Fprint(out, head)
		fmt.Fprintln(out, "\nFlags (each also read from the environment variable shown):")
		fs.VisitAll(func(f *flag.Flag) {
			name, use := flag.UnquoteUsage(f)
			fmt.Fprintf(out, "  --%s %s\n    \t%s", f.Name, name, strings.ReplaceAll(use, "\n", "\n    \t"))
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
				fmt.Fprintf(out, " (default %s)", f.DefValue)
			}
			fmt.Fprintf(out, "\n    \t$%s\n", envName(f.Name))
		})
	}
}

// stringList is a repeatable flag that also splits on commas.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}
