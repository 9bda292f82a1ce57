package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mantlet/mantlet/internal/build"
	"github.com/mantlet/mantlet/internal/layercache"
)

type cacheOptions struct {
	cacheDir string
	maxSize  string
	all      bool
	json     bool
}

func newCacheCmd() *cobra.Command {
	o := &cacheOptions{}
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "See and trim the package layers kept between builds",
		Long: `The cache directory keeps what builds share: downloaded .deb files (debs/), the package lists
of each set of sources (apt/) and package layers (layers/): root trees as mmdebstrap installed
them, each under the key of everything that went into it. Layers are bounded by a size limit
(--cache-max-size of mantlet build, $MANTLET_CACHE_MAX_SIZE, 10GiB by default); the least
recently used go first.`,
		SilenceUsage: true,
	}
	cmd.PersistentFlags().StringVar(&o.cacheDir, "cache-dir", "", "the cache directory (default $MANTLET_CACHE, /var/cache/mantlet as root)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the package layers, most recently used first, and what else the cache holds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCacheList(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	list.Flags().BoolVar(&o.json, "json", false, "print the layers as JSON")
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove the least recently used package layers until the rest fit in the size limit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCachePrune(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	prune.Flags().StringVar(&o.maxSize, "max-size", "", "keep at most this much (default: the cache's size limit)")
	prune.Flags().BoolVar(&o.all, "all", false, "remove every package layer")
	cmd.AddCommand(list, prune)
	return cmd
}

func runCacheList(ctx context.Context, o *cacheOptions, w io.Writer) error {
	c, err := openCache(o)
	if err != nil {
		return err
	}
	layers, err := c.List(ctx)
	if err != nil {
		return err
	}
	if o.json {
		for i := range layers {
			layers[i].Chunks, layers[i].Meta = nil, nil
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(layers)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tSIZE\tLAST USED\tCREATED\tCONTENT")
	var total int64
	for _, l := range layers {
		total += l.Size
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", shortKey(l.Key), mib(l.Size), stamp(l.LastUsed), stamp(l.Created), l.Label)
	}
	tw.Flush()
	debs, lists := build.CacheUsage(o.cacheDir)
	fmt.Fprintf(w, "%d layer(s), %s of %s; .deb files %s, package lists %s (%s)\n",
		len(layers), mib(total), mib(c.MaxSize()), mib(debs), mib(lists), c.Dir())
	return nil
}

func runCachePrune(ctx context.Context, o *cacheOptions, w io.Writer) error {
	c, err := openCache(o)
	if err != nil {
		return err
	}
	limit := c.MaxSize()
	switch {
	case o.all && o.maxSize != "":
		return fmt.Errorf("--all and --max-size: give one of them")
	case o.all:
		limit = 0
	case o.maxSize != "":
		if limit, err = cacheMaxSize(o.maxSize); err != nil {
			return fmt.Errorf("--max-size %q: not a size (write it like 20GiB or 512MiB)", o.maxSize)
		}
	}
	gone, err := c.Prune(ctx, limit)
	if err != nil {
		return err
	}
	var freed int64
	for _, l := range gone {
		freed += l.Size
		fmt.Fprintf(w, "removed %s\t%s\tlast used %s\t%s\n", shortKey(l.Key), mib(l.Size), stamp(l.LastUsed), l.Label)
	}
	fmt.Fprintf(w, "%d layer(s) removed, %s freed\n", len(gone), mib(freed))
	return nil
}

func openCache(o *cacheOptions) (*layercache.Cache, error) {
	max, err := cacheMaxSize("")
	if err != nil {
		return nil, err
	}
	return build.OpenLayerCache(o.cacheDir, max)
}

func mib(n int64) string {
	if n >= 10<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%d MiB", (n+(1<<20)-1)>>20)
}

func stamp(t time.Time) string { return t.Local().Format("2006-01-02 15:04") }
