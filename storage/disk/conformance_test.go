package disk

import (
	"testing"

	"github.com/codrive/codrive/conformance/storagetest"
	"github.com/codrive/codrive/sdk"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, storagetest.Harness{
		Open: func(t *testing.T, dir string) (sdk.Storage, error) {
			return Open(dir, quiet)
		},
		Persistent: true,
	})
}

func TestConformanceSyncNone(t *testing.T) {
	storagetest.Run(t, storagetest.Harness{
		Open: func(t *testing.T, dir string) (sdk.Storage, error) {
			return Open(dir, Options{Sync: SyncNone, Logger: quiet.Logger})
		},
		Persistent: true,
	})
}
