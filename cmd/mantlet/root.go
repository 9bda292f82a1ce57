package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/version"
)

// rootOptions are the flags every subcommand shares.
type rootOptions struct {
	verbose bool
}

func newRootCmd() *cobra.Command {
	opts := &rootOptions{}
	cmd := &cobra.Command{
		Use:           "mantlet",
		Short:         "Bake hardened, immutable node images and bring each machine into its cluster",
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			level := slog.LevelInfo
			if opts.verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	cmd.Version = version.String()
	cmd.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	cmd.PersistentFlags().BoolVarP(&opts.verbose, "verbose", "v", false, "log every external command as it starts and finishes")
	cmd.AddCommand(newBuildCmd(), newCacheCmd(), newQemuCmd(), newCredsCmd(), newIgnitionCmd(), newAuditCmd())
	markUsage(cmd)
	addCompletion(cmd)
	cmd.DisableAutoGenTag = true // the man pages carry no generation date
	return cmd
}
