package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/mantlet/mantlet/firstboot"
	"github.com/mantlet/mantlet/firstboot/providers"
	"github.com/mantlet/mantlet/internal/command"
	"github.com/mantlet/mantlet/internal/version"
	"github.com/spf13/cobra"
)

// errReported is returned by a command that has already printed why it failed.
var errReported = errors.New("failed")

func newRootCmd() *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:           "mantlet-firstboot",
		Short:         "Turn a generic mantlet image into one machine on its first boot",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(*cobra.Command, []string) {
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
		},
	}
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.Version = version.String()
	cmd.SetVersionTemplate("{{.Name}} {{.Version}}\n")
	cmd.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "log every external command as it starts and finishes")
	cmd.AddCommand(newRunCmd(), newApplyCmd(), newValidateCmd())
	return cmd
}

func newRunCmd() *cobra.Command {
	o := firstboot.Options{Root: "/", Cmdline: "/proc/cmdline", Sysfs: "/sys"}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "First boot: fetch and apply the Ignition config, make SSH host keys (what the unit runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Runner = command.Exec{}
			o.Stdout = cmd.OutOrStdout()
			o.Live = o.Root == "/" // a directory (tests, debugging) has no systemd to tell
			return firstboot.Run(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Platform, "platform", "", fmt.Sprintf("where the config comes from, overriding %s= (one of: %s)",
		providers.ParamPlatform, strings.Join(providers.Names(), ", ")))
	f.StringVar(&o.ConfigFile, "config-file", "", "config file for the file platform, overriding "+providers.ParamConfigFile+"=")
	f.StringVar(&o.Root, "root", o.Root, "root filesystem to change")
	f.StringVar(&o.Cmdline, "cmdline", o.Cmdline, "kernel command line file")
	f.StringVar(&o.Sysfs, "sysfs", o.Sysfs, "where sysfs is mounted")
	for _, hidden := range []string{"root", "cmdline", "sysfs"} {
		_ = f.MarkHidden(hidden) // for tests and debugging only
	}
	return cmd
}

func newApplyCmd() *cobra.Command {
	o := firstboot.ApplyOptions{Root: "/"}
	cmd := &cobra.Command{
		Use:   "apply [--root DIR] CONFIG.ign",
		Short: "Apply a config to a directory tree with the same code as a boot (no fetching, no stamps)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			o.Runner = command.Exec{}
			o.Stdout = cmd.OutOrStdout()
			return firstboot.Apply(cmd.Context(), o, raw)
		},
	}
	cmd.Flags().StringVar(&o.Root, "root", o.Root, "root of the tree to change")
	return cmd
}

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate CONFIG.ign",
		Short: "Parse and check a config; print every problem with its JSON path",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if err := firstboot.Validate(raw, cmd.OutOrStdout()); err != nil {
				fmt.Fprintln(cmd.OutOrStdout(), "config is invalid")
				return errReported
			}
			fmt.Fprintln(cmd.OutOrStdout(), "config is valid")
			return nil
		},
	}
}
