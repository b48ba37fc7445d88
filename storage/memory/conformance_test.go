package memory_test

import (
	"testing"

	"github.com/codrive/codrive/conformance/storagetest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, storagetest.Harness{
		Open: func(*testing.T, string) (sdk.Storage, error) { return memory.New(), nil },
	})
}
