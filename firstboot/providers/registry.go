// Package providers finds where a machine's Ignition config comes from. Providers register
// themselves by name in init(); the name is the one the kernel command line gives in
// ignition.platform.id=.
package providers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/mantlet/mantlet/firstboot/resource"
	"github.com/mantlet/mantlet/internal/command"
)

// ErrNoConfig is returned by a provider that was asked and has no config for this machine.
// It is a valid answer: the boot goes on without a config.
var ErrNoConfig = errors.New("no config")

// ErrUnknownPlatform reports an ignition.platform.id= no provider implements.
var ErrUnknownPlatform = errors.New("unknown platform")

// Env is what a provider may look at. Paths are injectable for tests.
type Env struct {
	Cmdline    Cmdline        // the parsed kernel command line
	Sysfs      string         // where sysfs is mounted, normally /sys
	ConfigFile string         // for the file provider: overrides ignition.config.file=
	Runner     command.Runner // for modprobe, mount and umount
	// Fetcher makes the network providers' requests, retrying connection errors and 5xx
	// answers with backoff (bounded by its Total) while the network comes up; nil: a
	// default one.
	Fetcher   *resource.Fetcher
	Endpoints Endpoints // metadata services; zero fields take the platforms' addresses
	DevDir    string    // /dev; config drives are looked for in DevDir/disk/by-label
}

// Provider fetches the raw config.
type Provider interface {
	Name() string
	// Fetch returns the raw config, or an error wrapping ErrNoConfig when there is none.
	Fetch(ctx context.Context, env Env) ([]byte, error)
}

var (
	mu       sync.Mutex
	registry = map[string]Provider{}
)

// Register adds a provider; a second provider with the same name panics.
func Register(p Provider) {
	mu.Lock()
	defer mu.Unlock()
	name := p.Name()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("providers: %q registered twice", name))
	}
	registry[name] = p
}

// Get returns the provider of that name, or an error that lists the known ones.
func Get(name string) (Provider, error) {
	mu.Lock()
	p, ok := registry[name]
	mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownPlatform, name, strings.Join(Names(), ", "))
	}
	return p, nil
}

// Names lists the registered providers, sorted.
func Names() []string {
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
