package wire_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/codrive/codrive/host/wire"
)

// benchProofs returns 64 KiB proofs: text-like data that compresses, and
// random bytes (hashes, encrypted blocks) that do not.
func benchProofs() map[string][]byte {
	src := rand.NewChaCha8([32]byte{9})
	rng := rand.New(src)
	words := strings.Fields("the of and to in is was that for on with as by at from it his an were are which this be or has had not but first one their its new after who they have her she two been other when there all during into school time may years more most only over city some world would where later up such used many can state about national out known university united then made")
	var text []byte
	for len(text) < 64<<10 {
		text = append(text, words[rng.IntN(len(words))]...)
		text = append(text, ' ')
	}
	random := make([]byte, 64<<10)
	src.Read(random)
	return map[string][]byte{"text": text[:64<<10], "random": random}
}

func BenchmarkAppendData(b *testing.B) {
	for name, proof := range benchProofs() {
		for _, compress := range []bool{false, true} {
			b.Run(name+"/"+zstdName(compress), func(b *testing.B) {
				m := &wire.Data{ID: 1, Proof: proof}
				b.SetBytes(int64(len(proof)))
				var buf []byte // reused, as a connection's send buffer is
				for b.Loop() {
					var err error
					if buf, err = wire.Append(buf[:0], 1, m, compress); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(buf)), "body-bytes")
			})
		}
	}
}

func BenchmarkDecodeData(b *testing.B) {
	for name, proof := range benchProofs() {
		for _, compress := range []bool{false, true} {
			b.Run(name+"/"+zstdName(compress), func(b *testing.B) {
				body, err := wire.Append(nil, 1, &wire.Data{ID: 1, Proof: proof}, compress)
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(proof)))
				for b.Loop() {
					if _, _, err := wire.Decode(body, true); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func zstdName(compress bool) string {
	if compress {
		return "zstd"
	}
	return "plain"
}
