package build

import (
	"io/fs"
	"path/filepath"

	"github.com/mantlet/mantlet/internal/layercache"
)

// OpenLayerCache opens the package layer cache of cacheDir ("" for DefaultCacheDir), bounded
// to maxSize bytes (0 for layercache.DefaultMaxSize).
func OpenLayerCache(cacheDir string, maxSize int64) (*layercache.Cache, error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	return layercache.Open(layerDir(cacheDir), maxSize)
}

// CacheUsage is the bytes a cache directory holds besides its layers: downloaded .deb files
// and package lists.
func CacheUsage(cacheDir string) (debs, lists int64) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	return dirSize(filepath.Join(cacheDir, "debs")), dirSize(filepath.Join(cacheDir, "apt"))
}

func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if i, err := d.Info(); err == nil {
				n += i.Size()
			}
		}
		return nil
	})
	return n
}
