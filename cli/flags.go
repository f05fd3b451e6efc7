package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix starts the environment twin of every flag.
const envPrefix = "CANVASRELAY_"

// envName is the environment variable of a flag: --max-bytes is
// CANVASRELAY_MAX_BYTES.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// The environment twins are bound here, in one place, for every flag of
// every command: showEnvTwins names each twin in --help when the tree is
// built, and applyEnv fills the flags from them once cobra has parsed the
// command line. Flags win over the environment.

// showEnvTwins adds each flag's environment variable to its help line.
func showEnvTwins(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Name != "help" && !strings.Contains(f.Usage, envPrefix) {
				f.Usage += " [$" + envName(f.Name) + "]"
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// applyEnv fills every flag of fs not given on the command line from its
// environment variable. A bad value is a usage error naming the variable.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || err != nil || f.Name == "help" {
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

// longFlagNames are the names of every flag in the tree.
func longFlagNames(root *cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return names
}

// doubleDash keeps the single-dash spelling of Go's flag package working:
// -addr :9000 and -max-bytes=2MiB become --addr and --max-bytes=2MiB when
// they name a flag of the tree. No flag has a one-letter shorthand but -h.
func doubleDash(args []string, names map[string]bool) []string {
	out := make([]string, 0, len(args))
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if names[name] {
				a = "-" + a
			}
		}
		out = append(out, a)
	}
	return out
}
